"""Kernels of the ops TF's gradient graphs are made of.

Activation and cwise gradients (``ReluGrad`` ... ``ReciprocalGrad``, a family table),
``BroadcastGradientArgs``, ``BiasAddGrad``, segment reductions (``UnsortedSegment*``,
``Segment*``), ``DynamicStitch``/``ParallelDynamicStitch``, ``InvertPermutation``,
``ConcatOffset``, ``StridedSliceGrad``, ``MirrorPadGrad`` and ``TopKV2``.

Messages are TF's CPU kernels'; every error names the node. Half-precision sums are accumulated
in float32 (as TF's reducers do); duplicate segment ids accumulate through :func:`scatter_at`
(``ufunc.at``: ``a[idx] += v`` would keep only one of the duplicates).
"""

from __future__ import annotations

import numpy as np

from gmeta.kernels import bad_input as _bad, cuda_fused, dims as _dims, kernel, same_dtype
from gmeta.kernels.array import _ints

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _attr_str(ctx, name, default):
    value = ctx.attr(name, default)
    return value.decode() if isinstance(value, bytes) else str(value)


def _wide(x):
    """``x`` in at least float32 (half precision is accumulated in float32)."""
    return x.astype(np.float32) if x.dtype.kind == "f" and x.dtype.itemsize < 4 else x


def scatter_at(xp, ufunc_name: str, target, index, values) -> None:
    """``target[index] <ufunc>= values`` in place, every duplicate index applied (``ufunc.at``).

    ``ufunc_name`` is an ``xp`` ufunc name: "add", "subtract", "multiply", "maximum", ...
    """
    getattr(xp, ufunc_name).at(target, index, values)


# -- activation and cwise gradients --------------------------------------------------------------
def _relu_grad(xp, g, f, ctx):
    return g * (f > 0)  # TF multiplies by the mask: a NaN gradient stays NaN where f <= 0


def _relu6_grad(xp, g, f, ctx):
    return g * ((f > 0) & (f < 6))


def _elu_grad(xp, g, y, ctx):
    return xp.where(y < 0, g * (y + 1), g)


def _selu_grad(xp, g, y, ctx):
    w, wy = _wide(g), _wide(y)
    return xp.where(wy < 0, w * (wy + _SELU_SCALE * _SELU_ALPHA), w * _SELU_SCALE)


def _softplus_grad(xp, g, f, ctx):
    w, wf = _wide(g), _wide(f)
    with np.errstate(over="ignore"):
        return w / (1 + xp.exp(-wf))


def _softsign_grad(xp, g, f, ctx):
    w, wf = _wide(g), _wide(f)
    d = 1 + xp.abs(wf)
    return w / (d * d)


def _leaky_relu_grad(xp, g, f, ctx):
    alpha = g.dtype.type(float(ctx.attr("alpha", 0.2)))
    return xp.where(f > 0, g, g * alpha)


def _conj(xp, y):
    return xp.conj(y) if y.dtype.kind == "c" else y


def _tanh_grad(xp, y, dy, ctx):
    y = _conj(xp, y)
    return dy * (1 - y * y)


def _sigmoid_grad(xp, y, dy, ctx):
    y = _conj(xp, y)
    return dy * (y * (1 - y))


def _sqrt_grad(xp, y, dy, ctx):
    return 0.5 * dy / _conj(xp, y)


def _rsqrt_grad(xp, y, dy, ctx):
    y = _conj(xp, y)
    return -0.5 * (dy * y) * (y * y)


def _reciprocal_grad(xp, y, dy, ctx):
    y = _conj(xp, y)
    return -dy * y * y


# op type -> (body over (xp, in0, in1, ctx), whether TF checks equal shapes (the activation
# grads) or only equal element counts (the cwise "SimpleBinary" grads, shaped like input 0)).
_ELEMENTWISE_GRADS = {
    "ReluGrad": (_relu_grad, True), "Relu6Grad": (_relu6_grad, True),
    "EluGrad": (_elu_grad, True), "SeluGrad": (_selu_grad, True),
    "SoftplusGrad": (_softplus_grad, True), "SoftsignGrad": (_softsign_grad, True),
    "LeakyReluGrad": (_leaky_relu_grad, True),
    "TanhGrad": (_tanh_grad, False), "SigmoidGrad": (_sigmoid_grad, False),
    "SqrtGrad": (_sqrt_grad, False), "RsqrtGrad": (_rsqrt_grad, False),
    "ReciprocalGrad": (_reciprocal_grad, False), "InvGrad": (_reciprocal_grad, False),
}


# The grads that are ``gradient * factor(other input)``: op type -> (the gradient's input index,
# factor). Their in-place variants multiply into a dying gradient (real dtypes).
_SCALED_GRADS = {
    "ReluGrad": (0, lambda f: f > 0),
    "TanhGrad": (1, lambda y: 1 - y * y),
    "SigmoidGrad": (1, lambda y: y * (1 - y)),
}


# The grads with a fused CUDA kernel (gmeta/kernels/cuda_fused.py): op type -> its name.
_CUDA_GRADS = {"ReluGrad": "relu_grad", "Relu6Grad": "relu6_grad", "TanhGrad": "tanh_grad",
               "SigmoidGrad": "sigmoid_grad"}


def _cuda_grad(ctx):
    """The fused kernel of this grad node where ``ctx.xp`` is CuPy (float32/64), else None."""
    return cuda_fused.pick(ctx.xp, _CUDA_GRADS.get(ctx.type), ctx.output_np_dtype())


def _grad_inplace(ctx, ks, regular):
    """The in-place variant of a grad: on CuPy, its fused kernel with a dying input (of the
    output's dtype and, checked per run, of the other input's shape) as the output; elsewhere
    :func:`_scaled_grad_inplace` (None for the grads that are not ``gradient * factor``)."""
    fused = _cuda_grad(ctx)
    if fused is None:
        return _scaled_grad_inplace(ctx, ks, regular) if ctx.type in _SCALED_GRADS else None
    ks = same_dtype(ctx, ks)
    if not ks:
        return None
    k = ks[0]

    def run(a, b):
        if a.shape != b.shape:
            return regular(a, b)
        return fused(a, b, b if k else a)

    return run


def _scaled_grad_inplace(ctx, ks, regular):
    gi, factor = _SCALED_GRADS[ctx.type]
    if gi not in same_dtype(ctx, ks) or ctx.output_dtypes[0].is_complex:
        return None
    multiply = ctx.xp.multiply

    def run(a, b):
        if a.shape != b.shape:
            return regular(a, b)
        return multiply(a, factor(b), out=a) if gi == 0 else multiply(b, factor(a), out=b)

    return run


def _register_elementwise_grad(op_type, body, same_shape):
    @kernel(op_type, fresh=True,
            inplace=_grad_inplace if op_type in _SCALED_GRADS or op_type in _CUDA_GRADS
            else None)
    def _factory(ctx):
        xp = ctx.xp
        dtype = ctx.output_np_dtype()
        compute = _cuda_grad(ctx)  # CuPy: one fused launch
        if compute is None:
            def compute(a, b):
                return xp.asarray(body(xp, a, b, ctx)).astype(dtype, copy=False)

        def run(a, b):
            if same_shape:
                if a.shape != b.shape:
                    raise _bad(ctx, f"Inputs to operation {ctx.name} of type {op_type} must have "
                                    f"the same size and shape.  Input 0: {_dims(a.shape)} != "
                                    f"input 1: {_dims(b.shape)}")
            elif a.shape != b.shape:
                if a.size != b.size:
                    raise _bad(ctx, f"The two arguments to a cwise op must have same number of "
                                    f"elements, got {a.size} and {b.size}")
                b = b.reshape(a.shape)
            return compute(a, b)

        return run

    return _factory


for _op_type, (_body, _same) in _ELEMENTWISE_GRADS.items():
    _register_elementwise_grad(_op_type, _body, _same)


# -- BroadcastGradientArgs -----------------------------------------------------------------------
def broadcast_gradient_args(s0: list, s1: list):
    """TF's reduction indices for the gradients of a broadcasting binary op, or None if the
    shapes do not broadcast. Equal shapes reduce nothing; otherwise (shapes right-aligned, the
    shorter padded with 1s) each input reduces every dim where it is 1."""
    if s0 == s1:
        return [], []
    n = max(len(s0), len(s1))
    p0 = [1] * (n - len(s0)) + list(s0)
    p1 = [1] * (n - len(s1)) + list(s1)
    r0, r1 = [], []
    for i, (x, y) in enumerate(zip(p0, p1)):
        if x != y and x != 1 and y != 1:
            return None
        if x == 1:
            r0.append(i)
        if y == 1:
            r1.append(i)
    return r0, r1


@kernel("BroadcastGradientArgs", host_memory=("s0", "s1"))
def _broadcast_gradient_args(ctx):
    xp = ctx.xp
    dtype = ctx.output_np_dtype(0)

    def run(s0, s1):
        for i, s in enumerate((s0, s1)):
            if s.ndim != 1:
                raise _bad(ctx, f"In[{i}] must be a vector.{_dims(s.shape)}")
        a, b = _ints(s0), _ints(s1)
        reduced = broadcast_gradient_args(a, b)
        if reduced is None:
            raise _bad(ctx, f"Incompatible shapes: {_dims(a)} vs. {_dims(b)}")
        return xp.asarray(reduced[0], dtype), xp.asarray(reduced[1], dtype)

    return run


# -- BiasAddGrad ---------------------------------------------------------------------------------
@kernel("BiasAddGrad")
def _bias_add_grad(ctx):
    xp = ctx.xp
    dtype = ctx.output_np_dtype()
    nchw = _attr_str(ctx, "data_format", "NHWC").startswith("NC")

    def run(dy):
        if dy.ndim < 2:
            raise _bad(ctx, f"Input tensor must be at least 2D: {_dims(dy.shape)}")
        channel = 1 if nchw else dy.ndim - 1
        axes = tuple(i for i in range(dy.ndim) if i != channel)
        return xp.sum(_wide(dy), axis=axes).astype(dtype, copy=False)

    return run


# -- segment reductions --------------------------------------------------------------------------
def _identity_value(kind, dtype):
    """The initial value of an unsorted segment reduction (TF's: lowest/highest for max/min)."""
    if kind == "add":
        return 0
    if kind == "multiply":
        return 1
    info = np.finfo(dtype) if np.dtype(dtype).kind == "f" else np.iinfo(dtype)
    return info.min if kind == "maximum" else info.max


_UNSORTED = {"UnsortedSegmentSum": "add", "UnsortedSegmentMax": "maximum",
             "UnsortedSegmentMin": "minimum", "UnsortedSegmentProd": "multiply"}


def _register_unsorted_segment(op_type, ufunc):
    @kernel(op_type, host_memory=("num_segments",))
    def _factory(ctx):
        xp = ctx.xp
        dtype = ctx.output_np_dtype()
        init = _identity_value(ufunc, dtype)

        def run(data, segment_ids, num_segments):
            if num_segments.ndim != 0:
                raise _bad(ctx, f"num_segments should be a scalar, not shape "
                                f"{_dims(num_segments.shape)}")
            n = int(num_segments)
            if n < 0:
                raise _bad(ctx, f"Input num_segments == {n} must not be negative.")
            k = segment_ids.ndim
            if data.shape[:k] != segment_ids.shape:
                raise _bad(ctx, f"data.shape = {_dims(data.shape)} does not start with "
                                f"segment_ids.shape = {_dims(segment_ids.shape)}")
            ids = segment_ids.reshape(-1)
            too_big = ids >= n
            if bool(xp.any(too_big)):
                pos = int(xp.argmax(too_big))
                raise _bad(ctx, f"segment_ids[{pos}] = {int(ids[pos])} is out of range "
                                f"[0, {n})")
            rows = data.reshape((ids.shape[0],) + data.shape[k:])
            keep = ids >= 0
            if not bool(xp.all(keep)):
                ids, rows = ids[keep], rows[keep]
            acc_dtype = np.float32 if ufunc == "add" and dtype == np.float16 else dtype
            out = xp.full((n,) + data.shape[k:], init, acc_dtype)
            scatter_at(xp, ufunc, out, ids, rows.astype(acc_dtype, copy=False))
            return out.astype(dtype, copy=False)

        return run

    return _factory


for _op_type, _ufunc in _UNSORTED.items():
    _register_unsorted_segment(_op_type, _ufunc)


_SORTED = {"SegmentSum": "add", "SegmentMean": "mean", "SegmentMax": "maximum",
           "SegmentMin": "minimum", "SegmentProd": "multiply"}


def _register_sorted_segment(op_type, reduction):
    @kernel(op_type)
    def _factory(ctx):
        xp = ctx.xp
        dtype = ctx.output_np_dtype()
        ufunc = "add" if reduction == "mean" else reduction
        init = _identity_value(ufunc, dtype)
        empty_value = 1 if reduction == "multiply" else 0

        def run(data, segment_ids):
            if segment_ids.ndim != 1:
                raise _bad(ctx, "segment_ids should be a vector.")
            if data.ndim < 1 or data.shape[0] != segment_ids.shape[0]:
                raise _bad(ctx, "segment_ids should be the same size as dimension 0 of input.")
            ids = segment_ids
            m = int(ids.shape[0])
            if m and bool(xp.any(ids[1:] < ids[:-1])):
                raise _bad(ctx, "segment ids are not increasing")
            if m and int(ids[0]) < 0:
                raise _bad(ctx, "segment ids must be >= 0")
            n = int(ids[-1]) + 1 if m else 0
            wide = dtype == np.float16 and ufunc == "add"
            acc_dtype = np.float32 if wide else dtype
            out = xp.full((n,) + data.shape[1:], init, acc_dtype)
            scatter_at(xp, ufunc, out, ids, data.astype(acc_dtype, copy=False))
            counts = xp.bincount(ids.astype(np.int64), minlength=n).reshape(
                (n,) + (1,) * (data.ndim - 1))
            if reduction == "mean":
                safe = xp.maximum(counts, 1).astype(acc_dtype)
                if np.dtype(acc_dtype).kind in "iu":
                    out = (xp.abs(out) // safe) * xp.sign(out)  # C++ truncating division
                else:
                    out = out / safe
            out = xp.where(counts == 0, xp.asarray(empty_value, acc_dtype), out)
            return out.astype(dtype, copy=False)

        return run

    return _factory


for _op_type, _reduction in _SORTED.items():
    _register_sorted_segment(_op_type, _reduction)


# -- DynamicStitch -------------------------------------------------------------------------------
@kernel("DynamicStitch", "ParallelDynamicStitch")
def _dynamic_stitch(ctx):
    xp = ctx.xp
    dtype = ctx.output_np_dtype()

    def run(*args):
        n = len(args) // 2
        indices, data = args[:n], args[n:]
        inner = None
        for i, (idx, d) in enumerate(zip(indices, data)):
            if d.shape[:idx.ndim] != idx.shape:
                raise _bad(ctx, f"data[{i}].shape = {_dims(d.shape)} does not start with "
                                f"indices[{i}].shape = {_dims(idx.shape)}")
            rest = d.shape[idx.ndim:]
            if inner is None:
                inner = rest
            elif rest != inner:
                raise _bad(ctx, f"Need data[0].shape[{indices[0].ndim}:] = {_dims(inner)} to "
                                f"match data[{i}].shape[{idx.ndim}:] = {_dims(rest)}")
        rows = max((int(idx.max()) + 1 for idx in indices if idx.size), default=0)
        out = xp.zeros((rows,) + tuple(inner or ()), dtype)
        for idx, d in zip(indices, data):
            flat = idx.reshape(-1)
            bad = (flat < 0) | (flat >= rows)
            if bool(xp.any(bad)):
                raise _bad(ctx, f"indices[{int(xp.argmax(bad))}] is out of range")
            if flat.size:
                out[flat] = d.reshape((flat.shape[0],) + out.shape[1:])
        return out

    return run


# -- InvertPermutation, ConcatOffset -------------------------------------------------------------
@kernel("InvertPermutation")
def _invert_permutation(ctx):
    xp = ctx.xp

    def run(x):
        if x.ndim != 1:
            raise _bad(ctx, "invert_permutation expects a 1D vector.")
        values = _ints(x)
        n = len(values)
        out = [-1] * n
        for i, d in enumerate(values):
            if not 0 <= d < n:
                raise _bad(ctx, f"{d} is not between 0 and {n}")
            if out[d] != -1:
                raise _bad(ctx, f"{d} is duplicated in the input.")
            out[d] = i
        return xp.asarray(out, x.dtype)

    return run


@kernel("ConcatOffset")
def _concat_offset(ctx):
    xp = ctx.xp

    def run(concat_dim, *shapes):
        if concat_dim.ndim != 0:
            raise _bad(ctx, f"Concat dim tensor should be a scalar integer, but got shape "
                            f"{_dims(concat_dim.shape)}")
        first = _ints(shapes[0])
        rank = len(first)
        cdim = int(concat_dim)
        axis = cdim + rank if cdim < 0 else cdim
        if not 0 <= axis < rank:
            raise _bad(ctx, f"Concat dim is out of range: {cdim} vs. {rank}")
        outs, offset = [], 0
        for i, s in enumerate(shapes):
            if s.ndim != 1:
                raise _bad(ctx, f"input {i} should be a vector, but got shape {_dims(s.shape)}")
            dims = _ints(s)
            if len(dims) != rank:
                raise _bad(ctx, f"input {i} should contain {rank} elements, but got "
                                f"{len(dims)}")
            for j in range(rank):
                if j != axis and dims[j] != first[j]:
                    raise _bad(ctx, f"All dimensions except {axis} must match. Input {i} has "
                                    f"shape [{' '.join(map(str, dims))}] and doesn't match input "
                                    f"0 with shape [{' '.join(map(str, first))}].")
            vec = [0] * rank
            vec[axis] = offset
            offset += dims[axis]
            outs.append(xp.asarray(vec, s.dtype))
        return outs

    return run


# -- StridedSliceGrad, MirrorPadGrad -------------------------------------------------------------
@kernel("StridedSliceGrad", host_memory=("shape", "begin", "end", "strides"))
def _strided_slice_grad(ctx):
    from gmeta.ops.array_ops import strided_slice_plan

    xp = ctx.xp
    masks = tuple(ctx.attr(k, 0) for k in ("begin_mask", "end_mask", "ellipsis_mask",
                                            "new_axis_mask", "shrink_axis_mask"))
    cache: dict = {}

    def run(shape, begin, end, strides, dy):
        key = tuple(tuple(_ints(a)) for a in (shape, begin, end, strides))
        plan = cache.get(key)
        if plan is None:
            if begin.ndim != 1 or end.ndim != 1 or strides.ndim != 1:
                raise _bad(ctx, f"Expected begin, end, and strides to be 1D equal size tensors, "
                                f"but got shapes {_dims(begin.shape)}, {_dims(end.shape)}, and "
                                f"{_dims(strides.shape)} instead.")
            try:
                plan = strided_slice_plan(list(key[0]), list(key[1]), list(key[2]),
                                          list(key[3]), masks)
            except ValueError as e:
                raise _bad(ctx, str(e)) from None
            if len(cache) < 64:
                cache[key] = plan
        want = tuple(int(d) for d in plan.final_shape)
        if tuple(dy.shape) != want:
            raise _bad(ctx, f"shape of dy was {_dims(dy.shape)} instead of {_dims(want)}")
        if plan.identity:
            return dy.reshape(key[0])
        out = xp.zeros(key[0], dy.dtype)
        out[plan.index] = dy.reshape(xp.shape(out[plan.index]))
        return out

    return run


@kernel("MirrorPadGrad")
def _mirror_pad_grad(ctx):
    xp = ctx.xp
    offset = 1 if _attr_str(ctx, "mode", "REFLECT").upper() == "REFLECT" else 0

    def run(x, paddings):
        if paddings.ndim != 2 or paddings.shape[0] != x.ndim or paddings.shape[1] != 2:
            raise _bad(ctx, f"The first dimension of paddings must be the rank of inputs"
                            f"{_dims(paddings.shape)} {_dims(x.shape)}")
        p = _ints(paddings)
        g = x
        for d in range(x.ndim):
            a, b = p[2 * d], p[2 * d + 1]
            size = x.shape[d]
            if a < 0 or b < 0:
                raise _bad(ctx, f"Paddings must be non-negative: {a} {b}")
            if a + b >= size:
                raise _bad(ctx, f"Total paddings must be less than the input dimension size: "
                                f"{a + b} was not less than {size}")
            n = size - a - b
            if a > n - offset or b > n - offset:
                raise _bad(ctx, f"paddings must be no greater than the output dimension size: "
                                f"{a}, {b} greater than {n - offset}")
            if not a and not b:
                continue
            g = xp.moveaxis(g, d, 0)
            core = g[a:a + n].copy()
            if a:
                core[offset:offset + a] += g[:a][::-1]
            if b:
                core[n - b - offset:n - offset] += g[a + n:][::-1]
            g = xp.moveaxis(core, 0, d)
        return xp.ascontiguousarray(g)

    return run


# -- TopKV2 --------------------------------------------------------------------------------------
@kernel("TopKV2")
def _top_k_v2(ctx):
    xp = ctx.xp
    index_dtype = ctx.output_np_dtype(1)

    def run(x, k):
        if k.ndim != 0:
            raise _bad(ctx, f"k must be 0-D, got shape {_dims(k.shape)}")
        k = int(k)
        if k < 0:
            raise _bad(ctx, f"Need k >= 0, got {k}")
        if x.ndim < 1:
            raise _bad(ctx, f"input must be >= 1-D, got shape {_dims(x.shape)}")
        n = x.shape[-1]
        if n < k:
            raise _bad(ctx, f"input must have at least k columns. Had {n}, needed {k}")
        # Descending, ties by ascending index: a stable ascending sort of the reversed rows,
        # read backwards.
        order = xp.argsort(x[..., ::-1], axis=-1, kind="stable")[..., ::-1][..., :k]
        idx = (n - 1) - order
        values = xp.take_along_axis(x, idx, axis=-1)
        return values, idx.astype(index_dtype)

    return run
