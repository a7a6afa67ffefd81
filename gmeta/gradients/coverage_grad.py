"""Gradients of the op-coverage set, op for op as TF builds them: ``LRN`` (nn_grad.py),
``TopKV2`` (nn_grad.py), ``Einsum`` (linalg_grad.py), ``ResizeBilinear``
(image_grad.py), ``SparseToDense`` (sparse_grad.py), ``DynamicStitch`` /
``ParallelDynamicStitch`` / ``DynamicPartition`` (data_flow_grad.py) and
``UnsortedSegmentSum`` (math_grad.py).

TF registers nothing for ``Unique``, ``Where`` and ``LRNGrad`` (a path through them raises
``LookupError`` in TF too; integer outputs are never reached), and declares
``ResizeBilinearGrad`` not differentiable.
"""

from __future__ import annotations

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.gradients._indexed_slices import IndexedSlices
from gmeta.gradients._registry import RegisterGradient, no_gradient
from gmeta.gradients._util import apply_op, reduced_shape
from gmeta.ops import array_ops, math_ops

no_gradient("ResizeBilinearGrad")


@RegisterGradient("LRN")
def _lrn_grad(op, grad):
    return [apply_op("LRNGrad", input_grads=grad, input_image=op.inputs[0],
                     output_image=op.outputs[0], depth_radius=op.get_attr("depth_radius"),
                     bias=op.get_attr("bias"), alpha=op.get_attr("alpha"),
                     beta=op.get_attr("beta"))]


@RegisterGradient("ResizeBilinear")
def _resize_bilinear_grad(op, grad):
    grad0 = apply_op("ResizeBilinearGrad", grads=grad, original_image=op.inputs[0],
                     align_corners=op.get_attr("align_corners"),
                     half_pixel_centers=op.get_attr("half_pixel_centers"))
    return [grad0, None]


@RegisterGradient("TopKV2")
def _top_k_grad(op, grad, _):
    in_shape = array_ops.shape(op.inputs[0])
    ind_shape = array_ops.shape(op.outputs[1])
    ind_lastdim = array_ops.gather(math_ops.cast(ind_shape, dtypes.int64),
                                   array_ops.size(ind_shape) - 1)
    ind_2d = array_ops.reshape(op.outputs[1], array_ops.stack([-1, ind_lastdim]))
    in_lastdim = array_ops.gather(math_ops.cast(in_shape, dtypes.int64),
                                  array_ops.size(in_shape) - 1)
    outerdim = array_ops.shape(ind_2d)[0]
    ind = array_ops.reshape(
        ind_2d + math_ops.cast(array_ops.expand_dims(
            math_ops.range(0, math_ops.cast(outerdim, dtypes.int64) * in_lastdim, in_lastdim),
            -1), dtypes.int32), [-1])
    return [array_ops.reshape(
        apply_op("ScatterNd", indices=array_ops.expand_dims(ind, -1),
                 updates=array_ops.reshape(grad, [-1]),
                 shape=[math_ops.reduce_prod(in_shape)]), in_shape),
            array_ops.zeros([], dtype=dtypes.int32)]


@RegisterGradient("SparseToDense")
def _sparse_to_dense_grad(op, grad):
    sparse_indices, output_shape, _, _ = op.inputs
    sparse_values_grad = array_ops.gather_nd(grad, sparse_indices)
    default_value_grad = math_ops.reduce_sum(grad) - math_ops.reduce_sum(sparse_values_grad)
    return [array_ops.zeros_like(sparse_indices), array_ops.zeros_like(output_shape),
            sparse_values_grad, default_value_grad]


# -- data flow ------------------------------------------------------------------------------------
@RegisterGradient("DynamicPartition")
def _dynamic_partition_grad(op, *grads):
    from gmeta.ops import coverage_ops

    data, indices = op.inputs[0], op.inputs[1]
    num_partitions = op.get_attr("num_partitions")
    prefix_shape = array_ops.shape(indices)
    original_indices = array_ops.reshape(
        math_ops.range(math_ops.reduce_prod(prefix_shape)), prefix_shape)
    partitioned = coverage_ops.dynamic_partition(original_indices, indices, num_partitions)
    reconstructed = coverage_ops.parallel_dynamic_stitch(partitioned, list(grads))
    reconstructed = array_ops.reshape(reconstructed, array_ops.shape(data))
    return [reconstructed, None]


@RegisterGradient("DynamicStitch")
@RegisterGradient("ParallelDynamicStitch")
def _dynamic_stitch_grad(op, grad):
    num_values = len(op.inputs) // 2
    indices_grad = [None] * num_values

    def as_int32(x):
        return x if op.inputs[0].dtype == dtypes.int32 else math_ops.cast(x, dtypes.int32)

    inputs = [as_int32(op.inputs[i]) for i in range(num_values)]
    if isinstance(grad, IndexedSlices):
        output_rows = array_ops.shape(op.outputs[0])[0]
        grad = apply_op("UnsortedSegmentSum", data=grad.values, segment_ids=grad.indices,
                        num_segments=output_rows)
    values_grad = [array_ops.gather(grad, inp) for inp in inputs]
    return indices_grad + values_grad


def _gather_drop_negatives(params, ids, zero_clipped_indices=None, is_positive=None):
    """TF's ``math_grad._GatherDropNegatives``."""
    if zero_clipped_indices is None:
        zero_clipped_indices = math_ops.maximum(ids, array_ops.zeros_like(ids))
    gathered = array_ops.gather(params, zero_clipped_indices)
    if is_positive is None:
        is_positive = math_ops.greater_equal(ids, 0)
        is_positive_shape = array_ops.shape(is_positive)
        broadcastable_shape = array_ops.concat(
            [is_positive_shape,
             array_ops.ones([array_ops.rank(gathered) - array_ops.rank(is_positive)],
                            dtype=is_positive_shape.dtype)], axis=0)
        is_positive = array_ops.reshape(is_positive, broadcastable_shape)
        is_positive = is_positive & array_ops.ones_like(gathered, dtype=dtypes.bool)
    zero_slice = array_ops.zeros_like(gathered)
    return (array_ops.where_v2(is_positive, gathered, zero_slice), zero_clipped_indices,
            is_positive)


@RegisterGradient("UnsortedSegmentSum")
def _unsorted_segment_sum_grad(op, grad):
    return _gather_drop_negatives(grad, op.inputs[1])[0], None, None


# -- Einsum ---------------------------------------------------------------------------------------
_ELLIPSIS = "..."


def _einsum(inputs, equation):
    return apply_op("Einsum", inputs=inputs, equation=equation)


def _axis_from_label(subscripts, label):
    splits = subscripts.split(_ELLIPSIS)
    index = splits[0].find(label)
    if index != -1:
        return index
    if len(splits) < 2:
        return None
    index = splits[1].find(label)
    return index - len(splits[1]) if index != -1 else None


def _bcast_subshape(subscripts):
    start = subscripts.find(_ELLIPSIS)
    if start == -1:
        return 0, 0
    remaining = len(subscripts) - (start + len(_ELLIPSIS))
    return start, (-remaining if remaining > 0 else None)


def _reduced_subscripts(reduced_label_set, input_shape, subscripts):
    reduced_subs = "".join(list(reduced_label_set))
    reduced_axes = [_axis_from_label(subscripts, s) for s in reduced_subs]
    reduced_dims = array_ops.stack([input_shape[ax] for ax in reduced_axes])
    return reduced_subs, reduced_dims, reduced_axes


def _grad_reduced(output_grad, output_subs, input_subs, input_shape, reduced_label_set):
    reduced_subs, reduced_dims, reduced_axes = _reduced_subscripts(
        reduced_label_set, input_shape, input_subs)
    has_repeated_labels = (len(set(input_subs)) + len(set(output_subs))
                           < len(input_subs) + len(output_subs))
    input_subs_without_reduced_labels = "".join(
        [s for s in input_subs if s not in reduced_label_set])
    if not has_repeated_labels and input_subs_without_reduced_labels == output_subs:
        shape = reduced_shape(input_shape, ops_lib.convert_to_tensor(reduced_axes))
        return array_ops.broadcast_to(array_ops.reshape(output_grad, shape), input_shape)
    grad_shape_with_reduced_labels = array_ops.concat(
        [reduced_dims, array_ops.shape(output_grad)], axis=0)
    shape = array_ops.concat([array_ops.ones(len(reduced_label_set), dtype=dtypes.int32),
                              array_ops.shape(output_grad)], axis=0)
    broadcasted_grad = array_ops.broadcast_to(array_ops.reshape(output_grad, shape),
                                              grad_shape_with_reduced_labels)
    return _einsum([broadcasted_grad], f"{reduced_subs + output_subs}->{input_subs}")


def _grad_wrt(output_grad, other_operand, input_shape, input_subs, other_subs, output_subs):
    reduced_label_set = set(input_subs).difference(set(output_subs + other_subs + "."))
    left_subs = "".join(s for s in input_subs if s not in reduced_label_set)
    grad_reduced = _einsum([output_grad, other_operand],
                           f"{output_subs},{other_subs}->{left_subs}")
    if not reduced_label_set:
        return grad_reduced
    return _grad_reduced(grad_reduced, left_subs, input_subs, input_shape, reduced_label_set)


@RegisterGradient("Einsum")
def _einsum_grad(op, grad):
    equation = op.get_attr("equation")
    if isinstance(equation, bytes):
        equation = equation.decode()
    input_subs, output_subs = equation.split("->")
    if len(op.inputs) == 1:
        input_shape = array_ops.shape(op.inputs[0])
        reduced_label_set = set(input_subs).difference(set(output_subs + _ELLIPSIS))
        if not reduced_label_set:
            return _einsum([grad], f"{output_subs}->{input_subs}")
        return _grad_reduced(grad, output_subs, input_subs, input_shape, reduced_label_set)
    x_subs, y_subs = input_subs.split(",")
    if _ELLIPSIS in output_subs:
        if _ELLIPSIS not in x_subs:
            x_subs += _ELLIPSIS
        if _ELLIPSIS not in y_subs:
            y_subs += _ELLIPSIS
    x, y = op.inputs[0], op.inputs[1]
    if grad.dtype.is_complex:
        x = math_ops.conj(x)
        y = math_ops.conj(y)
    x_shape = array_ops.shape(x)
    y_shape = array_ops.shape(y)
    grad_x = _grad_wrt(grad, y, x_shape, x_subs, y_subs, output_subs)
    grad_y = _grad_wrt(grad, x, y_shape, y_subs, x_subs, output_subs)
    if _ELLIPSIS not in output_subs:
        return grad_x, grad_y
    bx_start, bx_end = _bcast_subshape(x_subs)
    by_start, by_end = _bcast_subshape(y_subs)
    xs, ys = x.shape, y.shape
    if (xs.is_fully_defined() and ys.is_fully_defined()
            and xs.as_list()[bx_start:bx_end] == ys.as_list()[by_start:by_end]):
        return grad_x, grad_y
    rx, ry = apply_op("BroadcastGradientArgs", s0=x_shape[bx_start:bx_end],
                      s1=y_shape[by_start:by_end])
    grad_x = array_ops.reshape(math_ops.reduce_sum(grad_x, bx_start + rx), x_shape)
    grad_y = array_ops.reshape(math_ops.reduce_sum(grad_y, by_start + ry), y_shape)
    return grad_x, grad_y
