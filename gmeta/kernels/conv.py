"""Convolution, pooling and fused batch-norm kernels (forward and gradient), TF CPU semantics.

Layout: every kernel works in NHWC internally; NCHW inputs are transposed in and the result
transposed back. Windows are gathered with basic slicing of the padded input (one strided view
per kernel position, ``_common_pool.window_slices``), so the code is the same for numpy and CuPy:

- convolutions gather an im2col matrix ``(N*OH*OW, KH*KW*C)`` per batch chunk (bounded by
  ``_CHUNK_ELEMS``) and contract it with the filter in one ``xp.matmul`` (grouped and depthwise
  convolutions: one batched matmul over the groups/channels);
- the input gradients scatter-add per kernel position into the padded input (each position's
  strided view holds distinct elements, so ``+=`` on the view is exact) and crop the padding;
- pools reduce over the kernel positions (max, or sum divided by the number of valid,
  non-padded elements as TF's SAME average pool does).

Half-precision inputs are computed in float32 and cast back, as TF's CPU kernels accumulate.
Batch norms compute in the ``U`` dtype (float32) of their statistics.
"""

from __future__ import annotations

import numpy as np

from gmeta import errors
from gmeta.kernels import bad_input as _bad, kernel
from gmeta.kernels._common_pool import (
    decode_str, min_value, pad_nhwc, spatial_pads, window, window_slices,
)

# Largest im2col buffer (elements) built at once; larger batches are processed in chunks.
_CHUNK_ELEMS = 1 << 24


def _unimplemented(ctx, message):
    return errors.UnimplementedError(None, ctx.op, f"{message} (node '{ctx.name}')")


def _dims(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def _compute_dtype(dtype):
    dtype = np.dtype(dtype)
    return np.dtype(np.float32) if dtype.kind == "f" and dtype.itemsize < 4 else dtype


def _check_rank(ctx, x, rank, what):
    if x.ndim != rank:
        raise _bad(ctx, f"{what} must be {rank}-dimensional: {_dims(x.shape)}")


def _to_nhwc(xp, x, nchw):
    return xp.transpose(x, (0, 2, 3, 1)) if nchw else x


def _from_nhwc(xp, y, nchw):
    return xp.ascontiguousarray(xp.transpose(y, (0, 3, 1, 2))) if nchw else y


def _ints(v) -> list:
    """A small integer tensor (a shape vector) as Python ints; ``tolist`` works on both xps."""
    return [int(i) for i in v.tolist()]


# -- attrs -----------------------------------------------------------------------------------------
class _Geom:
    """A windowed op's decoded attrs: NHWC-ordered strides, dilations, padding."""

    __slots__ = ("nchw", "strides", "dilations", "padding", "pads")

    def window(self, ctx, h, w, kh, kw):
        """The (rows, cols) ``Window``s for an ``h x w`` input and a ``kh x kw`` kernel."""
        try:
            return (window(h, kh, self.strides[0], self.dilations[0], self.padding, self.pads[0]),
                    window(w, kw, self.strides[1], self.dilations[1], self.padding, self.pads[1]))
        except ValueError as e:
            raise _bad(ctx, str(e)) from None


def _data_format(ctx, allowed=("NHWC", "NCHW")) -> bool:
    fmt = decode_str(ctx.attr("data_format"), "NHWC")
    if fmt not in allowed:
        raise _unimplemented(ctx, f"data_format {fmt} is not supported by gmeta's "
                                  f"{ctx.type} kernel (supported: {', '.join(allowed)})")
    return fmt == "NCHW"


def _nhwc4(v, nchw):
    """A 4-vector given in data_format order, in NHWC order."""
    v = [int(i) for i in v]
    return [v[0], v[2], v[3], v[1]] if nchw else v


def _padding(ctx, g: _Geom):
    g.padding = decode_str(ctx.attr("padding"), "VALID")
    if g.padding not in ("SAME", "VALID", "EXPLICIT"):
        raise _bad(ctx, f"padding must be SAME, VALID or EXPLICIT, got {g.padding!r}")
    explicit = [int(v) for v in (ctx.attr("explicit_paddings") or [])]
    g.pads = ((0, 0), (0, 0))
    if g.padding == "EXPLICIT":
        if len(explicit) != 8:
            raise _bad(ctx, f"explicit_paddings attribute must contain 8 values, but got: "
                            f"{len(explicit)}")
        if any(v < 0 for v in explicit):
            raise _bad(ctx, f"All elements of explicit_paddings must be nonnegative, got "
                            f"{explicit}")
        nhwc = [explicit[2 * i:2 * i + 2] for i in range(4)]
        if g.nchw:
            nhwc = [nhwc[0], nhwc[2], nhwc[3], nhwc[1]]
        if nhwc[0] != [0, 0] or nhwc[3] != [0, 0]:
            raise _unimplemented(ctx, "Padding is only supported in the spatial dimensions")
        g.pads = spatial_pads(explicit, g.nchw)
    elif explicit:
        raise _bad(ctx, "explicit_paddings attribute must be empty if the padding attribute is "
                        "not EXPLICIT")


def _conv_geom(ctx, allow_dilations=True) -> _Geom:
    """Decodes and validates a convolution's strides/dilations/padding/data_format."""
    g = _Geom()
    g.nchw = _data_format(ctx)
    strides = [int(s) for s in (ctx.attr("strides") or [])]
    if len(strides) != 4:
        raise _bad(ctx, f"Sliding window strides field must specify 4 dimensions, got "
                        f"{len(strides)}")
    dilations = [int(d) for d in (ctx.attr("dilations") or [1, 1, 1, 1])]
    if len(dilations) != 4:
        raise _bad(ctx, f"Sliding window dilations field must specify 4 dimensions, got "
                        f"{len(dilations)}")
    strides, dilations = _nhwc4(strides, g.nchw), _nhwc4(dilations, g.nchw)
    if strides[0] != 1 or strides[3] != 1:
        raise _unimplemented(ctx, "Current implementation does not yet support strides in the "
                                  "batch and depth dimensions.")
    if dilations[0] != 1 or dilations[3] != 1:
        raise _unimplemented(ctx, "Current implementation does not yet support dilations in "
                                  "the batch and depth dimensions.")
    if min(strides) < 1 or min(dilations) < 1:
        raise _bad(ctx, f"Strides and dilations must be positive, got strides {strides} and "
                        f"dilations {dilations}")
    if not allow_dilations and dilations != [1, 1, 1, 1]:
        raise _unimplemented(ctx, f"{ctx.type} does not support dilations")
    g.strides, g.dilations = strides[1:3], dilations[1:3]
    _padding(ctx, g)
    return g


# -- im2col ----------------------------------------------------------------------------------------
def _chunks(n, per_item):
    step = max(1, _CHUNK_ELEMS // max(1, per_item))
    return [(n0, min(n, n0 + step)) for n0 in range(0, n, step)]


def _im2col(xp, xpad, slices, n0, n1):
    """``(n1-n0, OH, OW, K, C)``: every window position's view, stacked."""
    return xp.stack([xpad[n0:n1, r, c, :] for r, c in slices], axis=3)


def _col2im(xp, dxpad, cols, slices, n0, n1):
    """Scatter-adds ``cols`` ``(n, OH, OW, K, C)`` into ``dxpad[n0:n1]`` (inverse of im2col)."""
    for k, (r, c) in enumerate(slices):
        dxpad[n0:n1, r, c, :] += cols[:, :, :, k, :]


def _geometry(ctx, g, x_hw, k_hw):
    wh, ww = g.window(ctx, x_hw[0], x_hw[1], k_hw[0], k_hw[1])
    slices = window_slices(k_hw[0], k_hw[1], g.dilations[0], g.dilations[1], g.strides[0],
                           g.strides[1], wh.out, ww.out)
    return wh, ww, slices


def _crop(dxpad, wh, ww, h, w):
    return dxpad[:, wh.before:wh.before + h, ww.before:ww.before + w, :]


def _padded_zeros(xp, n, h, w, c, wh, ww, dtype):
    """The zeroed padded input an input gradient scatter-adds into."""
    return xp.zeros((n, h + wh.before + wh.after, w + ww.before + ww.after, c), dtype)


def _input_grad(xp, dxpad, wh, ww, h, w, dtype, nchw):
    """An input gradient's result: ``dxpad`` cropped, cast to ``dtype``, in the data format."""
    dx = _crop(dxpad, wh, ww, h, w).astype(dtype)
    return _from_nhwc(xp, xp.ascontiguousarray(dx), nchw)


def _kernel_dtypes(ctx):
    """The output dtype and the dtype the kernel computes in (float32 for half precision)."""
    dtype = ctx.output_np_dtype()
    return dtype, _compute_dtype(dtype)


def _group_filter(w, groups):
    """HWIO ``(KH, KW, Cg, OC)`` -> ``(G, KH*KW*Cg, OC/G)`` for a batched matmul."""
    kh, kw, cg, oc = w.shape
    return w.reshape(kh * kw, cg, groups, oc // groups).transpose(2, 0, 1, 3).reshape(
        groups, kh * kw * cg, oc // groups)


def _group_cols(cols, groups):
    """``(P, K, C)`` -> ``(G, P, K*Cg)``."""
    p, k, c = cols.shape
    return cols.reshape(p, k, groups, c // groups).transpose(2, 0, 1, 3).reshape(
        groups, p, k * (c // groups))


# -- Conv2D ----------------------------------------------------------------------------------------
def _conv_depths(ctx, c, w_shape):
    fc, oc = w_shape[2], w_shape[3]
    if fc == 0 or c % fc:
        raise _bad(ctx, f"input depth must be evenly divisible by filter depth: {c} vs {fc}")
    groups = c // fc
    if oc % groups:
        raise _bad(ctx, f"output depth must be evenly divisible by number of groups: {oc} vs "
                        f"{groups}")
    return groups


@kernel("Conv2D")
def _conv2d(ctx):
    xp, g = ctx.xp, _conv_geom(ctx)
    dtype, cdt = _kernel_dtypes(ctx)

    def run(x, w):
        _check_rank(ctx, x, 4, "convolution input")
        _check_rank(ctx, w, 4, "convolution filter")
        x = _to_nhwc(xp, x, g.nchw)
        n, h, wd, c = x.shape
        kh, kw, fc, oc = w.shape
        groups = _conv_depths(ctx, c, w.shape)
        wh, ww, slices = _geometry(ctx, g, (h, wd), (kh, kw))
        xpad = pad_nhwc(xp, x.astype(cdt, copy=False), wh, ww)
        wc = w.astype(cdt, copy=False)
        wmat = wc.reshape(kh * kw * fc, oc) if groups == 1 else _group_filter(wc, groups)
        out = xp.empty((n, wh.out, ww.out, oc), cdt)
        k = len(slices)
        for n0, n1 in _chunks(n, wh.out * ww.out * k * c):
            cols = _im2col(xp, xpad, slices, n0, n1).reshape(-1, k, c)
            if groups == 1:
                y = xp.matmul(cols.reshape(-1, k * c), wmat)
            else:
                y = xp.matmul(_group_cols(cols, groups), wmat).transpose(1, 0, 2).reshape(-1, oc)
            out[n0:n1] = y.reshape(n1 - n0, wh.out, ww.out, oc)
        return _from_nhwc(xp, out.astype(dtype, copy=False), g.nchw)

    return run


def _input_sizes(ctx, sizes, nchw, dy_nhwc, depth):
    """Conv2DBackpropInput's ``input_sizes`` (4 ints, or the 2 spatial ones) as NHWC ints."""
    if sizes.ndim != 1 or sizes.shape[0] not in (2, 4):
        raise _bad(ctx, f"input_sizes must be a vector of 4 (or 2 spatial) elements, got "
                        f"shape {_dims(sizes.shape)}")
    v = _ints(sizes)
    if len(v) == 2:
        return [dy_nhwc.shape[0], v[0], v[1], depth]
    return _nhwc4(v, nchw)


def _check_out_backprop(ctx, dy_nhwc, n, wh, ww, oc, sizes, k_hw, g):
    for dim, (got, win, size, k, s, d) in enumerate(zip(
            dy_nhwc.shape[1:3], (wh, ww), sizes, k_hw, g.strides, g.dilations)):
        if got != win.out:
            raise _bad(ctx, f"{ctx.type}: Size of out_backprop doesn't match computed: actual = "
                            f"{got}, computed = {win.out} spatial_dim: {dim + 1} input: {size} "
                            f"filter: {k} output: {got} stride: {s} dilation: {d}")
    if dy_nhwc.shape[0] != n or dy_nhwc.shape[3] != oc:
        raise _bad(ctx, f"{ctx.type}: out_backprop shape {_dims(dy_nhwc.shape)} does not match "
                        f"the input batch {n} and the filter's output depth {oc}")


def _backprop_input_args(ctx, xp, g, input_sizes, w, dy):
    """An input gradient's checked inputs: ``dy`` in NHWC and the NHWC input shape."""
    _check_rank(ctx, w, 4, "filter")
    _check_rank(ctx, dy, 4, "out_backprop")
    dy = _to_nhwc(xp, dy, g.nchw)
    return dy, _input_sizes(ctx, input_sizes, g.nchw, dy, w.shape[2])


def _backprop_filter_args(ctx, xp, g, x, filter_sizes, dy):
    """A filter gradient's checked inputs: ``x`` and ``dy`` in NHWC and the filter shape."""
    _check_rank(ctx, x, 4, "input")
    _check_rank(ctx, dy, 4, "out_backprop")
    if filter_sizes.ndim != 1 or filter_sizes.shape[0] != 4:
        raise _bad(ctx, f"filter_sizes must be a vector of 4 elements, got shape "
                        f"{_dims(filter_sizes.shape)}")
    sizes = _ints(filter_sizes)
    return _to_nhwc(xp, x, g.nchw), _to_nhwc(xp, dy, g.nchw), sizes


@kernel("Conv2DBackpropInput", host_memory=("input_sizes",))
def _conv2d_backprop_input(ctx):
    xp, g = ctx.xp, _conv_geom(ctx)
    dtype, cdt = _kernel_dtypes(ctx)

    def run(input_sizes, w, dy):
        dy, (n, h, wd, c) = _backprop_input_args(ctx, xp, g, input_sizes, w, dy)
        kh, kw, fc, oc = w.shape
        groups = _conv_depths(ctx, c, w.shape)
        wh, ww, slices = _geometry(ctx, g, (h, wd), (kh, kw))
        _check_out_backprop(ctx, dy, n, wh, ww, oc, (h, wd), (kh, kw), g)
        k = len(slices)
        wc = w.astype(cdt, copy=False)
        dxpad = _padded_zeros(xp, n, h, wd, c, wh, ww, cdt)
        if groups == 1:
            wt = wc.reshape(k * fc, oc).T
        else:
            wt = _group_filter(wc, groups).transpose(0, 2, 1)  # (G, OCg, K*Cg)
        for n0, n1 in _chunks(n, wh.out * ww.out * k * c):
            d = dy[n0:n1].astype(cdt, copy=False).reshape(-1, oc)
            if groups == 1:
                cols = xp.matmul(d, wt)
            else:
                dg = d.reshape(-1, groups, oc // groups).transpose(1, 0, 2)
                cols = xp.matmul(dg, wt).reshape(groups, -1, k, fc).transpose(1, 2, 0, 3)
            _col2im(xp, dxpad, cols.reshape(n1 - n0, wh.out, ww.out, k, c), slices, n0, n1)
        return _input_grad(xp, dxpad, wh, ww, h, wd, dtype, g.nchw)

    return run


@kernel("Conv2DBackpropFilter", host_memory=("filter_sizes",))
def _conv2d_backprop_filter(ctx):
    xp, g = ctx.xp, _conv_geom(ctx)
    dtype, cdt = _kernel_dtypes(ctx)

    def run(x, filter_sizes, dy):
        x, dy, (kh, kw, fc, oc) = _backprop_filter_args(ctx, xp, g, x, filter_sizes, dy)
        n, h, wd, c = x.shape
        groups = _conv_depths(ctx, c, (kh, kw, fc, oc))
        wh, ww, slices = _geometry(ctx, g, (h, wd), (kh, kw))
        _check_out_backprop(ctx, dy, n, wh, ww, oc, (h, wd), (kh, kw), g)
        k = len(slices)
        xpad = pad_nhwc(xp, x.astype(cdt, copy=False), wh, ww)
        acc = xp.zeros((groups, k * fc, oc // groups), cdt)
        for n0, n1 in _chunks(n, wh.out * ww.out * k * c):
            cols = _im2col(xp, xpad, slices, n0, n1).reshape(-1, k, c)
            d = dy[n0:n1].astype(cdt, copy=False).reshape(-1, groups, oc // groups)
            acc += xp.matmul(_group_cols(cols, groups).transpose(0, 2, 1), d.transpose(1, 0, 2))
        dw = acc.reshape(groups, kh, kw, fc, oc // groups).transpose(1, 2, 3, 0, 4)
        return xp.ascontiguousarray(dw.reshape(kh, kw, fc, oc)).astype(dtype, copy=False)

    return run


# -- depthwise -------------------------------------------------------------------------------------
def _check_depthwise(ctx, c, fc):
    if c != fc:
        raise _bad(ctx, f"input and filter must have the same depth: {c} vs {fc}")


@kernel("DepthwiseConv2dNative")
def _depthwise(ctx):
    xp, g = ctx.xp, _conv_geom(ctx)
    dtype, cdt = _kernel_dtypes(ctx)

    def run(x, w):
        _check_rank(ctx, x, 4, "input")
        _check_rank(ctx, w, 4, "filter")
        x = _to_nhwc(xp, x, g.nchw)
        n, h, wd, c = x.shape
        kh, kw, fc, m = w.shape
        _check_depthwise(ctx, c, fc)
        wh, ww, slices = _geometry(ctx, g, (h, wd), (kh, kw))
        k = len(slices)
        xpad = pad_nhwc(xp, x.astype(cdt, copy=False), wh, ww)
        wmat = w.astype(cdt, copy=False).reshape(k, c, m).transpose(1, 0, 2)  # (C, K, M)
        out = xp.empty((n, wh.out, ww.out, c * m), cdt)
        for n0, n1 in _chunks(n, wh.out * ww.out * k * c):
            cols = _im2col(xp, xpad, slices, n0, n1).reshape(-1, k, c).transpose(2, 0, 1)
            y = xp.matmul(cols, wmat).transpose(1, 0, 2)  # (P, C, M)
            out[n0:n1] = y.reshape(n1 - n0, wh.out, ww.out, c * m)
        return _from_nhwc(xp, out.astype(dtype, copy=False), g.nchw)

    return run


@kernel("DepthwiseConv2dNativeBackpropInput",
        host_memory=("input_sizes",))
def _depthwise_backprop_input(ctx):
    xp, g = ctx.xp, _conv_geom(ctx)
    dtype, cdt = _kernel_dtypes(ctx)

    def run(input_sizes, w, dy):
        dy, (n, h, wd, c) = _backprop_input_args(ctx, xp, g, input_sizes, w, dy)
        kh, kw, fc, m = w.shape
        _check_depthwise(ctx, c, fc)
        wh, ww, slices = _geometry(ctx, g, (h, wd), (kh, kw))
        _check_out_backprop(ctx, dy, n, wh, ww, c * m, (h, wd), (kh, kw), g)
        k = len(slices)
        wt = w.astype(cdt, copy=False).reshape(k, c, m).transpose(1, 2, 0)  # (C, M, K)
        dxpad = _padded_zeros(xp, n, h, wd, c, wh, ww, cdt)
        for n0, n1 in _chunks(n, wh.out * ww.out * k * c):
            d = dy[n0:n1].astype(cdt, copy=False).reshape(-1, c, m).transpose(1, 0, 2)
            cols = xp.matmul(d, wt).transpose(1, 2, 0)  # (P, K, C)
            _col2im(xp, dxpad, cols.reshape(n1 - n0, wh.out, ww.out, k, c), slices, n0, n1)
        return _input_grad(xp, dxpad, wh, ww, h, wd, dtype, g.nchw)

    return run


@kernel("DepthwiseConv2dNativeBackpropFilter",
        host_memory=("filter_sizes",))
def _depthwise_backprop_filter(ctx):
    xp, g = ctx.xp, _conv_geom(ctx)
    dtype, cdt = _kernel_dtypes(ctx)

    def run(x, filter_sizes, dy):
        x, dy, (kh, kw, fc, m) = _backprop_filter_args(ctx, xp, g, x, filter_sizes, dy)
        n, h, wd, c = x.shape
        _check_depthwise(ctx, c, fc)
        wh, ww, slices = _geometry(ctx, g, (h, wd), (kh, kw))
        _check_out_backprop(ctx, dy, n, wh, ww, c * m, (h, wd), (kh, kw), g)
        k = len(slices)
        xpad = pad_nhwc(xp, x.astype(cdt, copy=False), wh, ww)
        acc = xp.zeros((c, k, m), cdt)
        for n0, n1 in _chunks(n, wh.out * ww.out * k * c):
            cols = _im2col(xp, xpad, slices, n0, n1).reshape(-1, k, c).transpose(2, 1, 0)
            d = dy[n0:n1].astype(cdt, copy=False).reshape(-1, c, m).transpose(1, 0, 2)
            acc += xp.matmul(cols, d)  # (C, K, M)
        dw = acc.transpose(1, 0, 2).reshape(kh, kw, c, m)
        return xp.ascontiguousarray(dw).astype(dtype, copy=False)

    return run


# -- pooling ---------------------------------------------------------------------------------------
class _Pool:
    """A pool's decoded window: NHWC-ordered ksize/strides plus padding."""

    __slots__ = ("ksize", "strides", "geom")


def _pool_window(ctx, g, ksize, strides, max_pool):
    """Validates ``ksize``/``strides`` (data_format order); returns NHWC ones."""
    if len(ksize) != 4:
        raise _bad(ctx, f"Sliding window ksize field must specify 4 dimensions, got "
                        f"{len(ksize)}")
    if len(strides) != 4:
        raise _bad(ctx, f"Sliding window stride field must specify 4 dimensions, got "
                        f"{len(strides)}")
    ksize, strides = _nhwc4(ksize, g.nchw), _nhwc4(strides, g.nchw)
    if min(ksize) < 1 or min(strides) < 1:
        raise _bad(ctx, f"Sliding window ksize and strides must be positive, got ksize {ksize} "
                        f"and strides {strides}")
    if ksize[0] != 1 or strides[0] != 1:
        raise _unimplemented(ctx, "Pooling is not yet supported on the batch dimension.")
    if ksize[3] != 1 or strides[3] != 1:
        if not max_pool:
            raise _unimplemented(ctx, "Non-spatial pooling is not supported on the depth "
                                      "dimension by AvgPool.")
        if ksize[1] != 1 or ksize[2] != 1 or strides[1] != 1 or strides[2] != 1:
            raise _unimplemented(ctx, "MaxPooling supports exactly one of pooling across depth "
                                      "or pooling across width/height.")
        if ksize[3] != strides[3]:
            raise _unimplemented(ctx, "Depthwise max pooling requires the depth window to "
                                      "equal the depth stride.")
    return ksize, strides


def _pool_geom(ctx, with_window=True):
    g = _Geom()
    g.nchw = _data_format(ctx)
    g.dilations = (1, 1)
    _padding(ctx, g)
    p = _Pool()
    p.geom = g
    if with_window:
        p.ksize, p.strides = _pool_window(ctx, g, [int(v) for v in (ctx.attr("ksize") or [])],
                                          [int(v) for v in (ctx.attr("strides") or [])],
                                          ctx.type.startswith("MaxPool"))
        g.strides = p.strides[1:3]
    return p


def _runtime_window(ctx, p, ksize, strides):
    """MaxPoolV2's window from its ksize/strides inputs (a fresh ``_Pool``)."""
    q = _Pool()
    q.geom = _Geom()
    q.geom.nchw, q.geom.padding, q.geom.pads = p.geom.nchw, p.geom.padding, p.geom.pads
    q.geom.dilations = (1, 1)
    q.ksize, q.strides = _pool_window(ctx, q.geom, _ints(ksize), _ints(strides), True)
    q.geom.strides = q.strides[1:3]
    return q


def _max_pool_nhwc(ctx, xp, x, p):
    n, h, w, c = x.shape
    if p.ksize[3] != 1:  # depthwise max pooling
        d = p.ksize[3]
        if c % d:
            raise _bad(ctx, f"Depthwise max pooling requires the depth window to evenly divide "
                            f"the input depth: {d} vs {c}")
        return xp.max(x.reshape(n, h, w, c // d, d), axis=4)
    wh, ww, slices = _geometry(ctx, p.geom, (h, w), p.ksize[1:3])
    xpad = pad_nhwc(xp, x, wh, ww, min_value(x.dtype))
    out = None
    for r, cc in slices:
        v = xpad[:, r, cc, :]
        out = v.copy() if out is None else xp.maximum(out, v)
    if out is None:
        return xp.empty((n, wh.out, ww.out, c), x.dtype)
    return out


@kernel("MaxPool", "MaxPoolV2", host_memory=("ksize", "strides"))
def _max_pool(ctx):
    """MaxPool; MaxPoolV2 takes its ksize/strides as inputs (``window``) instead of attrs."""
    xp = ctx.xp
    p = _pool_geom(ctx, with_window=ctx.type == "MaxPool")

    def run(x, *window):
        _check_rank(ctx, x, 4, "input")
        q = _runtime_window(ctx, p, *window) if window else p
        y = _max_pool_nhwc(ctx, xp, _to_nhwc(xp, x, q.geom.nchw), q)
        return _from_nhwc(xp, y, q.geom.nchw)

    return run


def _valid_counts(xp, size, win, k, s, dtype):
    """Per output index, how many of the window's ``k`` elements lie inside the input."""
    start = xp.arange(win.out) * s - win.before
    return (xp.minimum(start + k, size) - xp.maximum(start, 0)).astype(dtype)


def _avg_divisor(xp, h, w, wh, ww, p, dtype):
    ch = _valid_counts(xp, h, wh, p.ksize[1], p.strides[1], dtype)
    cw = _valid_counts(xp, w, ww, p.ksize[2], p.strides[2], dtype)
    return (ch[:, None] * cw[None, :])[:, :, None]


@kernel("AvgPool")
def _avg_pool(ctx):
    xp, p = ctx.xp, _pool_geom(ctx)
    dtype, cdt = _kernel_dtypes(ctx)

    def run(x):
        if x.ndim != 4:
            raise _bad(ctx, f"tensor_in must be 4-dimensional: {_dims(x.shape)}")
        x = _to_nhwc(xp, x, p.geom.nchw)
        n, h, w, c = x.shape
        wh, ww, slices = _geometry(ctx, p.geom, (h, w), p.ksize[1:3])
        xpad = pad_nhwc(xp, x.astype(cdt, copy=False), wh, ww)
        acc = xp.zeros((n, wh.out, ww.out, c), cdt)
        for r, cc in slices:
            acc += xpad[:, r, cc, :]
        acc /= _avg_divisor(xp, h, w, wh, ww, p, cdt)
        return _from_nhwc(xp, acc.astype(dtype, copy=False), p.geom.nchw)

    return run


def _check_pool_grad(ctx, grad, n, wh, ww, c):
    want = (n, wh.out, ww.out, c)
    if tuple(grad.shape) != want:
        raise _bad(ctx, f"Expected grad shape to be {_dims(want)} (NHWC), but got "
                        f"{_dims(grad.shape)}")


def _max_pool_grad_nhwc(ctx, xp, x, grad, p):
    n, h, w, c = x.shape
    if p.ksize[3] != 1:  # depthwise: the gradient goes to the first max of each depth group
        d = p.ksize[3]
        if c % d:
            raise _bad(ctx, f"Depthwise max pooling requires the depth window to evenly divide "
                            f"the input depth: {d} vs {c}")
        groups = x.reshape(n, h, w, c // d, d)
        first = xp.argmax(groups, axis=4)[..., None]
        onehot = xp.arange(d) == first
        return (onehot * grad[..., None]).reshape(n, h, w, c).astype(x.dtype)
    wh, ww, slices = _geometry(ctx, p.geom, (h, w), p.ksize[1:3])
    _check_pool_grad(ctx, grad, n, wh, ww, c)
    xpad = pad_nhwc(xp, x, wh, ww, min_value(x.dtype))
    # TF's CPU kernel sends each window's gradient to its first maximum in row-major order.
    best = arg = None
    for k, (r, cc) in enumerate(slices):
        v = xpad[:, r, cc, :]
        if best is None:
            best, arg = v.copy(), xp.zeros(v.shape, np.int32)
            continue
        take = v > best
        best = xp.where(take, v, best)
        arg = xp.where(take, np.int32(k), arg)
    dxpad = xp.zeros(xpad.shape, grad.dtype)
    for k, (r, cc) in enumerate(slices):
        dxpad[:, r, cc, :] += xp.where(arg == k, grad, 0).astype(grad.dtype)
    return xp.ascontiguousarray(_crop(dxpad, wh, ww, h, w))


def _max_pool_grad_kernel(ctx, body):
    """The kernel of a MaxPoolGrad-like op ``(orig_input, orig_output, grad[, ksize, strides])``
    whose NHWC computation is ``body(ctx, xp, x, y, grad, pool)``; the V2 forms take their
    window as inputs."""
    xp = ctx.xp
    p = _pool_geom(ctx, with_window=not ctx.type.endswith("V2"))

    def run(x, y, grad, *window):
        _check_rank(ctx, x, 4, "orig_input")
        _check_rank(ctx, y, 4, "orig_output")
        _check_rank(ctx, grad, 4, "grad")
        q = _runtime_window(ctx, p, *window) if window else p
        nchw = q.geom.nchw
        out = body(ctx, xp, _to_nhwc(xp, x, nchw), _to_nhwc(xp, y, nchw),
                   _to_nhwc(xp, grad, nchw), q)
        return _from_nhwc(xp, out, nchw)

    return run


@kernel("MaxPoolGrad", "MaxPoolGradV2", host_memory=("ksize", "strides"))
def _max_pool_grad(ctx):
    return _max_pool_grad_kernel(ctx, lambda ctx, xp, x, y, grad, q:
                                 _max_pool_grad_nhwc(ctx, xp, x, grad, q))


def _max_pool_grad_grad_nhwc(ctx, xp, x, y, grad, p):
    """For each pooling window, ``grad`` at the window's first maximum of ``x`` (row-major), as
    TF's CPU kernel picks it."""
    n, h, w, c = x.shape
    if p.ksize[3] != 1:
        raise _unimplemented(ctx, "MaxPoolGradGrad is not supported for depthwise max pooling")
    if tuple(grad.shape) != tuple(x.shape):
        raise _bad(ctx, f"grad must have the shape of orig_input {_dims(x.shape)}, got "
                        f"{_dims(grad.shape)}")
    wh, ww, slices = _geometry(ctx, p.geom, (h, w), p.ksize[1:3])
    if tuple(y.shape) != (n, wh.out, ww.out, c):
        raise _bad(ctx, f"orig_output must have shape {_dims((n, wh.out, ww.out, c))} (NHWC), "
                        f"got {_dims(y.shape)}")
    xpad = pad_nhwc(xp, x, wh, ww, min_value(x.dtype))
    gpad = pad_nhwc(xp, grad, wh, ww)
    best = out = None
    for r, cc in slices:
        v, gv = xpad[:, r, cc, :], gpad[:, r, cc, :]
        if best is None:
            best, out = v.copy(), gv.copy()
            continue
        take = v > best
        best = xp.where(take, v, best)
        out = xp.where(take, gv, out)
    if out is None:
        return xp.empty((n, wh.out, ww.out, c), grad.dtype)
    return out.astype(grad.dtype, copy=False)


@kernel("MaxPoolGradGrad", "MaxPoolGradGradV2",
        host_memory=("ksize", "strides"))
def _max_pool_grad_grad(ctx):
    """The gradient of MaxPoolGrad."""
    return _max_pool_grad_kernel(ctx, _max_pool_grad_grad_nhwc)


@kernel("AvgPoolGrad", host_memory=("orig_input_shape",))
def _avg_pool_grad(ctx):
    xp, p = ctx.xp, _pool_geom(ctx)
    dtype, cdt = _kernel_dtypes(ctx)

    def run(orig_input_shape, grad):
        if orig_input_shape.ndim != 1 or orig_input_shape.shape[0] != 4:
            raise _bad(ctx, f"orig_input_shape must be 1-dimensional and 4 elements, got shape "
                            f"{_dims(orig_input_shape.shape)}")
        _check_rank(ctx, grad, 4, "grad")
        n, h, w, c = _nhwc4(_ints(orig_input_shape), p.geom.nchw)
        grad = _to_nhwc(xp, grad, p.geom.nchw)
        wh, ww, slices = _geometry(ctx, p.geom, (h, w), p.ksize[1:3])
        _check_pool_grad(ctx, grad, n, wh, ww, c)
        g = grad.astype(cdt) / _avg_divisor(xp, h, w, wh, ww, p, cdt)
        dxpad = _padded_zeros(xp, n, h, w, c, wh, ww, cdt)
        for r, cc in slices:
            dxpad[:, r, cc, :] += g
        return _input_grad(xp, dxpad, wh, ww, h, w, dtype, p.geom.nchw)

    return run


# -- fused batch norm ------------------------------------------------------------------------------
_BN_FORMATS = ("NHWC", "NCHW", "NDHWC", "NCDHW")


def _bn_attrs(ctx):
    fmt = decode_str(ctx.attr("data_format"), "NHWC")
    if fmt not in _BN_FORMATS:
        raise _bad(ctx, f"Invalid data format {fmt!r}")
    return (fmt[1] == "C", float(ctx.attr("epsilon", 0.0001)), bool(ctx.attr("is_training", True)),
            float(ctx.attr("exponential_avg_factor", 1.0)))


def _bn_axes(ctx, x, channels_first):
    if x.ndim not in (4, 5):
        raise _bad(ctx, f"input must be 4 or 5-dimensional{_dims(x.shape)}")
    axis = 1 if channels_first else x.ndim - 1
    return axis, tuple(a for a in range(x.ndim) if a != axis)


def _check_vector(ctx, v, name, c, when=""):
    if v.ndim != 1:
        raise _bad(ctx, f"{name} must be 1-dimensional{_dims(v.shape)}")
    if v.shape[0] != c:
        raise _bad(ctx, f"{when}{name} must have the same number of elements as the channels "
                        f"of x, got {v.shape[0]} and {c}")


def _bcast(v, ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return v.reshape(shape)


@kernel("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def _fused_batch_norm(ctx):
    xp = ctx.xp
    channels_first, eps, training, factor = _bn_attrs(ctx)
    dtype = np.dtype(ctx.output_np_dtype(0))
    udt = np.dtype(ctx.output_np_dtype(1))
    v3 = ctx.type == "FusedBatchNormV3"

    def run(x, scale, offset, mean, variance):
        axis, axes = _bn_axes(ctx, x, channels_first)
        c = x.shape[axis]
        _check_vector(ctx, scale, "scale", c)
        _check_vector(ctx, offset, "offset", c)
        if not training:
            _check_vector(ctx, mean, "mean", c, "When is_training=false, ")
            _check_vector(ctx, variance, "variance", c, "When is_training=false, ")
        elif factor != 1.0:
            _check_vector(ctx, mean, "mean", c, "When exponential_avg_factor != 1, ")
            _check_vector(ctx, variance, "variance", c, "When exponential_avg_factor != 1, ")
        xf = x.astype(udt, copy=False)
        sc, off = scale.astype(udt, copy=False), offset.astype(udt, copy=False)
        if training:
            n = x.size // c if c else 0
            if n == 0:
                bm = xp.full((c,), np.nan, udt)
                bv = xp.full((c,), np.nan, udt)
            else:
                bm = xp.mean(xf, axis=axes)
                centered = xf - _bcast(bm, x.ndim, axis)
                bv = xp.mean(centered * centered, axis=axes)
            sf = sc / xp.sqrt(bv + udt.type(eps))
            y = (xf - _bcast(bm, x.ndim, axis)) * _bcast(sf, x.ndim, axis) + _bcast(
                off, x.ndim, axis)
            unbiased = bv * udt.type(n / max(n - 1, 1))
            if factor != 1.0:
                f = udt.type(factor)
                out_mean = (1 - f) * mean.astype(udt) + f * bm
                out_var = (1 - f) * variance.astype(udt) + f * unbiased
            else:
                out_mean, out_var = bm, unbiased
            outs = [y.astype(dtype, copy=False), out_mean.astype(udt), out_var.astype(udt),
                    bm.astype(udt), bv.astype(udt)]
        else:
            m, v = mean.astype(udt, copy=False), variance.astype(udt, copy=False)
            sf = sc / xp.sqrt(v + udt.type(eps))
            y = xf * _bcast(sf, x.ndim, axis) + _bcast(off - m * sf, x.ndim, axis)
            outs = [y.astype(dtype, copy=False), m.copy(), v.copy(), xp.zeros((c,), udt),
                    xp.zeros((c,), udt)]
        if v3:
            outs.append(xp.zeros((), udt))
        return outs

    return run


@kernel("FusedBatchNormGrad", "FusedBatchNormGradV2", "FusedBatchNormGradV3")
def _fused_batch_norm_grad(ctx):
    xp = ctx.xp
    channels_first, eps, training, _ = _bn_attrs(ctx)
    dtype = np.dtype(ctx.output_np_dtype(0))
    udt = np.dtype(ctx.output_np_dtype(1))

    def run(dy, x, scale, rs1, rs2, *unused):
        axis, axes = _bn_axes(ctx, x, channels_first)
        if dy.shape != x.shape:
            raise _bad(ctx, f"x and y_backprop must have same shape, but x has shape "
                            f"{_dims(x.shape)} and y_backprop has shape {_dims(dy.shape)}")
        c = x.shape[axis]
        _check_vector(ctx, scale, "scale", c)
        _check_vector(ctx, rs1, "reserve_space_1", c)
        _check_vector(ctx, rs2, "reserve_space_2", c)
        dyf, xf = dy.astype(udt, copy=False), x.astype(udt, copy=False)
        mean = _bcast(rs1.astype(udt, copy=False), x.ndim, axis)
        inv = 1 / xp.sqrt(rs2.astype(udt, copy=False) + udt.type(eps))
        centered = xf - mean
        d_offset = xp.sum(dyf, axis=axes)
        d_scale = xp.sum(dyf * centered, axis=axes) * inv
        coef = _bcast(scale.astype(udt, copy=False) * inv, x.ndim, axis)
        if training:
            n = max(x.size // max(c, 1), 1)
            mean_dy = _bcast(d_offset / udt.type(n), x.ndim, axis)
            mean_dy_xhat = _bcast(d_scale / udt.type(n), x.ndim, axis)
            xhat = centered * _bcast(inv, x.ndim, axis)
            dx = coef * (dyf - mean_dy - xhat * mean_dy_xhat)
        else:
            dx = dyf * coef
        return [dx.astype(dtype, copy=False), d_scale.astype(udt), d_offset.astype(udt),
                xp.zeros((0,), udt), xp.zeros((0,), udt)]

    return run
