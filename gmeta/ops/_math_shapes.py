"""Static shapes of the math ops (TF's C++ shape functions: broadcasting, reductions, matmul,
...) and build-time constant folding (what TF's shape inference evaluates of constant
subgraphs, run through the CPU kernels).

Both register with ``gmeta.framework.shape_inference`` on import; ``gmeta.ops.math_ops``
imports this module, so building any math op has them in place.
"""

from __future__ import annotations

import weakref

import numpy as np

from gmeta.framework import shape_inference as _si
from gmeta.framework.tensor_shape import TensorShape


def _dims(shape):
    return None if shape.ndims is None else list(shape)


def _broadcast_dims(x, y, strict=True):
    """TF's broadcast shape function: ``None`` for unknown rank (or incompatible, non-strict)."""
    if x is None or y is None:
        return None
    n = max(len(x), len(y))
    x, y = [1] * (n - len(x)) + x, [1] * (n - len(y)) + y
    out = []
    for a, b in zip(x, y):
        if a is not None and a > 1:
            if b is not None and b > 1 and a != b:
                if not strict:
                    return None
                raise ValueError(f"Dimensions must be equal, but are {a} and {b}")
            out.append(a)
        elif b is not None and b > 1:
            out.append(b)
        elif a == 1:
            out.append(b)
        elif b == 1:
            out.append(a)
        else:  # each 0 or unknown
            out.append(a if b is None else b)
    return out


def _broadcast_shape(a, b, strict=True):
    try:
        return TensorShape(_broadcast_dims(_dims(a), _dims(b), strict))
    except ValueError as e:
        raise ValueError(f"{e} with input shapes: {_shape_str(a)}, {_shape_str(b)}.") from None


def _shape_str(s):
    if s.ndims is None:
        return "?"
    return "[" + ",".join("?" if d is None else str(d) for d in s) + "]"


_BROADCASTING = ["AddV2", "Add", "Sub", "Mul", "RealDiv", "Div", "FloorDiv", "FloorMod", "Mod",
                 "TruncateDiv", "TruncateMod", "Pow", "Maximum", "Minimum", "SquaredDifference",
                 "DivNoNan", "MulNoNan", "Xdivy", "Xlogy", "Xlog1py", "Atan2", "Less",
                 "LessEqual", "Greater", "GreaterEqual", "LogicalAnd", "LogicalOr", "BitwiseAnd",
                 "BitwiseOr", "BitwiseXor", "LeftShift", "RightShift"]
_ELEMENTWISE = ["Neg", "Abs", "Sign", "Square", "Sqrt", "Rsqrt", "Exp", "Expm1", "Log", "Log1p",
                "Tanh", "Sigmoid", "Floor", "Ceil", "Round", "Rint", "Reciprocal", "Inv", "Sin",
                "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
                "IsNan", "IsInf", "IsFinite", "LogicalNot", "Invert", "Conj", "Real", "Imag",
                "ComplexAbs", "Erf", "Erfc", "Lgamma", "Digamma", "Cast", "ClipByValue",
                "Cumsum", "Cumprod"]
_REDUCTIONS = ["Sum", "Prod", "Mean", "Max", "Min", "All", "Any", "EuclideanNorm"]


@_si.register(*_BROADCASTING)
def _broadcast_binary_shape(op):
    return [_broadcast_shape(op.inputs[0].shape, op.inputs[1].shape)]


@_si.register("Equal", "NotEqual")
def _equality_shape(op):
    strict = op._attr("incompatible_shape_error", True)
    return [_broadcast_shape(op.inputs[0].shape, op.inputs[1].shape, strict)]


@_si.register(*_ELEMENTWISE)
def _elementwise_shape(op):
    return [op.inputs[0].shape]


@_si.register(*_REDUCTIONS)
def _reduction_shape(op):
    shape, indices = op.inputs[0].shape, op.inputs[1]
    if indices.shape.ndims is not None and indices.shape.ndims > 1:
        raise ValueError(f"Shape must be at most rank 1 but is rank {indices.shape.ndims}")
    keep = op._attr("keep_dims", False)
    value = _si.constant_value(indices)
    if value is None or shape.ndims is None:
        return [TensorShape([None] * shape.ndims if keep and shape.ndims is not None else None)]
    rank = shape.ndims
    axes = set()
    for a in np.asarray(value).reshape(-1).tolist():
        if not -rank <= a < rank:
            raise ValueError(f"Invalid reduction dimension {a} for input with {rank} dimensions.")
        axes.add(a % rank)
    dims = []
    for i, d in enumerate(shape):
        if i not in axes:
            dims.append(d)
        elif keep:
            dims.append(1)
    return [dims]


@_si.register("ArgMax", "ArgMin")
def _arg_reduce_shape(op):
    shape = op.inputs[0].shape
    if shape.ndims is None:
        return [None]
    rank = shape.ndims
    if rank <= 1:
        return [[]]
    value = _si.constant_value(op.inputs[1])
    if value is None:
        return [[None] * (rank - 1)]
    d = int(value)
    d = d + rank if d < 0 else d
    if not 0 <= d < rank:
        raise ValueError(f"Dimension ({d}) must be in the range [{-rank}, {rank}), where {rank} "
                         "is the number of dimensions in the input.")
    return [[s for i, s in enumerate(shape) if i != d]]


def _merge_dim(a, b, what):
    if a is not None and b is not None and a != b:
        raise ValueError(f"Dimensions must be equal, but are {a} and {b} {what}")
    return a if a is not None else b


@_si.register("MatMul", "SparseMatMul")
def _matmul_shape(op):
    a, b = op.inputs[0].shape, op.inputs[1].shape
    for i, s in enumerate((a, b)):
        if s.ndims is not None and s.ndims != 2:
            raise ValueError(f"Shape must be rank 2 but is rank {s.ndims} for input {i}")
    a, b = a.with_rank(2), b.with_rank(2)
    ta, tb = op._attr("transpose_a", False), op._attr("transpose_b", False)
    m, k1 = (a[1], a[0]) if ta else (a[0], a[1])
    k2, n = (b[1], b[0]) if tb else (b[0], b[1])
    _merge_dim(k1, k2, f"for MatMul with input shapes: {_shape_str(a)}, {_shape_str(b)}")
    return [[m, n]]


@_si.register("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def _batch_matmul_shape(op):
    a, b = op.inputs[0].shape, op.inputs[1].shape
    for i, s in enumerate((a, b)):
        if s.ndims is not None and s.ndims < 2:
            raise ValueError(f"Shape must be at least rank 2 but is rank {s.ndims} for input {i}")
    if a.ndims is None or b.ndims is None:
        return [None]
    adj_x, adj_y = op._attr("adj_x", False), op._attr("adj_y", False)
    rows, k1 = (a[-1], a[-2]) if adj_x else (a[-2], a[-1])
    k2, cols = (b[-1], b[-2]) if adj_y else (b[-2], b[-1])
    what = f"with input shapes: {_shape_str(a)}, {_shape_str(b)}"
    _merge_dim(k1, k2, what)
    if op.type == "BatchMatMul":
        if a.ndims != b.ndims:
            raise ValueError(f"Shapes must be equal rank, but are {a.ndims} and {b.ndims}")
        batch = [_merge_dim(x, y, what) for x, y in zip(list(a)[:-2], list(b)[:-2])]
    else:
        batch = _broadcast_dims(list(a)[:-2], list(b)[:-2])
    return [batch + [rows, cols]]


@_si.register("AddN")
def _add_n_shape(op):
    out = op.inputs[-1].shape
    for i in range(len(op.inputs) - 2, -1, -1):
        try:
            out = op.inputs[i].shape.merge_with(out)
        except ValueError:
            raise ValueError(f"From merging shape {i} with other shapes: shapes "
                             f"{_shape_str(op.inputs[i].shape)} and {_shape_str(out)} are "
                             "not compatible") from None
    return [out]


@_si.register("Select")
def _select_shape(op):
    cond, then, other = (t.shape for t in op.inputs)
    data = then.merge_with(other)
    if cond.ndims is None or data.ndims is None or cond.ndims == 0:
        return [data]
    if cond.ndims != 1 or data.ndims == 0:
        return [data.merge_with(cond)]
    TensorShape([data[0]]).merge_with(cond)
    return [data]


@_si.register("SelectV2")
def _select_v2_shape(op):
    cond, then, other = (t.shape for t in op.inputs)
    return [_broadcast_shape(cond, _broadcast_shape(then, other))]


def _scalar_input(op, i, what):
    s = op.inputs[i].shape
    if s.ndims is not None and s.ndims != 0:
        raise ValueError(f"Shape must be rank 0 but is rank {s.ndims} for '{what}'")


@_si.register("Range")
def _range_shape(op):
    from gmeta.kernels.math import range_check, range_size

    for i, what in enumerate(("start", "limit", "delta")):
        _scalar_input(op, i, what)
    values = [_si.constant_value(t) for t in op.inputs]
    if any(v is None for v in values):
        return [[None]]
    np_type = op.outputs[0].dtype.as_numpy_dtype
    start, limit, delta = (np_type(v) for v in values)
    problem = range_check(start, limit, delta)
    if problem:
        raise ValueError(problem)
    return [[range_size(start, limit, delta)]]


@_si.register("LinSpace")
def _lin_space_shape(op):
    for i, what in enumerate(("start", "stop", "num")):
        _scalar_input(op, i, what)
    num = _si.constant_value(op.inputs[2])
    if num is not None and int(num) <= 0:
        raise ValueError(f"Requires num > 0: {int(num)}")
    return [[None if num is None else int(num)]]


# -- build-time constant folding (what TF's shape inference evaluates of constant subgraphs) -----
_FOLD_LIMIT = 1 << 16
_FOLDED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # tensor -> value (or None)


@_si.register_constant(*_BROADCASTING, *_ELEMENTWISE, *_REDUCTIONS, "Equal", "NotEqual",
                       "ArgMax", "ArgMin", "MatMul", "BatchMatMulV2", "AddN", "Select",
                       "SelectV2", "Range")
def _fold(tensor):
    """``tensor``'s value when all its op's inputs are small constants (memoised per tensor)."""
    if tensor in _FOLDED:
        return _FOLDED[tensor]
    try:
        value = _evaluate(tensor)
    except RecursionError:  # a very deep constant chain: give up, as a size limit would
        value = None
    _FOLDED[tensor] = value
    return value


def _evaluate(tensor):
    from gmeta import errors
    from gmeta.kernels import KernelContext, lookup

    op = tensor.op
    values = []
    for t in op.inputs:
        v = _si.constant_value(t)
        if v is None or v.size > _FOLD_LIMIT:
            return None
        values.append(np.asarray(v, dtype=t.dtype.base_dtype.as_numpy_dtype))
    kdef = lookup(op.type, "CPU")
    if kdef is None:
        return None
    try:
        with np.errstate(all="ignore"):
            out = kdef.factory(KernelContext(op, np, "CPU", None))(*values)
    except errors.OpError:
        return None
    return out if len(op.outputs) == 1 else out[tensor.value_index]
