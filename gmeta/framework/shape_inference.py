"""Static shape inference: one shape function per op type, run when an op is created.

A shape function takes the Operation and returns one ``TensorShape`` (or shape-like) per output;
ops without one get unknown shapes, as TF gives ops whose shape function cannot decide.
``constant_value(t)`` evaluates small constant subgraphs (Const, Shape of a known shape, Pack,
Cast, ...) the way TF's shape inference uses ``input_tensor``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from gmeta.framework.tensor_shape import TensorShape, as_shape

_SHAPE_FNS: dict[str, Callable] = {}
_CONSTANT_FNS: dict[str, Callable] = {}


def register(*op_types: str):
    """Decorator: ``@register("MatMul") def _matmul_shape(op): return [shape]``."""

    def deco(fn):
        for op_type in op_types:
            _SHAPE_FNS[op_type] = fn
        return fn

    return deco


def register_constant(*op_types: str):
    """Decorator for partial evaluation used by ``constant_value`` (fn(op) -> ndarray or None)."""

    def deco(fn):
        for op_type in op_types:
            _CONSTANT_FNS[op_type] = fn
        return fn

    return deco


def infer(op) -> None:
    fn = _SHAPE_FNS.get(op._type)
    if fn is None:
        return
    try:
        shapes = fn(op)
    except (ValueError, TypeError) as e:
        raise ValueError(f"Shape inference failed for node {op.name!r} ({op.type}): {e}") from None
    if shapes is None:
        return
    for t, s in zip(op._outputs, shapes):
        t._shape = as_shape(s)


def constant_value(tensor):
    """The value of ``tensor`` if it can be computed at graph-build time, else None."""
    fn = _CONSTANT_FNS.get(tensor.op.type)
    if fn is None:
        return None
    try:
        value = fn(tensor)
    except (ValueError, TypeError, IndexError):
        return None
    return None if value is None else np.asarray(value)


def constant_value_as_shape(tensor) -> TensorShape:
    """A shape from a 1-D int tensor, partially known where its elements are (-1 = unknown)."""
    value = constant_value(tensor)
    if value is not None:
        return TensorShape([None if d < 0 else int(d) for d in value.ravel()])
    op = tensor.op
    if op.type == "Shape":
        return op.inputs[0].shape
    if op.type == "ShapeN":
        return op.inputs[tensor.value_index].shape
    if op.type == "Pack":
        dims = []
        for t in op.inputs:
            v = constant_value(t)
            dims.append(None if v is None or int(v) < 0 else int(v))
        return TensorShape(dims)
    if op.type == "ConcatV2":
        out = TensorShape([])
        for t in op.inputs[:-1]:
            out = out.concatenate(constant_value_as_shape(t))
        return out
    rank = tensor.shape[0] if tensor.shape.ndims == 1 else None
    return TensorShape(None if rank is None else [None] * rank)


# -- core ops whose shapes everything else needs ---------------------------------------------------
@register("Const")
def _const_shape(op):
    return [TensorShape(op.node_def_attrs["value"].tensor.tensor_shape)]


@register_constant("Const")
def _const_value(t):
    return t.op._attr("value")


@register("Placeholder")
def _placeholder_shape(op):
    av = op.node_def_attrs.get("shape")
    return [TensorShape(av.shape) if av is not None else TensorShape(None)]


@register("PlaceholderWithDefault")
def _placeholder_with_default_shape(op):
    return [TensorShape(op.node_def_attrs["shape"].shape)]


@register("VariableV2", "Variable")
def _variable_shape(op):
    return [TensorShape(op.node_def_attrs["shape"].shape)]


@register("Identity", "StopGradient", "PreventGradient", "Snapshot", "RefIdentity", "Assign",
          "AssignAdd", "AssignSub", "CheckNumerics", "EnsureShape")
def _same_as_first_input(op):
    if op.type == "Assign" and not op._attr("validate_shape", True):
        return [op.inputs[1].shape]
    shape = op.inputs[0].shape
    if op.type == "Assign":
        try:
            shape = shape.merge_with(op.inputs[1].shape)
        except ValueError:
            raise ValueError(f"Shapes must be equal rank / compatible, but are "
                             f"{op.inputs[0].shape} and {op.inputs[1].shape}") from None
    if op.type == "EnsureShape":
        shape = shape.merge_with(op._attr("shape"))
    return [shape]


@register_constant("Identity", "StopGradient", "Snapshot")
def _identity_value(t):
    return constant_value(t.op.inputs[0])


@register("NoOp")
def _no_outputs(op):
    return []


def broadcast_shapes(a, b) -> TensorShape:
    """The broadcast of two static shapes (numpy/TF rules), unknown where undecidable."""
    a, b = as_shape(a), as_shape(b)
    if a.ndims is None or b.ndims is None:
        return TensorShape(None)
    da, db = list(a), list(b)
    n = max(len(da), len(db))
    da = [1] * (n - len(da)) + da
    db = [1] * (n - len(db)) + db
    out = []
    for x, y in zip(da, db):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif x is None or y is None:
            out.append(y if x is None else x)
        elif x == y:
            out.append(x)
        else:
            raise ValueError(f"Dimensions must be equal, but are {x} and {y} for shapes {a} "
                             f"and {b}")
    return TensorShape(out)


def unchanged_shape(op):
    return [op.inputs[0].shape]


def shape_from_input(op, index=0) -> TensorShape:
    """The shape given by a 1-D shape tensor input (as far as it is known statically)."""
    return constant_value_as_shape(op.inputs[index])
