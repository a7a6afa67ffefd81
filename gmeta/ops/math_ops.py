"""Math builders (``gm.add``, ``gm.matmul``, reductions, ...) and Tensor's Python operators."""

from __future__ import annotations

from gmeta import dtypes
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib


def add(x, y, name=None):
    return op_def_library.apply_op("AddV2", x=x, y=y, name=name)


def multiply(x, y, name=None):
    return op_def_library.apply_op("Mul", x=x, y=y, name=name)


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, output_type=None, name=None):
    with ops_lib.name_scope_v1(name, "MatMul", [a, b]) as scope:
        a = ops_lib.convert_to_tensor(a, name="a")
        b = ops_lib.convert_to_tensor(b, name="b", dtype=a.dtype.base_dtype)
        return op_def_library.apply_op("MatMul", a=a, b=b, transpose_a=transpose_a or adjoint_a,
                                       transpose_b=transpose_b or adjoint_b, name=scope)


def _binary_operator(op_type, op_name):
    def forward(x, y):
        with ops_lib.name_scope_v1(None, op_name, [x, y]) as scope:
            y = ops_lib.convert_to_tensor(y, dtype=x.dtype.base_dtype, name="y")
            return op_def_library.apply_op(op_type, x=x, y=y, name=scope)

    def reverse(y, x):
        with ops_lib.name_scope_v1(None, op_name, [x, y]) as scope:
            x = ops_lib.convert_to_tensor(x, dtype=y.dtype.base_dtype, name="x")
            return op_def_library.apply_op(op_type, x=x, y=y, name=scope)

    return forward, reverse


for _op_type, _op_name, _py in (("AddV2", "add", "add"), ("Mul", "mul", "mul"),
                                ("Sub", "sub", "sub")):
    _f, _r = _binary_operator(_op_type, _op_name)
    ops_lib.Tensor._override_operator(f"__{_py}__", _f)
    ops_lib.Tensor._override_operator(f"__r{_py}__", _r)

_ = dtypes


# -- shape functions -------------------------------------------------------------------------------
from gmeta.framework import shape_inference as _si  # noqa: E402


@_si.register("AddV2", "Add", "Sub", "Mul", "RealDiv", "Div", "FloorDiv", "FloorMod", "Maximum",
              "Minimum", "Pow", "SquaredDifference", "TruncateDiv", "TruncateMod", "DivNoNan",
              "Atan2", "Xdivy", "Xlogy", "MulNoNan")
def _binary_shape(op):
    return [_si.broadcast_shapes(op.inputs[0].shape, op.inputs[1].shape)]


@_si.register("MatMul")
def _matmul_shape(op):
    a, b = op.inputs[0].shape, op.inputs[1].shape
    if a.ndims is None or b.ndims is None:
        return [[None, None]]
    if a.ndims != 2 or b.ndims != 2:
        raise ValueError(f"Shape must be rank 2 but is rank {a.ndims if a.ndims != 2 else b.ndims}")
    ta, tb = op._attr("transpose_a", False), op._attr("transpose_b", False)
    m, k1 = (a[1], a[0]) if ta else (a[0], a[1])
    k2, n = (b[1], b[0]) if tb else (b[0], b[1])
    if k1 is not None and k2 is not None and k1 != k2:
        raise ValueError(f"Dimensions must be equal, but are {k1} and {k2} for MatMul with "
                         f"input shapes: {a}, {b}")
    return [[m, n]]
