"""Neural-network kernels: activations, softmax, bias, cross entropies, L2 loss, in-top-k.

Half-precision inputs are computed in float32 and cast back, as TF's CPU kernels accumulate.
"""

from __future__ import annotations

import numpy as np

from gmeta.kernels import bad_input as _bad, dims, is_cupy, kernel, same_dtype

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _wide(xp, x):
    """``x`` in at least float32 (float16/bfloat16 are computed in float32)."""
    return x.astype(np.float32) if x.dtype.itemsize < 4 and x.dtype.kind == "f" else x


# -- activations (a family table: op type -> body over (xp, x, ctx)) ----------------------------
_FILLED: dict = {}  # (dtype, value) -> a read-only flat array of that value, grown as needed
_FILLED_MAX = 1 << 22  # elements: larger inputs take the scalar path (no big buffer kept)


def _bound(xp, x, value):
    """``value`` as the second operand of a maximum/minimum over ``x``: on numpy, a read-only
    array of it shaped like ``x``, because numpy's maximum and minimum run their SIMD loop for
    two contiguous arrays but not for an array and a scalar (a float32 relu of 512x1024: 195 us
    with the scalar, 73 us with the array; the values are the same bit for bit); else the
    scalar."""
    n = x.size
    if xp is not np or x.dtype.kind != "f" or n > _FILLED_MAX or not x.flags.c_contiguous:
        return value
    key = (x.dtype, value)
    buf = _FILLED.get(key)
    if buf is None or buf.size < n:
        buf = np.full(max(n, 2 * buf.size if buf is not None else n), value, x.dtype)
        buf.flags.writeable = False
        _FILLED[key] = buf
    return buf[:n].reshape(x.shape)


def _relu(xp, x, ctx):
    return xp.maximum(x, _bound(xp, x, 0))


def _relu6(xp, x, ctx):
    y = xp.maximum(x, _bound(xp, x, 0))
    return xp.minimum(y, _bound(xp, y, 6), out=y)


def _elu(xp, x, ctx):
    w = _wide(xp, x)
    return xp.where(w < 0, xp.expm1(xp.minimum(w, 0)), w)


def _selu(xp, x, ctx):
    w = _wide(xp, x)
    return _SELU_SCALE * xp.where(w < 0, _SELU_ALPHA * xp.expm1(xp.minimum(w, 0)), w)


def _softplus(xp, x, ctx):
    w = _wide(xp, x)
    # TF's thresholds: softplus(x) == x (large x) / exp(x) (small x) within machine epsilon.
    threshold = float(np.log(np.finfo(x.dtype).eps)) + 2.0
    with np.errstate(over="ignore"):
        e = xp.exp(xp.minimum(w, -threshold))
    return xp.where(w > -threshold, w, xp.where(w < threshold, e, xp.log1p(e)))


def _softsign(xp, x, ctx):
    w = _wide(xp, x)
    return w / (1 + xp.abs(w))


def _leaky_relu(xp, x, ctx):
    alpha = float(ctx.attr("alpha", 0.2))
    w = _wide(xp, x)
    return xp.where(w > 0, w, w * w.dtype.type(alpha))


_ACTIVATIONS = {
    "Relu": _relu, "Relu6": _relu6, "Elu": _elu, "Selu": _selu, "Softplus": _softplus,
    "Softsign": _softsign, "LeakyRelu": _leaky_relu,
}


def _kept_bound(xp, value):
    """``bound(x)``: ``_bound(xp, x, value)``, kept for the last shape seen (one node's kernel
    sees one shape per feed signature, and the lookup costs as much as the relu of a small
    input)."""
    cell = [((), None)]

    def bound(x):
        shape, b = cell[0]
        if b is None or shape != x.shape:
            b = _bound(xp, x, value)
            cell[0] = (x.shape, b)
        return b

    return bound


def _relu_inplace(ctx, ks, regular):
    if 0 not in same_dtype(ctx, ks):
        return None
    xp = ctx.xp
    maximum, minimum = xp.maximum, xp.minimum
    zero = _kept_bound(xp, 0)
    if ctx.type == "Relu6":
        six = _kept_bound(xp, 6)
        return lambda x: minimum(maximum(x, zero(x), out=x), six(x), out=x)
    return lambda x: maximum(x, zero(x), out=x)


def _register_activation(op_type, body):
    # every activation returns a new array; Relu and Relu6 can write into a dying input
    @kernel(op_type, fresh=True,
            inplace=_relu_inplace if op_type in ("Relu", "Relu6") else None)
    def _factory(ctx):
        xp = ctx.xp
        dtype = ctx.output_np_dtype()

        def run(x):
            return xp.asarray(body(xp, x, ctx)).astype(dtype, copy=False)

        return run

    return _factory


for _op_type, _body in _ACTIVATIONS.items():
    _register_activation(_op_type, _body)


# -- softmax -------------------------------------------------------------------------------------
def _check_rank_at_least_1(ctx, x):
    if x.ndim < 1:
        raise _bad(ctx, f"logits must have >= 1 dimension, got shape {list(x.shape)}")


def _log_softmax(xp, x):
    """Stable log-softmax over the last axis (``x`` already widened)."""
    shifted = x - xp.max(x, axis=-1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))


def _softmax(xp, x):
    """Stable softmax over the last axis (``x`` already widened)."""
    e = xp.exp(x - xp.max(x, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def _over_last_axis(fn):
    """An activation body applying ``fn`` over the last axis of ``x`` (widened); an empty ``x``
    gives an empty result."""

    def body(xp, x, ctx):
        _check_rank_at_least_1(ctx, x)
        if x.size == 0:
            return xp.empty(x.shape, ctx.output_np_dtype())
        return fn(xp, _wide(xp, x))

    return body


_register_activation("Softmax", _over_last_axis(_softmax))
_register_activation("LogSoftmax", _over_last_axis(_log_softmax))


# -- bias ----------------------------------------------------------------------------------------
def _bias_add_factory(ctx, nchw, inplace=False):
    xp = ctx.xp

    def run(value, bias):
        if value.ndim < 2:
            raise _bad(ctx, f"Input tensor must be at least 2D: {dims(value.shape)}")
        if bias.ndim != 1:
            raise _bad(ctx, f"Biases must be 1D: {dims(bias.shape)}")
        channel_axis = 1 if nchw else value.ndim - 1
        if value.shape[channel_axis] != bias.shape[0]:
            raise _bad(ctx, f"Must provide as many biases as the last dimension of the input "
                            f"tensor: {dims(bias.shape)} vs. {dims(value.shape)}")
        if nchw:
            bias = bias.reshape((-1,) + (1,) * (value.ndim - 2))
        return xp.add(value, bias, out=value) if inplace else xp.add(value, bias)

    return run


def _bias_add_inplace(ctx, ks, regular):
    """BiasAdd into a dying ``value`` (the output always has its shape)."""
    if 0 not in same_dtype(ctx, ks):
        return None
    fmt = ctx.attr("data_format", b"NHWC") if ctx.type == "BiasAdd" else "NHWC"
    fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
    return _bias_add_factory(ctx, fmt.startswith("NC"), inplace=True)


@kernel("BiasAdd", inplace=_bias_add_inplace)
def _bias_add(ctx):
    fmt = ctx.attr("data_format", b"NHWC")
    fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
    return _bias_add_factory(ctx, fmt.startswith("NC"))


@kernel("BiasAddV1", inplace=_bias_add_inplace)
def _bias_add_v1(ctx):
    return _bias_add_factory(ctx, False)


# -- cross entropies -----------------------------------------------------------------------------
@kernel("SparseSoftmaxCrossEntropyWithLogits", fresh=True)
def _sparse_xent(ctx):
    xp = ctx.xp
    dtype = ctx.output_np_dtype(0)
    cache = {}
    # TF's GPU kernel does not check the labels (that would wait for the device): a row whose
    # label is out of range gets NaN loss and gradient. CuPy does the same; numpy raises like
    # TF's CPU kernel.
    check = not is_cupy(xp)

    def rows_of(batch):  # the row indices, made once per batch size
        rows = cache.get(batch)
        if rows is None:
            rows = cache[batch] = xp.arange(batch)
        return rows

    def run(logits, labels):
        if logits.ndim != 2:
            raise _bad(ctx, f"logits must be 2-D, but got shape {list(logits.shape)}")
        if labels.ndim != 1:
            raise _bad(ctx, f"labels must be 1-D, but got shape {list(labels.shape)}")
        if logits.shape[0] != labels.shape[0]:
            raise _bad(ctx, f"logits and labels must have the same first dimension, got logits "
                            f"shape {list(logits.shape)} and labels shape {list(labels.shape)}")
        batch, classes = logits.shape
        if batch and not classes:
            raise _bad(ctx, f"Must have at least one class, but got logits shape "
                            f"{list(logits.shape)}")
        # one comparison finds negatives too: as unsigned they are huge
        unsigned = labels.view(np.uint32 if labels.dtype.itemsize == 4 else np.uint64)
        if not check:
            bad = unsigned >= classes
            labels = xp.where(bad, 0, labels)
        elif batch and bool((unsigned >= classes).any()):
            bad = (labels < 0) | (labels >= classes)
            first = int(labels[bad][0])
            values = " ".join(str(int(v)) for v in labels.tolist())
            raise _bad(ctx, f"Received a label value of {first} which is outside the valid range "
                            f"of [0, {classes}).  Label values: {values}")
        if batch == 0:
            return xp.empty((0,), dtype), xp.empty(logits.shape, dtype)
        x = _wide(xp, logits)
        shifted = x - (np.maximum.reduce(x, axis=1, keepdims=True) if xp is np else
                       x.max(axis=1, keepdims=True))
        e = xp.exp(shifted)
        total = np.add.reduce(e, axis=1, keepdims=True) if xp is np else \
            e.sum(axis=1, keepdims=True)
        rows = rows_of(batch)
        loss = xp.log(total[:, 0]) - shifted[rows, labels]  # -log softmax at the label
        e /= total  # the softmax: the backprop is softmax - one_hot(label)
        e[rows, labels] -= 1
        if not check:
            loss = xp.where(bad, np.nan, loss)
            e = xp.where(bad[:, None], np.nan, e)
        return loss.astype(dtype, copy=False), e.astype(dtype, copy=False)

    return run


def _broadcast_2d(ctx, a, b):
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise _bad(ctx, f"logits and labels must be broadcastable: logits_size="
                        f"{list(a.shape)} labels_size={list(b.shape)}") from None
    if len(shape) != 2:
        raise _bad(ctx, f"logits and labels must be either 2-dimensional, or broadcasted to be "
                        f"2-dimensional, got shapes {list(a.shape)} and {list(b.shape)}")
    return shape


@kernel("SoftmaxCrossEntropyWithLogits", fresh=True)
def _softmax_xent(ctx):
    xp = ctx.xp
    dtype = ctx.output_np_dtype(0)

    def run(logits, labels):
        shape = _broadcast_2d(ctx, logits, labels)
        logits = xp.broadcast_to(_wide(xp, logits), shape)
        labels = xp.broadcast_to(_wide(xp, labels), shape)
        if shape[1] == 0:
            return xp.zeros((shape[0],), dtype), xp.empty(shape, dtype)
        log_probs = _log_softmax(xp, logits)
        loss = -xp.sum(labels * log_probs, axis=1)
        backprop = xp.exp(log_probs) - labels
        return loss.astype(dtype, copy=False), backprop.astype(dtype, copy=False)

    return run


@kernel("L2Loss")
def _l2_loss(ctx):
    xp = ctx.xp
    dtype = ctx.output_np_dtype()

    def run(t):
        w = _wide(xp, t)
        return xp.asarray(xp.sum(w * w) / 2).astype(dtype)

    return run


@kernel("InTopKV2", "InTopK")
def _in_top_k(ctx):
    xp = ctx.xp
    attr_k = ctx.attr("k", None)

    def run(predictions, targets, k=None):
        k = int(attr_k if k is None else k)
        if predictions.ndim != 2:
            raise _bad(ctx, f"predictions must be 2-dimensional, got shape "
                            f"{list(predictions.shape)}")
        if targets.ndim != 1 or targets.shape[0] != predictions.shape[0]:
            raise _bad(ctx, f"First dimension of predictions {predictions.shape[0]} must match "
                            f"length of targets {targets.shape[0] if targets.ndim else 0}")
        batch, classes = predictions.shape
        valid = (targets >= 0) & (targets < classes)
        idx = xp.where(valid, targets, 0).astype(np.int64)
        target_pred = predictions[xp.arange(batch), idx]
        finite = xp.isfinite(target_pred)
        higher = xp.sum(predictions > target_pred[:, None], axis=1)
        return valid & finite & (higher < k)

    return run
