"""Gradients of the array ops (TF's ``array_grad.py``), plus the ops TF declares not
differentiable elsewhere (state, random, summary, string and bitwise ops)."""

from __future__ import annotations

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.gradients._indexed_slices import IndexedSlices
from gmeta.gradients._registry import RegisterGradient, no_gradient
from gmeta.gradients._util import apply_op, indexed_slices_to_tensor, static_value
from gmeta.ops import array_ops, constant_op, math_ops

_Tensor = ops_lib.Tensor

for _op_type in ("ConcatOffset", "Const", "ZerosLike", "OnesLike", "StopGradient",
                 "InvertPermutation", "Shape", "ShapeN", "Rank", "Size", "BroadcastGradientArgs",
                 "OneHot",
                 # TF declares these in state_ops, random_ops, logging_ops, string and bitwise
                 # op modules.
                 "Assign", "AssignAdd", "AssignSub", "VarIsInitializedOp",
                 "RandomUniform", "RandomStandardNormal", "TruncatedNormal",
                 "HistogramSummary", "ScalarSummary", "MergeSummary", "StringJoin",
                 "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Invert", "LeftShift", "RightShift"):
    no_gradient(_op_type)


# -- identities -----------------------------------------------------------------------------------
@RegisterGradient("Identity")
@RegisterGradient("PlaceholderWithDefault")
@RegisterGradient("RefIdentity")
@RegisterGradient("ReadVariableOp")
def _identity_grad(_, grad):
    return grad


@RegisterGradient("IdentityN")
def _identity_n_grad(_, *grads):
    return grads


@RegisterGradient("PreventGradient")
def _prevent_gradient_grad(op, _):
    raise LookupError(f"Gradient explicitly disabled. Reason: {op.get_attr('message')}")


# -- packing, concatenation, splitting ------------------------------------------------------------
@RegisterGradient("Pack")
def _pack_grad(op, grad):
    return array_ops.unstack(grad, num=op.get_attr("N"), axis=op.get_attr("axis"))


@RegisterGradient("Unpack")
def _unpack_grad(op, *grads):
    return array_ops.stack(list(grads), axis=op.get_attr("axis"))


def _extract_input_shapes(inputs):
    sizes = []
    for x in inputs:
        shape = array_ops.shape(x)
        if not isinstance(shape, _Tensor) or shape.op.type != "Const":
            return array_ops.shape_n(inputs)
        sizes.append(shape)
    return sizes


def _concat_grad_dense(grad, concat_dim, input_values):
    non_neg_concat_dim = concat_dim % array_ops.rank(input_values[0])
    sizes = _extract_input_shapes(input_values)
    if len(sizes) > 16:
        sizes = array_ops.squeeze(array_ops.slice(array_ops.stack(sizes, axis=1),
                                                  [non_neg_concat_dim, 0], [1, -1]))
        return array_ops.split(grad, sizes, non_neg_concat_dim)
    offset = apply_op("ConcatOffset", concat_dim=non_neg_concat_dim, shape=list(sizes))
    if isinstance(offset, _Tensor):
        offset = [offset]
    return [array_ops.slice(grad, begin, size) for begin, size in zip(offset, sizes)]


def _concat_grad_sparse(grad, concat_dim, input_values):
    non_neg_concat_dim = concat_dim % array_ops.rank(input_values[0])
    concat_dim_static = static_value(concat_dim)
    if concat_dim_static is None:
        raise ValueError("Can only compute IndexedSlices gradient with statically-known "
                         "concat_dim")
    if concat_dim_static < 0:
        rank = static_value(array_ops.rank(input_values[0]))
        if rank is None:
            raise ValueError("Can only compute IndexedSlices gradient with negative concat_dim "
                             "when first value rank is statically-known.")
        concat_dim_static %= rank
    sizes = [array_ops.shape(x) for x in input_values]
    out = []
    if concat_dim_static > 0:
        shape_of_shape = array_ops.shape(sizes[0])
        mask = array_ops.concat(
            [array_ops.zeros(array_ops.expand_dims(non_neg_concat_dim, 0), dtype=dtypes.int32),
             [1], array_ops.zeros(shape_of_shape - non_neg_concat_dim - 1, dtype=dtypes.int32)],
            0)
        begin = array_ops.zeros(shape_of_shape, dtype=dtypes.int32)
        for size in sizes:
            new_values = array_ops.slice(
                grad.values, begin,
                array_ops.concat([[-1], array_ops.slice(size, [1], [-1])], 0))
            out.append(IndexedSlices(new_values, grad.indices, size))
            begin = math_ops.add(begin, size * mask)
        return out
    start = constant_op.constant(0, dtype=grad.indices.dtype)
    for size in sizes:
        size_concat_dim = array_ops.gather(size, non_neg_concat_dim)
        if size_concat_dim.dtype != grad.indices.dtype:
            size_concat_dim = math_ops.cast(size_concat_dim, dtype=grad.indices.dtype)
        end = start + size_concat_dim
        indices_to_select = array_ops.squeeze(
            array_ops.where(math_ops.logical_and(grad.indices >= start, grad.indices < end)),
            axis=[1])
        new_indices = array_ops.gather(grad.indices, indices_to_select) - start
        new_values = array_ops.gather(grad.values, indices_to_select)
        out.append(IndexedSlices(new_values, new_indices, size))
        start = end
    return out


def _concat_grad_helper(op, grad, start, end, dim_index):
    if len(op.inputs) == 2:  # one value: its gradient is the output's
        return [grad, None] if dim_index == -1 else [None, grad]
    concat_dim = op.inputs[dim_index]
    input_values = op.inputs[start:end]
    if isinstance(grad, _Tensor):
        if concat_dim.op.type == "Const":  # TF: a constant from another (loop) context is
            from gmeta.ops import while_v1  # duplicated, not entered

            if while_v1.get_output_context(grad.op) is not \
                    while_v1.get_output_context(concat_dim.op):
                concat_dim = constant_op.constant(concat_dim.op._attr("value"),
                                                  dtype=concat_dim.dtype.base_dtype)
        out = _concat_grad_dense(grad, concat_dim, input_values)
    elif isinstance(grad, IndexedSlices):
        out = _concat_grad_sparse(grad, concat_dim, input_values)
    else:
        raise TypeError(f"Expected Tensor or IndexedSlices, got {type(grad)}")
    return out + [None] if dim_index == -1 else [None] + out


@RegisterGradient("ConcatV2")
def _concat_v2_grad(op, grad):
    return _concat_grad_helper(op, grad, 0, -1, -1)


@RegisterGradient("Concat")
def _concat_grad(op, grad):
    return _concat_grad_helper(op, grad, 1, len(op.inputs), 0)


@RegisterGradient("Split")
def _split_grad(op, *grads):
    return None, array_ops.concat(list(grads), op.inputs[0])


@RegisterGradient("SplitV")
def _split_v_grad(op, *grads):
    return [array_ops.concat(list(grads), op.inputs[2])] + [None] * (len(op.inputs) - 1)


# -- slicing --------------------------------------------------------------------------------------
@RegisterGradient("Slice")
def _slice_grad(op, grad):
    input_vec, begin_vec = op.inputs[0], op.inputs[1]
    input_rank = array_ops.rank(input_vec)
    index_dtype = begin_vec.dtype
    slice_size = array_ops.shape(op.outputs[0], out_type=index_dtype)
    shape = array_ops.stack([input_rank, 1])
    before_pad = array_ops.reshape(begin_vec, shape)
    after_pad = array_ops.reshape(
        array_ops.shape(input_vec, out_type=index_dtype) - slice_size - begin_vec, shape)
    paddings = array_ops.concat([before_pad, after_pad], 1)
    return array_ops.pad(grad, paddings), None, None


def _static_or(t):
    value = static_value(t)
    return t if value is None else value


_MASKS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


@RegisterGradient("StridedSlice")
def _strided_slice_grad(op, grad):
    begin, end, strides = op.inputs[1], op.inputs[2], op.inputs[3]
    x = _static_or(array_ops.shape(op.inputs[0], out_type=begin.dtype))
    masks = {m: op.get_attr(m) for m in _MASKS}
    return (apply_op("StridedSliceGrad", shape=x, begin=_static_or(begin), end=_static_or(end),
                     strides=_static_or(strides), dy=grad, **masks), None, None, None)


@RegisterGradient("StridedSliceGrad")
def _strided_slice_grad_grad(op, grad):
    begin, end, strides = op.inputs[1], op.inputs[2], op.inputs[3]
    masks = {m: op.get_attr(m) for m in _MASKS}
    return None, None, None, None, array_ops.strided_slice(grad, begin, end, strides, **masks)


@RegisterGradient("Pad")
@RegisterGradient("PadV2")
def _pad_grad(op, grad):
    x, a = op.inputs[0], op.inputs[1]
    pad_before = array_ops.slice(a, [0, 0], array_ops.stack([array_ops.rank(x), 1]))
    begin = array_ops.reshape(pad_before, [-1])
    sizes = array_ops.shape(x, out_type=begin.dtype)
    x_grad = array_ops.slice(grad, begin, sizes)
    return (x_grad, None, None) if len(op.inputs) == 3 else (x_grad, None)


@RegisterGradient("MirrorPad")
def _mirror_pad_grad(op, grad):
    return [apply_op("MirrorPadGrad", input=grad, paddings=op.inputs[1],
                     mode=op.get_attr("mode")), None]


@RegisterGradient("MirrorPadGrad")
def _mirror_pad_grad_grad(op, grad):
    return [apply_op("MirrorPad", input=grad, paddings=op.inputs[1], mode=op.get_attr("mode")),
            None]


# -- gathers --------------------------------------------------------------------------------------
@RegisterGradient("Gather")
def _gather_grad(op, grad):
    params = op.inputs[0]
    with ops_lib.colocate_with(params.op):
        params_shape = array_ops.shape(params)
    indices = op.inputs[1]
    size = array_ops.expand_dims(array_ops.size(indices), 0)
    values_shape = array_ops.concat([size, params_shape[1:]], 0)
    values = array_ops.reshape(indexed_slices_to_tensor(grad), values_shape)
    indices = array_ops.reshape(indices, size)
    return [IndexedSlices(values, indices, params_shape), None]


def _get_batch_indices(params_shape, indices, batch_dims):
    batch_indices = indices
    indices_dtype = indices.dtype.base_dtype
    casted = math_ops.cast(params_shape, indices_dtype)
    accum = array_ops.ones((), dtype=indices_dtype)
    for dim in range(batch_dims, 0, -1):
        dim_value = casted[dim - 1]
        accum *= casted[dim]
        start = array_ops.zeros((), dtype=indices_dtype)
        step = array_ops.ones((), dtype=indices_dtype)
        dim_indices = math_ops.range(start, dim_value, step)
        dim_indices *= accum
        dim_shape = array_ops.concat(
            [array_ops.tile([1], [dim - 1]), [dim_value],
             array_ops.tile([1], [array_ops.rank(indices) - dim])], axis=0)
        batch_indices += array_ops.reshape(dim_indices, dim_shape)
    return batch_indices


def _batch_gather_grad(params_shape, values, indices, batch_dims, gather_dim_size):
    indices_size = array_ops.expand_dims(array_ops.size(indices), 0)
    if batch_dims:
        values_shape = array_ops.shape(values)
        outer_shape = values_shape[:batch_dims]
        inner_shape = values_shape[batch_dims:][1:]
        batch_size = apply_op("Prod", input=outer_shape, reduction_indices=[0], keep_dims=False)
        flat_values_shape = array_ops.concat([[-1], inner_shape], 0)
        gather_dim_size *= batch_size
        indices = _get_batch_indices(params_shape, indices, batch_dims)
        values = array_ops.reshape(indexed_slices_to_tensor(values), flat_values_shape)
    indices = array_ops.reshape(indices, indices_size)
    params_grad = apply_op("UnsortedSegmentSum", data=values, segment_ids=indices,
                           num_segments=gather_dim_size)
    if batch_dims:
        params_grad = array_ops.reshape(
            params_grad, array_ops.concat([outer_shape, flat_values_shape], 0))
    return params_grad


@RegisterGradient("GatherV2")
def _gather_v2_grad(op, grad):
    params = op.inputs[0]
    with ops_lib.colocate_with(params.op):
        params_shape = array_ops.shape(params)
    indices = op.inputs[1]
    indices_size = array_ops.expand_dims(array_ops.size(indices), 0)
    axis = op.inputs[2]
    axis_static = static_value(axis)
    batch_dims = int(op.get_attr("batch_dims"))
    if batch_dims < 0:
        if indices.shape.ndims is None:
            raise ValueError("Currently, it is unsupported to take the gradient of tf.gather "
                             "when batch_dims < 0 and the rank of the indices is unknown. Got "
                             f"batch_dims={batch_dims} and indices={indices}")
        batch_dims += indices.shape.ndims
    if axis_static is not None and axis_static == 0:
        params_tail_shape = params_shape[1:]
        values_shape = array_ops.concat([indices_size, params_tail_shape], 0)
        values = array_ops.reshape(indexed_slices_to_tensor(grad), values_shape)
        indices = array_ops.reshape(indices, indices_size)
        return [IndexedSlices(values, indices, params_shape), None, None]
    outer_shape = params_shape[:axis]
    inner_shape = params_shape[axis:][1:]
    values_shape = array_ops.concat([outer_shape, [-1], inner_shape], 0)
    values_dims = array_ops.size(values_shape)
    axis_dims = array_ops.size(outer_shape)
    outer_batches_indices = math_ops.range(batch_dims)
    batch_axis_indices = math_ops.range(batch_dims, axis_dims)
    inner_axes_indices = math_ops.range(axis_dims + 1, values_dims)
    values = array_ops.reshape(indexed_slices_to_tensor(grad), values_shape)
    transpose_dims = array_ops.concat(
        [outer_batches_indices, [axis_dims], batch_axis_indices, inner_axes_indices], 0)
    values_transpose = array_ops.transpose(values, transpose_dims)
    params_shape_transpose = array_ops.gather(params_shape, transpose_dims)
    params_grad = _batch_gather_grad(params_shape_transpose, values_transpose, indices,
                                     batch_dims, params_shape[axis])
    invert_transpose_dims = array_ops.concat(
        [outer_batches_indices, batch_axis_indices + 1, [batch_dims], inner_axes_indices], 0)
    params_grad = array_ops.transpose(params_grad, invert_transpose_dims)
    params_grad = array_ops.reshape(params_grad, array_ops.shape(params))
    return [params_grad, None, None]


@RegisterGradient("ResourceGather")
def _resource_gather_grad(op, grad):
    handle, indices = op.inputs[0], op.inputs[1]
    from gmeta.ops import resource_variable_ops

    # A Const when the variable's shape is known (TF reads it from the handle's data).
    params_shape = resource_variable_ops.variable_shape(handle, out_type=dtypes.int32)
    size = array_ops.expand_dims(array_ops.size(indices), 0)
    values_shape = array_ops.concat([size, params_shape[1:]], 0)
    values = array_ops.reshape(grad, values_shape)
    indices = array_ops.reshape(indices, size)
    return IndexedSlices(values, indices, params_shape), None


@RegisterGradient("GatherNd")
def _gather_nd_grad(op, grad):
    ref, indices = op.inputs[0], op.inputs[1]
    ref_shape = array_ops.shape(ref, out_type=indices.dtype)
    if indices.shape.ndims == 2 and indices.shape[-1] == 1:
        return [IndexedSlices(grad, array_ops.squeeze(indices, axis=-1), ref_shape), None]
    return [apply_op("ScatterNd", indices=indices, updates=grad, shape=ref_shape,
                     bad_indices_policy=op.get_attr("bad_indices_policy")), None]


# -- reshapes and permutations --------------------------------------------------------------------
@RegisterGradient("Reshape")
def _reshape_grad(op, grad):
    input_shape = op.inputs[0].shape
    if input_shape.ndims is not None and not input_shape.is_fully_defined():
        dims = input_shape.as_list()
        undefined = [i for i, d in enumerate(dims) if d is None]
        if len(undefined) == 1 and 0 not in dims:
            dims[undefined[0]] = -1
            return [array_ops.reshape(indexed_slices_to_tensor(grad), dims), None]
    return [array_ops.reshape(indexed_slices_to_tensor(grad), array_ops.shape(op.inputs[0])),
            None]


def _reshape_to_input(op, grad):
    return array_ops.reshape(indexed_slices_to_tensor(grad), array_ops.shape(op.inputs[0]))


@RegisterGradient("ExpandDims")
def _expand_dims_grad(op, grad):
    return [_reshape_to_input(op, grad), None]


@RegisterGradient("Squeeze")
def _squeeze_grad(op, grad):
    return _reshape_to_input(op, grad)


@RegisterGradient("Transpose")
def _transpose_grad(op, grad):
    return [array_ops.transpose(grad, apply_op("InvertPermutation", x=op.inputs[1])), None]


@RegisterGradient("ConjugateTranspose")
def _conjugate_transpose_grad(op, grad):
    return [array_ops.transpose(grad, apply_op("InvertPermutation", x=op.inputs[1]),
                                conjugate=True), None]


@RegisterGradient("ReverseV2")
def _reverse_v2_grad(op, grad):
    return array_ops.reverse_v2(grad, op.inputs[1]), None


# -- tiling, filling, broadcasting ----------------------------------------------------------------
@RegisterGradient("Tile")
def _tile_grad(op, grad):
    input_shape = array_ops.shape(op.inputs[0], out_type=op.inputs[1].dtype)
    split_shape = array_ops.reshape(
        array_ops.transpose(array_ops.stack([op.inputs[1], input_shape])), [-1])
    axes = math_ops.range(0, array_ops.size(split_shape), 2)
    if isinstance(grad, IndexedSlices):
        input_shape_0 = math_ops.cast(input_shape[0], grad.indices.dtype)
        grad = apply_op("UnsortedSegmentSum", data=grad.values,
                        segment_ids=math_ops.floormod(grad.indices, input_shape_0),
                        num_segments=input_shape_0)
        split_shape = array_ops.concat([[1], split_shape[1:]], axis=0)
    input_grad = math_ops.reduce_sum(array_ops.reshape(grad, split_shape), axes)
    input_grad.set_shape(op.inputs[0].shape)
    return [input_grad, None]


@RegisterGradient("Fill")
def _fill_grad(_, grad):
    return None, math_ops.reduce_sum(grad)


@RegisterGradient("BroadcastTo")
def _broadcast_to_grad(op, grad):
    from gmeta.framework import shape_inference
    from gmeta.framework.tensor_shape import TensorShape

    input_value, broadcast_shape = op.inputs[0], op.inputs[1]
    shape_dtype = broadcast_shape.dtype
    input_value_shape = array_ops.shape(input_value, out_type=shape_dtype)
    # TF folds the shape with its C++ constant evaluator; gmeta's build-time evaluator.
    value = shape_inference.constant_value(broadcast_shape)
    static = TensorShape(None if value is None else [int(d) for d in value.reshape(-1)])
    if static.is_fully_defined():
        broadcast_shape = constant_op.constant(static.as_list(), dtype=shape_dtype)
    _, reduction_axes = apply_op("BroadcastGradientArgs", s0=broadcast_shape,
                                 s1=input_value_shape)
    reshaped = math_ops.reduce_sum(grad, axis=reduction_axes, keepdims=True)
    return [array_ops.reshape(reshaped, input_value_shape), None]
