"""Kernels of the "real models" op-coverage set: local response normalization (``LRN``,
``LRNGrad``), ``Einsum``, bilinear resizing (``ResizeBilinear``, ``ResizeBilinearGrad``),
``SparseToDense`` and ``DynamicPartition``.

Half-precision inputs are computed in float32 and cast back, as TF's CPU kernels accumulate.
"""

from __future__ import annotations

import numpy as np

from gmeta.kernels import bad_input as _bad, dims as _dims, kernel


def _wide(x):
    return x.astype(np.float32) if x.dtype.itemsize < 4 and x.dtype.kind == "f" else x


# -- LRN ------------------------------------------------------------------------------------------
def _window_sum(xp, v, r):
    """``sum(v[..., d - r : d + r + 1])`` along the last axis (clipped at the ends)."""
    depth = v.shape[-1]
    pad = [(0, 0)] * (v.ndim - 1) + [(1, 0)]
    c = xp.cumsum(xp.pad(v, pad), axis=-1)
    d = xp.arange(depth)
    hi = xp.minimum(d + r + 1, depth)
    lo = xp.maximum(d - r, 0)
    return c[..., hi] - c[..., lo]


def _lrn_attrs(ctx):
    return (int(ctx.attr("depth_radius", 5)), float(ctx.attr("bias", 1.0)),
            float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 0.5)))


@kernel("LRN")
def _lrn(ctx):
    xp = ctx.xp
    r, bias, alpha, beta = _lrn_attrs(ctx)

    def run(x):
        if x.ndim != 4:
            raise _bad(ctx, f"input must be 4-dimensional, got shape {_dims(x.shape)}")
        w = _wide(x)
        norm = bias + alpha * _window_sum(xp, w * w, r)
        return (w * norm ** -beta).astype(x.dtype)

    return run


@kernel("LRNGrad")
def _lrn_grad(ctx):
    xp = ctx.xp
    r, bias, alpha, beta = _lrn_attrs(ctx)

    def run(grads, inputs, outputs):
        for what, v in (("input_grads", grads), ("input_image", inputs),
                        ("output_image", outputs)):
            if v.ndim != 4:
                raise _bad(ctx, f"{what} must be 4-dimensional, got shape {_dims(v.shape)}")
        if not (grads.shape == inputs.shape == outputs.shape):
            raise _bad(ctx, "input_grads, input_image, and out_image should have the same shape")
        g, x, y = _wide(grads), _wide(inputs), _wide(outputs)
        norm = bias + alpha * _window_sum(xp, x * x, r)
        dx = g * norm ** -beta - 2.0 * alpha * beta * x * _window_sum(xp, g * y / norm, r)
        return dx.astype(grads.dtype)

    return run


# -- Einsum ---------------------------------------------------------------------------------------
def _einsum(xp, equation, operands):
    lhs, out = equation.replace(" ", "").split("->")
    labels = out.replace("...", "")
    if len(set(labels)) == len(labels):
        return xp.einsum(equation, *operands)
    # Repeated output labels ("i->ii"): compute the distinct labels, then fill a diagonal.
    if "..." in out:
        raise NotImplementedError("repeated output labels with an ellipsis")
    uniq = "".join(dict.fromkeys(out))
    compact = xp.einsum(f"{lhs}->{uniq}", *operands)
    size = dict(zip(uniq, compact.shape))
    result = xp.zeros([size[c] for c in out], dtype=compact.dtype)
    grids = xp.meshgrid(*[xp.arange(size[c]) for c in uniq], indexing="ij")
    by_label = dict(zip(uniq, grids))
    result[tuple(by_label[c] for c in out)] = compact
    return result


@kernel("Einsum")
def _einsum_kernel(ctx):
    xp = ctx.xp
    equation = ctx.attr("equation")
    equation = equation.decode() if isinstance(equation, bytes) else equation
    dtype = ctx.output_np_dtype()

    def run(*operands):
        try:
            value = _einsum(xp, equation, [_wide(o) for o in operands])
        except ValueError as e:
            raise _bad(ctx, f"Einsum {equation!r}: {e}") from None
        return xp.asarray(value).astype(dtype)

    return run


# -- ResizeBilinear -------------------------------------------------------------------------------
def _interp_matrix(in_size, out_size, align_corners, half_pixel):
    """``[out_size, in_size]`` float64 weights of TF's bilinear interpolation along one axis
    (the source positions computed in float32, as TF does)."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size) if out_size else f32(0)
    i = np.arange(out_size, dtype=f32)
    pos = ((i + f32(0.5)) * scale - f32(0.5)) if half_pixel else i * scale
    pos = pos.astype(f32)
    floor = np.floor(pos)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(pos).astype(np.int64), in_size - 1)
    lerp = (pos - floor).astype(np.float64)
    m = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    np.add.at(m, (rows, lower), 1.0 - lerp)
    np.add.at(m, (rows, upper), lerp)
    return m


def _resize_attrs(ctx):
    align = bool(ctx.attr("align_corners", False))
    half = bool(ctx.attr("half_pixel_centers", False))
    if align and half:
        raise _bad(ctx, "If half_pixel_centers is True, align_corners must be False.")
    return align, half


@kernel("ResizeBilinear", host_memory=("size",))
def _resize_bilinear(ctx):
    xp = ctx.xp

    def run(images, size):
        align, half = _resize_attrs(ctx)
        if images.ndim != 4:
            raise _bad(ctx, f"input must be 4-dimensional{_dims(images.shape)}")
        size = np.asarray(size.tolist() if hasattr(size, "tolist") else size)
        if size.shape != (2,):
            raise _bad(ctx, f"shape_t must be 1-dimensional with 2 elements{_dims(size.shape)}")
        out_h, out_w = int(size[0]), int(size[1])
        if out_h <= 0 or out_w <= 0:
            raise _bad(ctx, "output dimensions must be positive")
        _, in_h, in_w, _ = images.shape
        wy = xp.asarray(_interp_matrix(in_h, out_h, align, half))
        wx = xp.asarray(_interp_matrix(in_w, out_w, align, half))
        out = xp.einsum("yh,bhwc,xw->byxc", wy, images.astype(np.float64), wx)
        return out.astype(np.float32)

    return run


@kernel("ResizeBilinearGrad")
def _resize_bilinear_grad(ctx):
    xp = ctx.xp
    dtype = ctx.output_np_dtype()

    def run(grads, original):
        align, half = _resize_attrs(ctx)
        if grads.ndim != 4 or original.ndim != 4:
            raise _bad(ctx, "input_grad and original_image must be 4-dimensional")
        _, out_h, out_w, _ = grads.shape
        _, in_h, in_w, _ = original.shape
        wy = xp.asarray(_interp_matrix(in_h, out_h, align, half))
        wx = xp.asarray(_interp_matrix(in_w, out_w, align, half))
        out = xp.einsum("yh,byxc,xw->bhwc", wy, grads.astype(np.float64), wx)
        return out.astype(dtype)

    return run


# -- SparseToDense --------------------------------------------------------------------------------
@kernel("SparseToDense", host_memory=("output_shape",))
def _sparse_to_dense(ctx):
    xp = ctx.xp
    validate = bool(ctx.attr("validate_indices", True))

    def run(indices, output_shape, values, default_value):
        if indices.ndim > 2:
            raise _bad(ctx, f"sparse_indices should be a scalar, vector, or matrix, got shape "
                            f"{_dims(indices.shape)}")
        if output_shape.ndim > 1:
            raise _bad(ctx, "output_shape should be a scalar or vector")
        shape = [int(d) for d in np.asarray(output_shape.tolist()).reshape(-1)]
        n = indices.shape[0] if indices.ndim > 0 else 1
        rank = indices.shape[1] if indices.ndim > 1 else 1
        if rank != len(shape):
            raise _bad(ctx, f"sparse_indices[0].size() [{rank}] does not match "
                            f"output_shape.size() [{len(shape)}]")
        if values.ndim != 0 and values.shape != (n,):
            raise _bad(ctx, f"sparse_values has incorrect shape {_dims(values.shape)}, should "
                            f"be [] or [{n}]")
        if default_value.ndim != 0:
            raise _bad(ctx, "default_value should be a scalar.")
        idx = np.asarray(indices.tolist(), dtype=np.int64).reshape(n, rank)
        limits = np.asarray(shape, dtype=np.int64)
        bad = np.nonzero(np.any((idx < 0) | (idx >= limits), axis=1))[0]
        if bad.size:
            raise _bad(ctx, f"indices[{bad[0]}] = {list(idx[bad[0]])} is out of bounds: need "
                            f"0 <= index < {shape}")
        if validate and n > 1:
            flat = np.ravel_multi_index(idx.T, shape) if shape else np.zeros(n, np.int64)
            step = np.diff(flat)
            if np.any(step <= 0):
                i = int(np.nonzero(step <= 0)[0][0]) + 1
                what = "repeated" if step[i - 1] == 0 else "out of order"
                raise _bad(ctx, f"indices[{i}] = {list(idx[i])} is {what}. Many sparse ops "
                                f"require sorted indices.")
        out = xp.full(shape, default_value, dtype=values.dtype)
        if n:
            out[tuple(xp.asarray(idx.T))] = values
        return out

    return run


# -- DynamicPartition -----------------------------------------------------------------------------
@kernel("DynamicPartition")
def _dynamic_partition(ctx):
    xp = ctx.xp
    num = int(ctx.attr("num_partitions"))

    def run(data, partitions):
        if data.shape[:partitions.ndim] != partitions.shape:
            raise _bad(ctx, f"data.shape must start with partitions.shape, got data.shape = "
                            f"{_dims(data.shape)}, partitions.shape = "
                            f"{_dims(partitions.shape)}")
        p = partitions
        bad = (p < 0) | (p >= num)
        if bool(xp.any(bad)):
            i = int(xp.argmax(bad.reshape(-1)))
            raise _bad(ctx, f"partitions[{i}] = {int(p.reshape(-1)[i])} is not in [0, {num})")
        flat = data.reshape((-1,) + data.shape[p.ndim:])
        pf = p.reshape(-1)
        return [flat[pf == i] for i in range(num)]

    return run
