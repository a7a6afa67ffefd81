"""Gradients of the reductions and scans (from TF's ``math_grad.py``): Sum, Mean, Max, Min,
Prod, EuclideanNorm, Cumsum, Cumprod.

With static shapes, Sum's gradient is a Reshape and a Tile of constant shapes (TF's fast
paths); otherwise the kept-dims shape is computed in the graph (``DynamicStitch``).
"""

from __future__ import annotations

import weakref

import numpy as np

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.gradients._registry import RegisterGradient
from gmeta.gradients._util import apply_op, conj, reduced_shape, shape_tuple, static_value
from gmeta.ops import array_ops, constant_op, math_ops


# -- reductions -----------------------------------------------------------------------------------
_REDUCED_SHAPE_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _sum_grad_static(op, grad, input_0_shape, axes):
    """The statically known cases of TF's ``_SumGrad`` (None when neither applies)."""
    rank = len(input_0_shape)
    if np.array_equal(axes, np.arange(rank)):  # reducing every dimension
        grad = array_ops.reshape(grad, [1] * rank)
        if None not in input_0_shape:
            input_shape = constant_op.constant(list(input_0_shape), dtype=dtypes.int32)
        else:
            input_shape = array_ops.shape(op.inputs[0])
        return array_ops.tile(grad, input_shape)
    if None in input_0_shape:
        return None
    # TF caches these per graph: the first gradient of a (shape, axes) pair leaves the
    # Maximum/floordiv nodes it used to compute them behind.
    cache = _REDUCED_SHAPE_CACHE.setdefault(op.graph, {})
    key = (input_0_shape, tuple(int(a) for a in np.asarray(axes).reshape(-1)))
    if key not in cache:
        kept = reduced_shape(np.array(input_0_shape), np.array(key[1]))
        # TF's _SafeShapeDiv builds these nodes (and then folds them); keep them for parity.
        tuple(input_0_shape) // math_ops.maximum(kept, 1)
        kept = tuple(int(v) for v in kept)
        cache[key] = (kept, tuple(a // max(b, 1) for a, b in zip(input_0_shape, kept)))
    kept, scaling = cache[key]
    grad = array_ops.reshape(grad, list(kept))
    return array_ops.tile(grad, list(scaling))


@RegisterGradient("Sum")
def _sum_grad(op, grad):
    input_0_shape = shape_tuple(op.inputs[0])
    if input_0_shape is not None:
        axes = static_value(op.inputs[1])
        if axes is not None:
            out = _sum_grad_static(op, grad, input_0_shape, axes)
            if out is not None:
                return [out, None]
    input_shape = array_ops.shape(op.inputs[0])
    if not op.get_attr("keep_dims"):
        with ops_lib.colocate_with(input_shape.op):
            kept = reduced_shape(input_shape, op.inputs[1])
        grad = array_ops.reshape(grad, kept)
    return [array_ops.broadcast_to(grad, input_shape), None]


def _min_or_max_grad(op, grad):
    input_shape = array_ops.shape(op.inputs[0])
    y = op.outputs[0]
    if not op.get_attr("keep_dims"):
        kept = reduced_shape(input_shape, op.inputs[1])
        y = array_ops.reshape(y, kept)
        grad = array_ops.reshape(grad, kept)
    else:
        kept = array_ops.shape(y)
    # Ties share the gradient equally.
    indicators = math_ops.cast(math_ops.equal(y, op.inputs[0]), grad.dtype)
    num_selected = array_ops.reshape(math_ops.reduce_sum(indicators, op.inputs[1]), kept)
    return [math_ops.divide(indicators, num_selected) * grad, None]


RegisterGradient("Max")(_min_or_max_grad)
RegisterGradient("Min")(_min_or_max_grad)


@RegisterGradient("Mean")
def _mean_grad(op, grad):
    sum_grad = _sum_grad(op, grad)[0]
    input_shape = shape_tuple(op.inputs[0])
    output_shape = shape_tuple(op.outputs[0])
    if (input_shape is not None and output_shape is not None and None not in input_shape
            and None not in output_shape):
        factor = np.prod(input_shape) // max(np.prod(output_shape), 1)
        factor = constant_op.constant(factor, dtype=sum_grad.dtype)
    else:
        input_shape = array_ops.shape(op.inputs[0])
        input_rank = array_ops.size(input_shape)
        axes = math_ops.cast(op.inputs[1], input_rank.dtype)
        axes = (axes + input_rank) % input_rank
        factor = math_ops.reduce_prod(array_ops.gather(input_shape, axes))
    return math_ops.truediv(sum_grad, math_ops.cast(factor, sum_grad.dtype)), None


@RegisterGradient("Prod")
def _prod_grad(op, grad):
    # The product without each entry, as exclusive cumprods from both ends (zeros are fine).
    input_shape = array_ops.shape(op.inputs[0])
    reduction_indices = array_ops.reshape(op.inputs[1], [-1])
    if not op.get_attr("keep_dims"):
        kept = reduced_shape(input_shape, op.inputs[1])
        grad = array_ops.reshape(grad, kept)
    grad = array_ops.broadcast_to(grad, input_shape)
    with ops_lib.device("/cpu:0"):
        rank = array_ops.rank(op.inputs[0])
        reduction_indices = math_ops.cast(reduction_indices, rank.dtype)
        reduced = (reduction_indices + rank) % rank
        idx = math_ops.range(0, rank)
        other, _ = apply_op("ListDiff", x=idx, y=reduced, out_idx=reduced.dtype)
        perm = array_ops.concat([reduced, other], 0)
        reduced_num = math_ops.reduce_prod(array_ops.gather(input_shape, reduced))
        other_num = math_ops.reduce_prod(array_ops.gather(input_shape, other))
    permuted = array_ops.transpose(op.inputs[0], perm)
    permuted_shape = array_ops.shape(permuted)
    reshaped = array_ops.reshape(permuted, (reduced_num, other_num))
    left = math_ops.cumprod(reshaped, axis=0, exclusive=True)
    right = math_ops.cumprod(reshaped, axis=0, exclusive=True, reverse=True)
    y = array_ops.reshape(conj(left) * conj(right), permuted_shape)
    out = grad * array_ops.transpose(y, apply_op("InvertPermutation", x=perm))
    return array_ops.reshape(out, input_shape), None


@RegisterGradient("EuclideanNorm")
def _euclidean_norm_grad(op, grad):
    output = op.outputs[0]
    if not op.get_attr("keep_dims"):
        kept = reduced_shape(array_ops.shape(op.inputs[0]), op.inputs[1])
        output = array_ops.reshape(output, kept)
        grad = array_ops.reshape(grad, kept)
    return math_ops.truediv(op.inputs[0], output / grad), None


# -- scans ----------------------------------------------------------------------------------------
@RegisterGradient("Cumsum")
def _cumsum_grad(op, grad):
    axis = op.inputs[1]
    return [math_ops.cumsum(grad, axis, exclusive=op.get_attr("exclusive"),
                            reverse=not op.get_attr("reverse")), None]


@RegisterGradient("Cumprod")
def _cumprod_grad(op, grad):
    x, axis = op.inputs
    exclusive = op.get_attr("exclusive")
    reverse = op.get_attr("reverse")
    prod = math_ops.cumprod(x, axis, exclusive=exclusive, reverse=reverse)
    out = math_ops.cumsum(prod * grad, axis, exclusive=exclusive, reverse=not reverse)
    return [math_ops.div_no_nan(out, x), None]
