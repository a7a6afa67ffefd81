"""Helpers shared by the gradient families, each a TF gradient-code idiom.

``static_value`` is TF's ``tensor_util.constant_value`` (it folds only what TF folds, so the
gradient graphs take TF's branches); ``reduced_shape`` and ``reduce_gradient_args`` are TF's
``math_ops.reduced_shape`` and ``_ReduceGradientArgs`` (``SmartBroadcastGradientArgs``).
"""

from __future__ import annotations

import numpy as np

from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib

apply_op = op_def_library.apply_op


def static_value(t):
    """The value of ``t`` if TF's ``tensor_util.constant_value`` can compute it, else None."""
    if not isinstance(t, ops_lib.Tensor):
        return None
    op = t.op
    kind = op.type
    if kind == "Const":
        return op._attr("value")
    if kind in ("Shape", "Size", "Rank"):
        shape = op.inputs[0].shape
        if kind == "Rank":
            return None if shape.ndims is None else np.array(shape.ndims, dtype=np.int32)
        if not shape.is_fully_defined():
            return None
        if kind == "Size":
            return np.prod(shape.as_list(), dtype=np.int32)
        return np.array(shape.as_list(), dtype=t.dtype.as_numpy_dtype)
    if kind == "Range":
        parts = [static_value(x) for x in op.inputs]
        if any(p is None for p in parts):
            return None
        return np.arange(*parts, dtype=t.dtype.as_numpy_dtype)
    if kind == "Cast":
        v = static_value(op.inputs[0])
        return None if v is None else v.astype(t.dtype.as_numpy_dtype)
    if kind in ("Concat", "ConcatV2"):
        dim_t, parts = ((op.inputs[0], op.inputs[1:]) if kind == "Concat"
                        else (op.inputs[-1], op.inputs[:-1]))
        dim = static_value(dim_t)
        values = [static_value(x) for x in parts]
        if dim is None or any(v is None for v in values):
            return None
        return np.concatenate(values, axis=int(dim))
    if kind == "Pack":
        if not op.inputs or op.get_attr("axis") != 0:
            return None
        values = [static_value(x) for x in op.inputs]
        return None if any(v is None for v in values) else np.array(values)
    if kind == "Unpack":
        if op.get_attr("axis") != 0:
            return None
        v = static_value(op.inputs[0])
        return None if v is None else v[t.value_index]
    if kind == "Fill":
        v = static_value(op.inputs[1])
        if v is None or not t.shape.is_fully_defined():
            return None
        return np.full(t.shape.as_list(), v, dtype=v.dtype)
    if kind in ("Equal", "NotEqual"):
        a, b = static_value(op.inputs[0]), static_value(op.inputs[1])
        if a is None or b is None:
            return None
        return np.equal(a, b) if kind == "Equal" else np.not_equal(a, b)
    if kind in ("StopGradient", "Identity", "CheckNumericsV2", "DebugIdentityV2"):
        return static_value(op.inputs[0])
    return None


def shape_tuple(t):
    """TF's ``Tensor._shape_tuple()``: None for unknown rank, else a tuple (None: unknown)."""
    shape = t.shape
    if shape.ndims is None:
        return None
    return tuple(shape.as_list())


def conj(x):
    """``math_ops.conj``: x itself for real tensors."""
    from gmeta.ops import math_ops

    return math_ops.conj(x)


def reduced_shape(input_shape, axes):
    """``input_shape`` with the ``axes`` set to 1 (TF's ``math_ops.reduced_shape``)."""
    from gmeta.ops import array_ops, math_ops

    shape_value = static_value(input_shape) if isinstance(input_shape, ops_lib.Tensor) \
        else np.asarray(input_shape)
    if shape_value is not None:
        axes_value = static_value(axes) if isinstance(axes, ops_lib.Tensor) else np.asarray(axes)
        if axes_value is not None:
            out = np.array(shape_value, dtype=np.int32)
            out[np.array(axes_value, dtype=np.int32)] = 1
            return out
    axes = ops_lib.convert_to_tensor(axes)
    input_rank = array_ops.size(input_shape, out_type=axes.dtype)
    axes = (axes + input_rank) % input_rank
    axes_shape = array_ops.shape(axes)
    return apply_op("DynamicStitch",
                    indices=[math_ops.range(input_rank), axes],
                    data=[input_shape, array_ops.ones(axes_shape, dtype=input_shape.dtype)])


def _infer_reduction_axes(x_shape, y_shape):
    if x_shape.ndims is None or y_shape.ndims is None:
        return None, None
    xs, ys = x_shape.as_list(), y_shape.as_list()
    rank = max(len(xs), len(ys))
    x_axes, y_axes = [], []
    for axis in range(rank):
        xd = 1 if axis < rank - len(xs) else xs[axis - (rank - len(xs))]
        yd = 1 if axis < rank - len(ys) else ys[axis - (rank - len(ys))]
        if xd == 1 and yd != 1:
            x_axes.append(axis)
        elif yd == 1 and xd != 1:
            y_axes.append(axis)
        elif xd is None or yd is None:
            return None, None
    return x_axes, y_axes


def smart_broadcast_gradient_args(x, y):
    """TF's ``SmartBroadcastGradientArgs``: per argument (shape, reduction axes, must reduce);
    the axes are static lists where the static shapes decide them, else a
    ``BroadcastGradientArgs`` node's outputs."""
    from gmeta.ops import array_ops

    x_shape = array_ops.shape(x)
    y_shape = array_ops.shape(y)
    x_axes, y_axes = _infer_reduction_axes(x.shape, y.shape)
    if x_axes is None or y_axes is None:
        x_axes, y_axes = apply_op("BroadcastGradientArgs", s0=x_shape, s1=y_shape)
        x_must, y_must = True, True
    else:
        x_must = bool(x_axes) or x.shape.ndims < y.shape.ndims
        y_must = bool(y_axes) or y.shape.ndims < x.shape.ndims
    return (x_shape, x_axes, x_must), (y_shape, y_axes, y_must)


def _reduce_gradient_arg(grad, shape_axes_must):
    from gmeta.ops import array_ops, math_ops

    shape, axes, must = shape_axes_must
    if grad is not None and must:
        grad = math_ops.reduce_sum(grad, axes, keepdims=True)
        grad = array_ops.reshape(grad, shape)
    return grad


def reduce_gradient_args(x, y, gx, gy):
    """Sums the gradients of a broadcasting binary op back to its arguments' shapes."""
    if gx is not None or gy is not None:
        bx, by = smart_broadcast_gradient_args(x, y)
        gx = _reduce_gradient_arg(gx, bx)
        gy = _reduce_gradient_arg(gy, by)
    return gx, gy


def shapes_fully_specified_and_equal(x, y, grad) -> bool:
    xs, ys, gs = shape_tuple(x), shape_tuple(y), shape_tuple(grad)
    return xs == ys and xs == gs and xs is not None and None not in xs


def indexed_slices_to_tensor(grad):
    """A dense tensor for ``grad`` (TF's ``_IndexedSlicesToTensorNoWarning``)."""
    from gmeta.gradients._indexed_slices import IndexedSlices

    if not isinstance(grad, IndexedSlices):
        return grad
    if grad.dense_shape is None:
        raise ValueError(f"Tensor conversion requested for IndexedSlices without dense_shape: "
                         f"{grad!r}")
    return apply_op("UnsortedSegmentSum", data=grad.values, segment_ids=grad.indices,
                    num_segments=grad.dense_shape[0])

