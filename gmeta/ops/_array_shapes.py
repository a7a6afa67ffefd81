"""Static shapes of the array ops (TF's C++ shape functions) and the build-time partial
evaluators that shape inference uses (``Shape`` of a known shape, ``Pack`` of constants, ...).

Both register with ``gmeta.framework.shape_inference`` on import; ``gmeta.ops.array_ops``
imports this module, so building any array op has them in place.
"""

from __future__ import annotations

import functools

import numpy as np

from gmeta.framework import shape_inference as _si
from gmeta.ops._strided_slice import strided_slice_plan

# == static shapes: TF's C++ shape functions ======================================================
_MAX_FOLD = 100000  # largest value (in elements) the build-time partial evaluators compute


def _value(t):
    return _si.constant_value(t)


def _mul_dim(a, b):
    """TF's InferenceContext::Multiply: 0 and 1 win over unknown."""
    if a == 0 or b == 0:
        return 0
    if a == 1:
        return b
    if b == 1:
        return a
    return None if a is None or b is None else a * b


def _add_dim(a, b):
    return None if a is None or b is None else a + b


def _merge_dims(a, b):
    if a is None or b is None:
        return a if b is None else b
    if a != b:
        raise ValueError(f"Dimensions must be equal, but are {a} and {b}")
    return a


def _merge_lists(a, b):
    """Merges two dim lists (None = unknown rank)."""
    if a is None or b is None:
        return a if b is None else b
    if len(a) != len(b):
        raise ValueError(f"Shapes must be equal rank, but are {len(a)} and {len(b)}")
    return [_merge_dims(x, y) for x, y in zip(a, b)]


def _check_rank(t, rank, what):
    nd = t.shape.ndims
    if nd is not None and nd != rank:
        raise ValueError(f"Shape must be rank {rank} but is rank {nd} for {what}")


def _int_list(value):
    return [int(v) for v in np.asarray(value).ravel()]


@_si.register("Reshape")
def _reshape_shape(op):
    x, shape_t = op.inputs
    _check_rank(shape_t, 1, "the shape input of Reshape")
    value = _value(shape_t)
    if value is not None:
        bad = [v for v in _int_list(value) if v < -1]
        if bad:
            raise ValueError(f"Invalid value in tensor used for shape: {bad[0]}")
    out = _si.constant_value_as_shape(shape_t)
    if out.ndims is None or x.shape.ndims is None:
        return [out]
    o, i = out.as_list(), x.shape.as_list()

    def known(dims):
        unknown, prod = -1, 1
        for k, d in enumerate(dims):
            if d is None:
                if unknown >= 0:
                    return unknown, prod, True
                unknown = k
            else:
                prod *= d
        return unknown, prod, False

    ou, ok, many_o = known(o)
    iu, ik, many_i = known(i)
    if many_o or many_i:
        return [o]
    if iu < 0 and ou < 0 and ik != ok:
        raise ValueError(f"Cannot reshape a tensor with {ik} elements to shape {o} ({ok} "
                         "elements)")
    if iu < 0 <= ou and ok > 0:
        if ik % ok:
            raise ValueError(f"Cannot reshape a tensor with {ik} elements to shape {out}: the "
                             f"number of elements must be divisible by {ok}")
        o[ou] = ik // ok
    elif ou < 0 <= iu and ik != 0 and ok % ik:
        raise ValueError(f"Cannot reshape a tensor with a multiple of {ik} elements to shape "
                         f"{o} ({ok} elements)")
    return [o]


@_si.register("Shape")
def _shape_shape(op):
    return [[op.inputs[0].shape.ndims]]


@_si.register("ShapeN")
def _shape_n_shape(op):
    return [[t.shape.ndims] for t in op.inputs]


@_si.register("Size", "Rank")
def _scalar_shape(op):
    return [[]]


@_si.register("Fill")
def _fill_shape(op):
    dims_t, value_t = op.inputs
    _check_rank(dims_t, 1, "the dims input of Fill")
    _check_rank(value_t, 0, "the value input of Fill")
    value = _value(dims_t)
    if value is not None and any(v < 0 for v in _int_list(value)):
        raise ValueError("Fill dimensions must be >= 0")
    return [_si.constant_value_as_shape(dims_t)]


@_si.register("ZerosLike", "OnesLike", "ReverseV2")
def _like_shape(op):
    return [op.inputs[0].shape]


@_si.register("Tile")
def _tile_shape(op):
    x, m = op.inputs
    _check_rank(m, 1, "the multiples input of Tile")
    mult = _si.constant_value_as_shape(m)
    rank_ = x.shape.ndims
    if rank_ is not None:
        if mult.ndims is not None and mult.ndims != rank_:
            raise ValueError(f"Shape must be rank {rank_} but is rank {mult.ndims}: multiples "
                             f"has {mult.ndims} entries for an input of rank {rank_}")
        mult = mult.with_rank(rank_)
    if mult.ndims is None:
        return [None]
    dims = x.shape.dims or [None] * mult.ndims
    return [[_mul_dim(d, k) for d, k in zip(dims, mult.as_list())]]


@_si.register("ExpandDims")
def _expand_dims_shape(op):
    x, dim_t = op.inputs
    value = _value(dim_t)
    if value is None:
        return [None]
    if value.size != 1:
        raise ValueError("'dim' input must be a tensor with a single value")
    d, r = int(value.ravel()[0]), x.shape.ndims
    if r is None:
        return [None]
    if d < -r - 1 or d > r:
        raise ValueError(f"dim {d} not in the interval [{-r - 1}, {r}].")
    d = d + r + 1 if d < 0 else d
    dims = x.shape.as_list()
    return [dims[:d] + [1] + dims[d:]]


@_si.register("Squeeze")
def _squeeze_shape(op):
    s = op.inputs[0].shape
    if s.ndims is None:
        return [None]
    r = s.ndims
    axes = set()
    for a in op._attr("squeeze_dims", []) or []:
        if a < -r or a >= r:
            raise ValueError(f"Tried to squeeze dim index {a} for tensor with {r} dimensions.")
        axes.add(a + r if a < 0 else a)
    out = []
    for i, d in enumerate(s.as_list()):
        if d is None:
            if i in axes:
                continue
            if not axes:
                return [None]
        elif d == 1:
            if i in axes or not axes:
                continue
        elif i in axes:
            raise ValueError(f"Can not squeeze dim[{i}], expected a dimension of 1, got {d}")
        out.append(d)
    return [out]


def _concat_shape(values, axis_t):
    value = _value(axis_t)
    if value is None:
        r = None
        for t in values:
            nd = t.shape.ndims
            if r is None:
                r = nd
            elif nd is not None and nd != r:
                raise ValueError(f"Shape must be rank {r} but is rank {nd}")
        if r == 0:
            raise ValueError("Can't concatenate scalars (use tf.stack instead)")
        return [None if r is None else [None] * r]
    axis = int(value)
    min_rank = -axis if axis < 0 else axis + 1
    before, middle, after = None, 0, None
    for t in values:
        dims = t.shape.dims
        if dims is None:
            middle = None
            continue
        if len(dims) < min_rank:
            raise ValueError(f"Shape must be at least rank {min_rank} but is rank {len(dims)}")
        try:
            before = _merge_lists(before, dims[:axis])
            after = _merge_lists(after, dims[axis + 1:] if axis != -1 else [])
        except ValueError as e:
            raise ValueError(f"{e}: the inputs of ConcatV2 must have equal dimensions except "
                             f"along axis {axis}") from None
        middle = _add_dim(middle, dims[axis])
    if before is None or after is None:
        return [None]
    return [before + [middle] + after]


@_si.register("ConcatV2")
def _concat_v2_shape(op):
    return _concat_shape(op.inputs[:-1], op.inputs[-1])


@_si.register("Concat")
def _concat_v1_shape(op):
    return _concat_shape(op.inputs[1:], op.inputs[0])


@_si.register("ParallelConcat")
def _parallel_concat_shape(op):
    return [op._attr("shape")]


@_si.register("Pack")
def _pack_shape(op):
    cur = None
    for i, t in enumerate(op.inputs):
        try:
            cur = _merge_lists(cur, t.shape.dims)
        except ValueError:
            raise ValueError(f"Shapes of all inputs must match: values[0].shape = "
                             f"{op.inputs[0].shape} != values[{i}].shape = {t.shape}") from None
    if cur is None:
        return [None]
    axis, r = op._attr("axis", 0), len(cur) + 1
    if axis < -r or axis >= r:
        raise ValueError(f"Invalid axis: {axis}; must be in [{-r},{r})")
    axis = axis + r if axis < 0 else axis
    return [cur[:axis] + [len(op.inputs)] + cur[axis:]]


@_si.register("Unpack")
def _unpack_shape(op):
    s, n = op.inputs[0].shape, len(op.outputs)
    if s.ndims is None:
        return [None] * n
    axis, r = op._attr("axis", 0), s.ndims
    if axis < -r or axis >= r:
        raise ValueError(f"Invalid axis: {axis}; must be in [{-r},{r})")
    axis = axis + r if axis < 0 else axis
    dims = s.as_list()
    if dims[axis] is not None and dims[axis] != n:
        raise ValueError(f"Dimension must be {n} but is {dims[axis]} (axis {axis} of input "
                         f"shape {s} to Unpack with num={n})")
    return [dims[:axis] + dims[axis + 1:]] * n


def _gather_shape(params, indices, axis, batch_dims):
    p, i = params.shape, indices.shape
    if p.ndims == 0:
        raise ValueError("Shape must be at least rank 1 but is rank 0 for the params of Gather")
    if axis is None:
        if p.ndims is not None and i.ndims is not None:
            return [[None] * (p.ndims + i.ndims - 1 - batch_dims)]
        return [None]
    if p.ndims is not None and p.ndims < (-axis if axis < 0 else axis + 1):
        raise ValueError(f"Shape must be at least rank {axis + 1} but is rank {p.ndims}")
    if batch_dims < 0 and i.ndims is not None:
        batch_dims += i.ndims
    if p.ndims is None or i.ndims is None:
        return [None]
    pd, idims = p.as_list(), i.as_list()
    out = pd[:axis] + idims[batch_dims:]
    if axis != -1:
        out += pd[axis + 1:]
    return [out]


@_si.register("GatherV2")
def _gather_v2_shape(op):
    params, indices, axis_t = op.inputs
    _check_rank(axis_t, 0, "the axis of GatherV2")
    value = _value(axis_t)
    return _gather_shape(params, indices, None if value is None else int(value),
                         op._attr("batch_dims", 0))


@_si.register("Gather")
def _gather_v1_shape(op):
    return _gather_shape(op.inputs[0], op.inputs[1], 0, 0)


@_si.register("GatherNd")
def _gather_nd_shape(op):
    p, i = op.inputs[0].shape, op.inputs[1].shape
    if p.ndims is None or i.ndims is None or i[-1] is None:
        return [None]
    if i[-1] > p.ndims:
        raise ValueError(f"indices.shape[-1] must be <= params.rank, but saw indices shape: "
                         f"{i} and params shape: {p}")
    return [i.as_list()[:-1] + p.as_list()[i[-1]:]]


@_si.register("Slice")
def _slice_shape(op):
    x, begin_t, size_t = op.inputs
    _check_rank(begin_t, 1, "the begin input of Slice")
    _check_rank(size_t, 1, "the size input of Slice")
    n = begin_t.shape[0] if begin_t.shape.ndims else None
    n = n if n is not None else (size_t.shape[0] if size_t.shape.ndims else None)
    in_dims = x.shape.dims
    if n is not None and in_dims is not None and len(in_dims) != n:
        raise ValueError(f"Shape must be rank {n} but is rank {len(in_dims)} for the input of "
                         "Slice")
    begin = _si.constant_value_as_shape(begin_t)
    sizes = _value(size_t)
    if sizes is not None:
        sizes = _int_list(sizes)
        begin = begin.with_rank(len(sizes)).as_list()
        in_dims = in_dims or [None] * len(sizes)
        out = []
        for i, s in enumerate(sizes):
            if s < -1:
                raise ValueError(f"Out of bounds slicing on dimension {i} of length "
                                 f"{in_dims[i]}: sizes vector cannot be < -1, but was {s}")
            if s != -1:
                out.append(s)
            elif in_dims[i] is None or begin[i] is None:
                out.append(None)
            elif in_dims[i] < begin[i]:
                raise ValueError(f"Negative dimension size caused by subtracting {begin[i]} "
                                 f"from {in_dims[i]}")
            else:
                out.append(in_dims[i] - begin[i])
        return [out]
    partial = _si.constant_value_as_shape(size_t)
    if partial.ndims is not None:
        return [partial]
    return [None if in_dims is None else [None] * len(in_dims)]


@_si.register("StridedSlice")
def _strided_slice_shape(op):
    x, begin_t, end_t, strides_t = op.inputs
    for t, what in ((begin_t, "begin"), (end_t, "end"), (strides_t, "strides")):
        _check_rank(t, 1, f"the {what} input of StridedSlice")
    strides = _value(strides_t)
    if x.shape.ndims is None or begin_t.shape.ndims is None or begin_t.shape[0] is None or \
            strides is None:
        return [None]
    begin, end = _value(begin_t), _value(end_t)
    plan = strided_slice_plan(
        x.shape.as_list(), None if begin is None else _int_list(begin),
        None if end is None else _int_list(end), _int_list(strides), _ss_masks(op))
    return [plan.final_shape]


def _ss_masks(op):
    return tuple(op._attr(k, 0) for k in ("begin_mask", "end_mask", "ellipsis_mask",
                                           "new_axis_mask", "shrink_axis_mask"))


@_si.register("Transpose", "ConjugateTranspose")
def _transpose_shape(op):
    x, perm_t = op.inputs
    s = x.shape
    perm = _value(perm_t)
    n_perm = perm_t.shape[0] if perm_t.shape.ndims == 1 else None
    if s.ndims is None and n_perm is None and perm is None:
        return [None]
    r = s.ndims if s.ndims is not None else (n_perm if n_perm is not None else perm.size)
    if s.ndims is None and r < 2:
        return [s]
    if s.ndims is not None and n_perm is not None and n_perm != r:
        raise ValueError(f"Dimension must be {r} but is {n_perm} for the perm of Transpose "
                         f"with input shape {s}")
    if perm is None:
        return [[None] * r]
    dims = s.dims or [None] * r
    out = []
    for p in _int_list(perm):
        if p >= r or p < -r:
            raise ValueError(f"perm dim {p} is out of range of input rank {r}")
        out.append(dims[p])
    return [out]


@_si.register("Where")
def _where_shape(op):
    return [[None, op.inputs[0].shape.ndims]]


@_si.register("OneHot")
def _one_hot_shape(op):
    indices, depth_t = op.inputs[0], op.inputs[1]
    axis = op._attr("axis", -1)
    if axis < -1:
        raise ValueError("axis must be >= -1")
    _check_rank(depth_t, 0, "the depth of OneHot")
    value = _value(depth_t)
    depth = None if value is None else int(value)
    if depth is not None and depth < 0:
        raise ValueError(f"Dimension size, given by scalar input 1, must be non-negative but "
                         f"is {depth}")
    if indices.shape.ndims is None:
        return [None]
    dims = indices.shape.as_list()
    at = (axis + len(dims) + 1) % (len(dims) + 1)
    return [dims[:at] + [depth] + dims[at:]]


def _split_axis(axis_t, r):
    value = _value(axis_t)
    if value is None:
        return None
    d = int(value)
    if d < 0:
        if r is None:
            return None
        if d + r < 0:
            raise ValueError(f"Dimension size, given by scalar input {d} must be in range "
                             f"[-{r}, {r})")
        d += r
    elif r is not None and d >= r:
        raise ValueError(f"Dimension size, given by scalar input {d} must be in range "
                         f"[-{r}, {r})")
    return d


@_si.register("Split")
def _split_shape(op):
    axis_t, x = op.inputs
    n, s = len(op.outputs), x.shape
    d = _split_axis(axis_t, s.ndims)
    if d is None or s.ndims is None:
        return [None if s.ndims is None else [None] * s.ndims] * n
    dims = s.as_list()
    if dims[d] is not None:
        if dims[d] % n:
            raise ValueError(f"Number of ways to split should evenly divide the split dimension, "
                             f"but got split_dim {d} (size = {dims[d]}) and num_split {n}")
        dims[d] //= n
    return [dims] * n


@_si.register("SplitV")
def _split_v_shape(op):
    x, sizes_t, axis_t = op.inputs
    n, s = len(op.outputs), x.shape
    if s.ndims is None:
        return [None] * n
    if s.ndims == 0:
        raise ValueError("Can't split scalars")
    d = _split_axis(axis_t, s.ndims)
    sizes = _value(sizes_t)
    if d is None:
        return [[None] * s.ndims] * n
    dims = s.as_list()
    if sizes is None:
        return [dims[:d] + [None] + dims[d + 1:]] * n
    sizes = _int_list(sizes)
    if len(sizes) != n:
        raise ValueError("Length of size_splits should be equal to num_outputs")
    if sizes.count(-1) > 1:
        raise ValueError("size_splits can only have one -1")
    total, full = sum(v for v in sizes if v != -1), dims[d]
    out = []
    for i, v in enumerate(sizes):
        if v == -1 and full is not None:
            v = full - total
        if v < -1 or (v == -1 and full is not None):
            raise ValueError(f"Split size at index {i} must be >= 0. Got: {v}")
        out.append(dims[:d] + [None if v == -1 else v] + dims[d + 1:])
    if full is not None and (total > full if -1 in sizes else total != full):
        raise ValueError(f"can't split axis of size {full} into pieces of size "
                         f"[{','.join(str(v) for v in sizes)}]")
    return out


@_si.register("Pad", "PadV2", "MirrorPad")
def _pad_shape(op):
    x, pads_t = op.inputs[0], op.inputs[1]
    _check_rank(pads_t, 2, "the paddings of Pad")
    n = pads_t.shape[0] if pads_t.shape.ndims == 2 else None
    if n is not None and x.shape.ndims is not None and n != x.shape.ndims:
        raise ValueError(f"Shape must be rank {n} but is rank {x.shape.ndims} for the input of "
                         "Pad")
    n = n if n is not None else x.shape.ndims
    pads = _value(pads_t)
    if pads is None:
        return [None if n is None else [None] * n]
    pads = np.asarray(pads).reshape(-1, 2)
    if (pads < 0).any():
        raise ValueError("Paddings must be non-negative")
    dims = x.shape.dims or [None] * len(pads)
    return [[_add_dim(d, int(a) + int(b)) for d, (a, b) in zip(dims, pads)]]


@_si.register("BroadcastTo")
def _broadcast_to_shape(op):
    x, shape_t = op.inputs
    _check_rank(shape_t, 1, "the shape input of BroadcastTo")
    out = _si.constant_value_as_shape(shape_t)
    if out.ndims is None or x.shape.ndims is None:
        return [out]
    o, i = out.as_list(), x.shape.as_list()
    if len(i) > len(o):
        raise ValueError(f"Shape must be at most rank {len(o)} but is rank {len(i)}")
    for k in range(1, len(i) + 1):
        if i[-k] is not None and i[-k] > 1:
            try:
                o[-k] = _merge_dims(i[-k], o[-k])
            except ValueError:
                raise ValueError(f"Incompatible shapes for BroadcastTo: {x.shape} vs. "
                                 f"{out}") from None
    return [o]


@_si.register("BroadcastArgs")
def _broadcast_args_shape(op):
    a, b = (t.shape[0] if t.shape.ndims == 1 else None for t in op.inputs)
    return [[None if a is None or b is None else max(a, b)]]


# == build-time partial evaluation (what TF's shape inference can constant-fold) ==================
def _values(tensors):
    vals = [_value(t) for t in tensors]
    return None if any(v is None for v in vals) else vals


def _np_dtype(t):
    return t.dtype.base_dtype.as_numpy_dtype


def _register_fold(*op_types):
    """Registers ``fn(t, values)`` as the partial evaluator of ``op_types`` for when all the
    op's inputs have known values (``values``); the value is unknown (None) otherwise."""

    def deco(fn):
        @functools.wraps(fn)
        def evaluate(t):
            vals = _values(t.op.inputs)
            return None if vals is None else fn(t, vals)

        _si.register_constant(*op_types)(evaluate)
        return fn

    return deco


@_si.register_constant("Shape", "ShapeN")
def _shape_value(t):
    s = t.op.inputs[t.value_index].shape
    return np.array(s.as_list(), _np_dtype(t)) if s.is_fully_defined() else None


@_si.register_constant("Size")
def _size_value(t):
    s = t.op.inputs[0].shape
    return np.array(s.num_elements(), _np_dtype(t)) if s.is_fully_defined() else None


@_si.register_constant("Rank")
def _rank_value(t):
    nd = t.op.inputs[0].shape.ndims
    return None if nd is None else np.array(nd, np.int32)


@_register_fold("Pack")
def _pack_value(t, vals):
    return np.stack(vals, axis=t.op._attr("axis", 0))


@_si.register_constant("Unpack")
def _unpack_value(t):
    v = _value(t.op.inputs[0])
    return None if v is None else np.take(v, t.value_index, axis=t.op._attr("axis", 0))


@_register_fold("ConcatV2")
def _concat_value(t, vals):
    return np.concatenate(vals[:-1], axis=int(vals[-1]))


@_register_fold("Fill")
def _fill_value(t, vals):
    if np.prod(vals[0], dtype=np.int64) > _MAX_FOLD:
        return None
    return np.full(_int_list(vals[0]), vals[1], dtype=_np_dtype(t))


@_si.register_constant("ZerosLike", "OnesLike")
def _like_value(t):
    s = t.op.inputs[0].shape
    if not s.is_fully_defined() or s.num_elements() > _MAX_FOLD:
        return None
    fn = np.zeros if t.op.type == "ZerosLike" else np.ones
    return fn(s.as_list(), dtype=_np_dtype(t))


@_register_fold("Reshape")
def _reshape_value(t, vals):
    return np.reshape(vals[0], _int_list(vals[1]))


@_register_fold("ExpandDims")
def _expand_dims_value(t, vals):
    return np.expand_dims(vals[0], int(np.asarray(vals[1]).ravel()[0]))


@_si.register_constant("Squeeze")
def _squeeze_value(t):
    v = _value(t.op.inputs[0])
    axes = tuple(t.op._attr("squeeze_dims", []) or []) or None
    return None if v is None else np.squeeze(v, axis=axes)


@_register_fold("GatherV2")
def _gather_value(t, vals):
    if t.op._attr("batch_dims", 0) != 0:
        return None
    return np.take(vals[0], vals[1], axis=int(vals[2]))


@_register_fold("Transpose")
def _transpose_value(t, vals):
    return np.transpose(vals[0], _int_list(vals[1]))


@_register_fold("Slice")
def _slice_value(t, vals):
    index = tuple(slice(b, None if s == -1 else b + s)
                  for b, s in zip(_int_list(vals[1]), _int_list(vals[2])))
    return vals[0][index]


@_si.register_constant("StridedSlice")
def _strided_slice_value(t):
    x, begin_t, end_t, strides_t = t.op.inputs
    rest = _values([begin_t, end_t, strides_t])
    if rest is None:
        return None
    value = _value(x)
    if value is None and x.op.type == "Shape" and x.op.inputs[0].shape.ndims is not None:
        # A slice of a partially known shape is known where it only picks known dims.
        value = np.array([-1 if d is None else d for d in x.op.inputs[0].shape.as_list()],
                         _np_dtype(x))
    if value is None:
        return None
    plan = strided_slice_plan(list(value.shape), *(_int_list(v) for v in rest),
                              _ss_masks(t.op))
    out = plan.apply(value)
    if value.size and x.op.type == "Shape" and (np.asarray(out) < 0).any():
        return None
    return out


@_register_fold("Range")
def _range_value(t, vals):
    start, limit, delta = (v.item() for v in vals)
    if delta == 0:
        return None
    n = max(0, int(np.ceil((limit - start) / delta)))
    if n > _MAX_FOLD:
        return None
    return (start + np.arange(n) * delta).astype(_np_dtype(t))


@_register_fold("BroadcastArgs")
def _broadcast_args_value(t, vals):
    return np.array(np.broadcast_shapes(tuple(_int_list(vals[0])), tuple(_int_list(vals[1]))),
                    _np_dtype(t))
