"""Array kernels: reshape, shapes, fills, concat/stack, gather, slicing, transpose, where, ...

Kernels are written against ``ctx.xp`` (numpy or cupy). Index-like inputs (shapes, begin/end,
axes, perms) are read to Python ints with ``.tolist()``, which both array modules provide.
Bad inputs raise ``InvalidArgumentError`` with TensorFlow's CPU-kernel message; the executor
adds the node's name.
"""

from __future__ import annotations

import math

import numpy as np

from gmeta import errors
from gmeta.kernels import dims as _shape_str, is_cupy, kernel


def _err(ctx, message: str) -> errors.InvalidArgumentError:
    return errors.InvalidArgumentError(None, ctx.op, message)


def _ints(a) -> list:
    """The elements of an int array (any rank, numpy or cupy) as Python ints."""
    if hasattr(a, "reshape"):  # one conversion to Python ints
        return [int(v) for v in a.reshape(-1).tolist()]
    return [int(v) for v in np.asarray(a).reshape(-1)]


def _scalar(a) -> int:
    return int(a.reshape(-1)[0]) if getattr(a, "ndim", 0) else int(a)


def _axis(ctx, axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < rank:
        raise _err(ctx, f"Expected {what} in the range [{-rank}, {rank}), but got {axis}")
    return axis + rank if axis < 0 else axis


# -- shapes and reshapes ---------------------------------------------------------------------------
@kernel("Shape")
def _shape(ctx):
    xp, dt = ctx.xp, ctx.output_np_dtype(0)
    return lambda x: xp.asarray(np.array(x.shape, dt))


@kernel("ShapeN")
def _shape_n(ctx):
    xp, dt = ctx.xp, ctx.output_np_dtype(0)
    return lambda *xs: [xp.asarray(np.array(x.shape, dt)) for x in xs]


@kernel("Size")
def _size(ctx):
    xp, dt = ctx.xp, ctx.output_np_dtype(0)
    return lambda x: xp.asarray(np.array(x.size, dt))


@kernel("Rank")
def _rank(ctx):
    xp = ctx.xp
    return lambda x: xp.asarray(np.array(x.ndim, np.int32))


def _reshape_dims(ctx, x, shape) -> list:
    """TF's Reshape size validation and -1 inference."""
    if shape.ndim != 1:
        raise _err(ctx, f"sizes input must be 1-D, not {_shape_str(shape.shape)}")
    dims = _ints(shape)
    if min(dims, default=0) >= 0 and math.prod(dims) == x.size:
        return dims  # the common case: every size given and they fit
    unknown, product, has_zero = -1, 1, False
    for i, d in enumerate(dims):
        if d == -1:
            if unknown >= 0:
                raise _err(ctx, f"Only one input size may be -1, not both {unknown} and {i}")
            unknown = i
        elif d < 0:
            raise _err(ctx, f"Size {i} must be non-negative, not {d}")
        elif d == 0:
            has_zero = True
        else:
            product *= d
    if unknown >= 0:
        n, input_has_zero = 1, False
        for d in x.shape:
            if d > 0 or not has_zero:
                n *= d
            else:
                input_has_zero = True
        missing = n // product
        if not input_has_zero and product * missing != n:
            raise _err(ctx, f"Input to reshape is a tensor with {n} values, but the requested "
                            f"shape requires a multiple of {product}")
        dims[unknown] = missing
    total = int(np.prod(dims, dtype=np.int64))
    if total != x.size:
        raise _err(ctx, f"Input to reshape is a tensor with {x.size} values, but the requested "
                        f"shape has {total}")
    return dims


@kernel("Reshape", host_memory=("shape",))
def _reshape(ctx):
    xp = ctx.xp

    def run(x, shape):
        if shape.ndim == 1:  # numpy's rule accepts a subset of TF's, with the same result
            try:
                return xp.reshape(x, shape.tolist())
            except (ValueError, TypeError):
                pass
        return xp.reshape(x, _reshape_dims(ctx, x, shape))  # TF's rule and messages

    return run


@kernel("ExpandDims", host_memory=("dim",))
def _expand_dims(ctx):
    xp = ctx.xp

    def run(x, dim):
        if dim.size != 1:
            raise _err(ctx, f"'dim' must be a tensor with a single value, got shape "
                            f"{_shape_str(dim.shape)}")
        d, r = _scalar(dim), x.ndim
        if d < -1 - r or d > r:
            raise _err(ctx, f"Tried to expand dim index {d} for tensor with {r} dimensions.")
        return xp.expand_dims(x, d + r + 1 if d < 0 else d)

    return run


@kernel("Squeeze")
def _squeeze(ctx):
    xp = ctx.xp
    axes = list(ctx.attr("squeeze_dims", []) or [])

    def run(x):
        r = x.ndim
        if not axes:
            return xp.reshape(x, [d for d in x.shape if d != 1])
        wrapped = set()
        for a in axes:
            if a < -r or a >= r:
                raise _err(ctx, f"Tried to squeeze dim index {a} for tensor with {r} "
                                "dimensions.")
            wrapped.add(a + r if a < 0 else a)
        for a in sorted(wrapped):
            if x.shape[a] != 1:
                raise _err(ctx, f"Can not squeeze dim[{a}], expected a dimension of 1, got "
                                f"{x.shape[a]}")
        return xp.reshape(x, [d for i, d in enumerate(x.shape) if i not in wrapped])

    return run


# -- fills -----------------------------------------------------------------------------------------
@kernel("Fill", host_memory=("dims",))
def _fill(ctx):
    xp = ctx.xp

    def run(dims, value):
        if dims.ndim != 1:
            raise _err(ctx, f"dims must be a vector, got shape {_shape_str(dims.shape)}")
        if value.ndim != 0:
            raise _err(ctx, f"value must be a scalar, got shape {_shape_str(value.shape)}")
        ds = _ints(dims)
        for d in ds:
            if d < 0:
                raise _err(ctx, f"Dimension {d} must be >= 0")
        return xp.full(ds, value, dtype=value.dtype)

    return run


@kernel("ZerosLike")
def _zeros_like(ctx):
    return ctx.xp.zeros_like


@kernel("OnesLike")
def _ones_like(ctx):
    return ctx.xp.ones_like


@kernel("Tile", host_memory=("multiples",))
def _tile(ctx):
    xp = ctx.xp

    def run(x, multiples):
        ms = _ints(multiples)
        if multiples.ndim != 1 or len(ms) != x.ndim:
            raise _err(ctx, f"Expected multiples argument to be a vector of length {x.ndim} but "
                            f"got length {len(ms)}")
        for i, m in enumerate(ms):
            if m < 0:
                raise _err(ctx, f"Expected multiples[{i}] >= 0, but got {m}")
        return xp.tile(x, ms) if ms else x

    return run


@kernel("BroadcastTo", host_memory=("shape",))
def _broadcast_to(ctx):
    xp = ctx.xp

    def run(x, shape):
        dims = _ints(shape)
        try:
            return xp.array(xp.broadcast_to(x, dims), copy=True)
        except ValueError:
            raise _err(ctx, f"Incompatible shapes: {_shape_str(x.shape)} vs. "
                            f"{_shape_str(dims)}") from None

    return run


@kernel("BroadcastArgs", host_memory=("s0", "s1"))
def _broadcast_args(ctx):
    xp, dt = ctx.xp, ctx.output_np_dtype(0)

    def run(s0, s1):
        a, b = _ints(s0), _ints(s1)
        try:
            return xp.asarray(np.array(np.broadcast_shapes(tuple(a), tuple(b)), dt))
        except ValueError:
            raise _err(ctx, f"Incompatible shapes: {_shape_str(a)} vs. {_shape_str(b)}") \
                from None

    return run


# -- concat, stack, unstack, split -----------------------------------------------------------------
def _concat(ctx, values, axis):
    if getattr(axis, "ndim", 0) != 0:
        raise _err(ctx, f"Concat dim tensor should be a scalar integer, but got shape "
                        f"{_shape_str(axis.shape)}")
    first = values[0]
    r, a = first.ndim, int(axis)
    if not -r <= a < r:
        raise _err(ctx, f"ConcatOp : Expected concatenating dimensions in the range [{-r}, {r}), "
                        f"but got {a}")
    a = a + r if a < 0 else a
    try:  # numpy checks the same rule (ranks, dims off the axis); TF's message on failure
        return ctx.xp.concatenate(values, axis=a)
    except ValueError:
        pass
    for i, v in enumerate(values):
        if v.ndim != r:
            raise _err(ctx, f"ConcatOp : Ranks of all input tensors should match: shape[0] = "
                            f"{_shape_str(first.shape)} vs. shape[{i}] = {_shape_str(v.shape)}")
        for j in range(r):
            if j != a and v.shape[j] != first.shape[j]:
                raise _err(ctx, f"ConcatOp : Dimension {j} in both shapes must be equal: "
                                f"shape[0] = {_shape_str(first.shape)} vs. shape[{i}] = "
                                f"{_shape_str(v.shape)}")
    return ctx.xp.concatenate(values, axis=a)  # raises numpy's error, if it is another one


@kernel("ConcatV2", host_memory=("axis",))
def _concat_v2(ctx):
    return lambda *args: _concat(ctx, args[:-1], args[-1])


@kernel("Concat", host_memory=("concat_dim",))
def _concat_v1(ctx):
    return lambda axis, *values: _concat(ctx, values, axis)


@kernel("ParallelConcat")
def _parallel_concat(ctx):
    return lambda *values: ctx.xp.concatenate(values, axis=0)


@kernel("Pack")
def _pack(ctx):
    xp, axis = ctx.xp, ctx.attr("axis", 0)

    def run(*values):
        s0 = values[0].shape
        for i, v in enumerate(values):
            if v.shape != s0:
                raise _err(ctx, f"Shapes of all inputs must match: values[0].shape = "
                                f"{_shape_str(s0)} != values[{i}].shape = {_shape_str(v.shape)}")
        r = len(s0) + 1
        if not -r <= axis < r:
            raise _err(ctx, f"axis = {axis} not in [{-r}, {r})")
        return xp.stack(values, axis=axis + r if axis < 0 else axis)

    return run


@kernel("Unpack")
def _unpack(ctx):
    num, axis = ctx.attr("num"), ctx.attr("axis", 0)

    def run(x):
        r = x.ndim
        if not -r <= axis < r:
            raise _err(ctx, f"axis = {axis} not in [{-r}, {r})")
        a = axis + r if axis < 0 else axis
        if x.shape[a] != num:
            raise _err(ctx, f"Input shape axis {a} must equal {num}, got shape "
                            f"{_shape_str(x.shape)}")
        lead = (slice(None),) * a
        return [x[lead + (i,)] for i in range(num)]

    return run


def _split_axis(ctx, axis, x) -> int:
    a, r = _scalar(axis), x.ndim
    if not -r <= a < r:
        raise _err(ctx, f"-input rank(-{r}) <= split_dim < input rank ({r}), but got {a}")
    return a + r if a < 0 else a


@kernel("Split", host_memory=("split_dim",))
def _split(ctx):
    num = ctx.attr("num_split")

    def run(axis, x):
        a = _split_axis(ctx, axis, x)
        if x.shape[a] % num:
            raise _err(ctx, f"Number of ways to split should evenly divide the split dimension, "
                            f"but got split_dim {a} (size = {x.shape[a]}) and num_split {num}")
        k = x.shape[a] // num
        index = [slice(None)] * x.ndim
        out = []
        for i in range(num):  # views, as xp.split gives, without its Python-level bookkeeping
            index[a] = slice(i * k, (i + 1) * k)
            out.append(x[tuple(index)])
        return out

    return run


@kernel("SplitV", host_memory=("size_splits", "split_dim"))
def _split_v(ctx):
    num = ctx.attr("num_split")

    def run(x, size_splits, axis):
        a = _split_axis(ctx, axis, x)
        sizes, n = _ints(size_splits), x.shape[a]
        if len(sizes) != num:
            raise _err(ctx, f"Number of split sizes ({len(sizes)}) must equal num_split ({num})")
        unknown = [i for i, s in enumerate(sizes) if s == -1]
        if len(unknown) > 1:
            raise _err(ctx, "There can only be one -1 in the input.")
        for i, s in enumerate(sizes):
            if s < -1:
                raise _err(ctx, f"Split size at index {i} must be >= 0. Got: {s}")
        known = sum(s for s in sizes if s != -1)
        if (unknown and known > n) or (not unknown and known != n):
            raise _err(ctx, "Determined shape must either match input shape along split_dim "
                            "exactly if fully specified, or be less than the size of the input "
                            f"along split_dim if not fully specified.  Got: {known}")
        if unknown:
            sizes[unknown[0]] = n - known
        lead, out, start = (slice(None),) * a, [], 0
        for s in sizes:
            out.append(x[lead + (slice(start, start + s),)])
            start += s
        return out

    return run


# -- gather ----------------------------------------------------------------------------------------
def _check_indices(ctx, xp, indices, limit):
    """TF CPU's bounds check (CuPy would wrap out-of-range indices silently)."""
    if indices.size == 0:
        return
    bad = (indices < 0) | (indices >= limit)
    if bool(bad.any()):
        where = xp.argwhere(bad)[0] if indices.ndim else []
        at = ",".join(str(int(i)) for i in (where.tolist() if len(where) else []))
        value = int(indices[tuple(int(i) for i in where)]) if indices.ndim else int(indices)
        raise _err(ctx, f"indices[{at}] = {value} is not in [0, {limit})")


def take_unchecked(xp, params, indices, axis=0, batch_dims=0, take=None):
    """``take(params, indices)`` (``xp.take`` along ``axis`` by default) with the output zero
    where an index is out of range, as TF's GPU gathers give, and no host synchronisation."""
    limit = params.shape[axis]
    bad = (indices < 0) | (indices >= limit)
    b, r = batch_dims, params.ndim
    out_shape = params.shape[:axis] + indices.shape[b:] + params.shape[axis + 1:]
    if limit == 0:
        return xp.zeros(out_shape, params.dtype)
    safe = xp.where(bad, 0, indices)
    out = take(params, safe) if take is not None else xp.take(params, safe, axis=axis)
    mask = bad.reshape(indices.shape[:b] + (1,) * (axis - b) + indices.shape[b:] +
                       (1,) * (r - axis - 1))
    return xp.where(mask, xp.zeros((), params.dtype), out)


def _gather(ctx, xp, params, indices, axis, batch_dims, check=True):
    r = params.ndim
    if r == 0:
        raise _err(ctx, "params must be at least 1 dimensional")
    a = _axis(ctx, axis, r)
    b = batch_dims + indices.ndim if batch_dims < 0 else batch_dims
    if b and (b > a or b > indices.ndim or params.shape[:b] != indices.shape[:b]):
        raise _err(ctx, f"batch_dims ({batch_dims}) must be <= axis ({a}) and the first "
                        f"batch_dims dimensions of params {_shape_str(params.shape)} and indices "
                        f"{_shape_str(indices.shape)} must match")
    if check and is_cupy(xp) and indices.size:  # as TF on GPU: zeros, no check
        return take_unchecked(xp, params, indices, a, b, None if b == 0 else
                              lambda p, i: _gather(ctx, xp, p, i, a, b, check=False))
    if check:
        _check_indices(ctx, xp, indices, params.shape[a])
    if b == 0:
        return xp.take(params, indices, axis=a)
    out_shape = params.shape[:a] + indices.shape[b:] + params.shape[a + 1:]
    n = int(np.prod(params.shape[:b], dtype=np.int64))
    if n == 0:
        return xp.empty(out_shape, dtype=params.dtype)
    p = params.reshape((n,) + params.shape[b:])
    ind = indices.reshape((n,) + indices.shape[b:])
    parts = [xp.take(p[i], ind[i], axis=a - b) for i in range(n)]
    return xp.stack(parts).reshape(out_shape)


@kernel("GatherV2", host_memory=("axis",))
def _gather_v2(ctx):
    xp, batch_dims = ctx.xp, ctx.attr("batch_dims", 0)

    def run(params, indices, axis):
        return _gather(ctx, xp, params, indices, _scalar(axis), batch_dims)

    return run


@kernel("Gather")
def _gather_v1(ctx):
    xp = ctx.xp
    return lambda params, indices: _gather(ctx, xp, params, indices, 0, 0)


@kernel("GatherNd")
def _gather_nd(ctx):
    xp, name = ctx.xp, ctx.name

    def run(params, indices):
        if indices.ndim == 0:
            raise _err(ctx, "indices must be at least a vector")
        k = indices.shape[-1]
        if k > params.ndim:
            raise _err(ctx, f"index innermost dimension length must be <= params rank; saw: "
                            f"{k} vs. {params.ndim}")
        batch = indices.shape[:-1]
        flat = indices.reshape(-1, k)
        limits = xp.asarray(np.array(params.shape[:k], dtype=np.int64))
        if flat.size:
            bad = ((flat < 0) | (flat >= limits)).any(axis=1)
            if bool(bad.any()):
                i = int(xp.argwhere(bad)[0][0])
                at = ",".join(str(int(v)) for v in np.unravel_index(i, batch)) if batch else ""
                raise _err(ctx, f"indices[{at}] = [{', '.join(str(v) for v in _ints(flat[i]))}] "
                                f"does not index into param shape {_shape_str(params.shape)}, "
                                f"node name: {name}")
        out_shape = batch + params.shape[k:]
        if k == 0:
            return xp.array(xp.broadcast_to(params, out_shape), copy=True)
        return params[tuple(flat[:, j] for j in range(k))].reshape(out_shape)

    return run


@kernel("ScatterNd")
def _scatter_nd(ctx):
    """Zeros of ``shape`` with ``updates`` added at ``indices`` (duplicates summed)."""
    from gmeta.kernels.grad_support import scatter_at

    xp, name = ctx.xp, ctx.name

    def run(indices, updates, shape):
        dims = _ints(shape)
        if shape.ndim != 1:
            raise _err(ctx, f"Shape must be a vector, got shape {_shape_str(shape.shape)}")
        if indices.ndim < 1:
            raise _err(ctx, f"Indices shape must have rank at least one. Found:"
                            f"{_shape_str(indices.shape)}")
        k = indices.shape[-1]
        batch = indices.shape[:-1]
        if k > len(dims):
            raise _err(ctx, f"Index innermost dimension length must be <= output rank; saw: "
                            f"{k} vs. {len(dims)}")
        want = tuple(batch) + tuple(dims[k:])
        if tuple(updates.shape) != want:
            raise _err(ctx, f"updates has shape {_shape_str(updates.shape)} but the indices "
                            f"(shape {_shape_str(indices.shape)}) and output shape "
                            f"{_shape_str(dims)} require {_shape_str(want)}")
        out = xp.zeros(dims, updates.dtype)
        flat = indices.reshape(-1, k)
        if flat.shape[0] == 0:
            return out
        limits = xp.asarray(np.array(dims[:k], dtype=np.int64))
        bad = ((flat < 0) | (flat >= limits)).any(axis=1)
        if bool(bad.any()):
            i = int(xp.argwhere(bad)[0][0])
            at = ",".join(str(int(v)) for v in np.unravel_index(i, batch)) if batch else ""
            raise _err(ctx, f"indices[{at}] = [{', '.join(str(v) for v in _ints(flat[i]))}] "
                            f"does not index into shape {_shape_str(dims)}, node name: {name}")
        values = updates.reshape((flat.shape[0],) + tuple(dims[k:]))
        scatter_at(xp, "add", out, tuple(flat[:, j] for j in range(k)), values)
        return out

    return run


@kernel("ListDiff")
def _list_diff(ctx):
    """The values of ``x`` not in ``y``, in ``x``'s order, and their positions in ``x``."""
    xp = ctx.xp
    idx_dtype = ctx.output_np_dtype(1)

    def run(x, y):
        if x.ndim != 1 or y.ndim != 1:
            raise _err(ctx, f"x should be a 1D vector, y should be a 1D vector; got shapes "
                            f"{_shape_str(x.shape)} and {_shape_str(y.shape)}")
        keep = ~xp.isin(x, y)
        return x[keep], xp.nonzero(keep)[0].astype(idx_dtype)

    return run


# -- slicing ---------------------------------------------------------------------------------------
@kernel("Slice", host_memory=("begin", "size"))
def _slice(ctx):
    cache: dict = {}  # (shape, begin, size) -> the checked index, for repeated slicings

    def run(x, begin, size):
        key = (x.shape, begin.shape, size.shape, begin.dtype.char, size.dtype.char,
               begin.tobytes(), size.tobytes())
        index = cache.get(key)
        if index is None:
            index = _slice_index(x, begin, size)
            if len(cache) < 64:
                cache[key] = index
        return x[index]

    def _slice_index(x, begin, size):
        b, s = _ints(begin), _ints(size)
        if begin.ndim != 1 or size.ndim != 1 or len(b) != x.ndim or len(s) != x.ndim:
            raise _err(ctx, f"Expected begin and size arguments to be 1-D tensors of size "
                            f"{x.ndim}, but got shapes {_shape_str(begin.shape)} and "
                            f"{_shape_str(size.shape)} instead.")
        index = []
        for i, dim in enumerate(x.shape):
            bi = b[i]
            si = dim - bi if s[i] == -1 else s[i]
            if not 0 <= bi <= dim:
                raise _err(ctx, f"Expected begin[{i}] in [0, {dim}], but got {bi}")
            if not 0 <= si <= dim - bi:
                raise _err(ctx, f"Expected size[{i}] in [0, {dim - bi}], but got {si}")
            index.append(slice(bi, bi + si))
        return tuple(index)

    return run


@kernel("StridedSlice", host_memory=("begin", "end", "strides"))
def _strided_slice(ctx):
    from gmeta.ops.array_ops import strided_slice_plan

    masks = tuple(ctx.attr(k, 0) for k in ("begin_mask", "end_mask", "ellipsis_mask",
                                            "new_axis_mask", "shrink_axis_mask"))
    cache: dict = {}

    def run(x, begin, end, strides):
        key = (x.shape, tuple(_ints(begin)), tuple(_ints(end)), tuple(_ints(strides)))
        plan = cache.get(key)
        if plan is None:
            if begin.ndim != 1 or end.ndim != 1 or strides.ndim != 1:
                raise _err(ctx, f"Expected begin, end, and strides to be 1D equal size tensors, "
                                f"but got shapes {_shape_str(begin.shape)}, "
                                f"{_shape_str(end.shape)}, and {_shape_str(strides.shape)} "
                                "instead.")
            try:
                plan = strided_slice_plan(list(x.shape), list(key[1]), list(key[2]),
                                          list(key[3]), masks)
            except ValueError as e:
                raise _err(ctx, str(e)) from None
            if len(cache) < 64:
                cache[key] = plan
        return plan.apply(x)

    return run


# -- transposes, reversal, padding -----------------------------------------------------------------
def _perm(ctx, x, perm) -> list:
    p, r = _ints(perm), x.ndim
    if perm.ndim != 1:
        raise _err(ctx, f"perm must be a vector, not {_shape_str(perm.shape)}")
    if len(p) != r:
        raise _err(ctx, f"transpose expects a vector of size {r}. But input(1) is a vector of "
                        f"size {len(p)}")
    out = []
    for d in p:
        d = d + r if d < 0 else d
        if not 0 <= d < r:
            raise _err(ctx, f"{d} is out of range [0 .. {r})")
        out.append(d)
    for i in range(r):
        if i not in out:
            raise _err(ctx, f"{i} is missing from {{{','.join(str(d) for d in p)}}}.")
    return out


@kernel("Transpose", host_memory=("perm",))
def _transpose(ctx):
    xp = ctx.xp
    return lambda x, perm: xp.transpose(x, _perm(ctx, x, perm))


@kernel("ConjugateTranspose")
def _conjugate_transpose(ctx):
    xp = ctx.xp
    return lambda x, perm: xp.conj(xp.transpose(x, _perm(ctx, x, perm)))


@kernel("ReverseV2", host_memory=("axis",))
def _reverse_v2(ctx):
    xp = ctx.xp

    def run(x, axis):
        r, seen = x.ndim, []
        for a in _ints(axis):
            if not -r <= a < r:
                raise _err(ctx, f"'axis'[{len(seen)}] = {a} is out of valid range [0, {r - 1}]")
            a = a + r if a < 0 else a
            if a in seen:
                raise _err(ctx, f"axis {a} specified more than once.")
            seen.append(a)
        return xp.flip(x, axis=tuple(seen)) if seen else x

    return run


def _paddings(ctx, x, paddings) -> list:
    p = _ints(paddings)
    if paddings.ndim != 2 or paddings.shape[1] != 2 or paddings.shape[0] != x.ndim:
        raise _err(ctx, f"The first dimension of paddings must be the rank of inputs"
                        f"{_shape_str(paddings.shape)} {_shape_str(x.shape)}")
    pairs = [(p[2 * i], p[2 * i + 1]) for i in range(x.ndim)]
    for a, b in pairs:
        if a < 0 or b < 0:
            raise _err(ctx, f"Paddings must be non-negative: {a} {b}")
    return pairs


@kernel("Pad", host_memory=("paddings",))
def _pad(ctx):
    xp = ctx.xp
    return lambda x, paddings: xp.pad(x, _paddings(ctx, x, paddings))


@kernel("PadV2", host_memory=("paddings",))
def _pad_v2(ctx):
    xp = ctx.xp

    def run(x, paddings, constant_values):
        if constant_values.ndim != 0:
            raise _err(ctx, f"constant_values must be a scalar. Got: "
                            f"{_shape_str(constant_values.shape)}")
        return xp.pad(x, _paddings(ctx, x, paddings), constant_values=constant_values.item())

    return run


@kernel("MirrorPad", host_memory=("paddings",))
def _mirror_pad(ctx):
    xp = ctx.xp
    mode = ctx.attr("mode", b"REFLECT")
    mode = (mode.decode() if isinstance(mode, bytes) else str(mode)).upper()
    offset = 1 if mode == "REFLECT" else 0

    def run(x, paddings):
        pairs = _paddings(ctx, x, paddings)
        for i, (a, b) in enumerate(pairs):
            dim = x.shape[i]
            if offset and (a >= dim or b >= dim):
                raise _err(ctx, f"paddings must be less than the dimension size: {a}, {b} not "
                                f"less than {dim}")
            if a > dim or b > dim:
                raise _err(ctx, f"paddings must be no greater than the dimension size: {a}, {b} "
                                f"greater than {dim}")
        return xp.pad(x, pairs, mode="reflect" if offset else "symmetric")

    return run


# -- where, one_hot --------------------------------------------------------------------------------
@kernel("Where")
def _where(ctx):
    xp = ctx.xp

    def run(condition):
        if condition.ndim == 0:
            raise _err(ctx, "WhereOp : Unhandled input dimensions: 0")
        return xp.argwhere(condition).astype(np.int64, copy=False)

    return run


@kernel("OneHot", host_memory=("depth",))
def _one_hot(ctx):
    xp, axis = ctx.xp, ctx.attr("axis", -1)

    def run(indices, depth, on_value, off_value):
        d = _scalar(depth)
        if d < 0:
            raise _err(ctx, f"depth must be non-negative, got: {d}")
        for v, what in ((on_value, "on_value"), (off_value, "off_value")):
            if v.ndim != 0:
                raise _err(ctx, f"{what} must be a scalar, but got: {_shape_str(v.shape)}")
        r = indices.ndim
        if axis != -1 and not 0 <= axis <= r:
            raise _err(ctx, f"Expected axis to be -1 or between [0, {r + 1}).  But received: "
                            f"{axis}")
        hot = indices[..., None] == xp.arange(d)
        out = xp.where(hot, on_value, off_value)
        return out if axis in (-1, r) else xp.moveaxis(out, -1, axis)

    return run
