"""Math builders (``gm.add``, ``gm.matmul``, reductions, casts, ...) and Tensor's operators.

Each builder creates the nodes, names and inputs TensorFlow 1.x's Python API creates for the
same call: ``x / y`` on int32 tensors is ``truediv/Cast``, ``truediv/Cast_1`` and a ``RealDiv``
named ``truediv``; ``gm.reduce_sum(x)`` is a ``Const`` holding ``[0, 1, ...]`` and a ``Sum``.
Dtypes are never promoted: mixing them raises ``TypeError`` naming the op and the input, as TF
does. Static shape functions and build-time constant folding are in
``gmeta/ops/_math_shapes.py``, registered when this module imports it.
"""

from __future__ import annotations

import builtins

import numpy as np

from gmeta import dtypes
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework.tensor_shape import as_shape
from gmeta.ops import _math_shapes as _math_shapes  # registers the shape functions
from gmeta.ops import constant_op

__all__ = [
    "abs", "accumulate_n", "acos", "acosh", "add", "add_n", "argmax", "argmin", "asin", "asinh",
    "atan", "atan2", "atanh", "cast", "ceil", "clip_by_value", "conj", "cos", "cosh",
    "count_nonzero", "cumprod", "cumsum", "digamma", "div", "div_no_nan", "divide", "equal",
    "erf", "erfc", "exp", "expm1", "floor", "floor_div", "floordiv", "floormod", "greater",
    "greater_equal", "imag", "is_finite", "is_inf", "is_nan", "less", "less_equal", "lgamma",
    "lin_space", "linspace", "log", "log1p", "log_sigmoid", "logical_and", "logical_not",
    "logical_or", "logical_xor", "matmul", "maximum", "minimum", "mod", "multiply",
    "multiply_no_nan", "neg", "negative", "not_equal", "pow", "range", "real", "realdiv",
    "reciprocal", "reduce_all", "reduce_any", "reduce_euclidean_norm", "reduce_logsumexp",
    "reduce_max", "reduce_mean", "reduce_min", "reduce_prod", "reduce_sum", "rint", "round",
    "rsqrt", "saturate_cast", "scalar_mul", "sigmoid", "sign", "sin", "sinh", "sqrt", "square",
    "squared_difference", "subtract", "tan", "tanh", "tensordot", "to_double", "to_float",
    "to_int32", "to_int64", "truediv", "truncatediv", "truncatemod", "xdivy", "xlog1py",
    "xlogy",
]

_apply = op_def_library.apply_op
_Tensor = ops_lib.Tensor


def _convert(value, name=None, dtype=None, dtype_hint=None):
    return ops_lib.convert_to_tensor(value, dtype=dtype, name=name, dtype_hint=dtype_hint)


def _argument_lookup(new_name, new_value, old_name, old_value):
    if new_value is not None and old_value is not None:
        raise ValueError(f"Cannot specify both '{new_name}' and '{old_name}'.")
    return new_value if new_value is not None else old_value


# -- plain op wrappers, from tables (TF's gen_math_ops functions) ----------------------------------
def _unary_wrapper(op_type, py_name, what):
    def fn(x, name=None):
        return _apply(op_type, x=x, name=name)

    fn.__name__ = fn.__qualname__ = py_name
    fn.__doc__ = (f"{what} of ``x``, elementwise (one ``{op_type}`` node).\n\n"
                  f"Args:\n    x: a Tensor or convertible value.\n    name: the node name.\n\n"
                  f"Returns:\n    A Tensor of the shape (and, except for predicates, the dtype) "
                  f"of ``x``.\n")
    return fn


def _binary_wrapper(op_type, py_name, what):
    def fn(x, y, name=None):
        return _apply(op_type, x=x, y=y, name=name)

    fn.__name__ = fn.__qualname__ = py_name
    fn.__doc__ = (f"{what} of ``x`` and ``y``, elementwise with broadcasting (one ``{op_type}`` "
                  f"node).\n\nArgs:\n    x: a Tensor or convertible value.\n    y: a value of "
                  f"``x``'s dtype.\n    name: the node name.\n\nReturns:\n    A Tensor of the "
                  f"broadcast shape.\n\nRaises:\n    TypeError: ``x`` and ``y`` have different "
                  f"dtypes.\n")
    return fn


negative = neg = _unary_wrapper("Neg", "negative", "Numerical negative")
square = _unary_wrapper("Square", "square", "The square")
sqrt = _unary_wrapper("Sqrt", "sqrt", "The square root")
rsqrt = _unary_wrapper("Rsqrt", "rsqrt", "The reciprocal square root")
exp = _unary_wrapper("Exp", "exp", "The exponential")
expm1 = _unary_wrapper("Expm1", "expm1", "``exp(x) - 1``")
log = _unary_wrapper("Log", "log", "The natural logarithm")
log1p = _unary_wrapper("Log1p", "log1p", "``log(1 + x)``")
tanh = _unary_wrapper("Tanh", "tanh", "The hyperbolic tangent")
floor = _unary_wrapper("Floor", "floor", "The floor")
ceil = _unary_wrapper("Ceil", "ceil", "The ceiling")
rint = _unary_wrapper("Rint", "rint", "The nearest integer (half to even)")
reciprocal = _unary_wrapper("Reciprocal", "reciprocal", "``1 / x``")
sin = _unary_wrapper("Sin", "sin", "The sine")
cos = _unary_wrapper("Cos", "cos", "The cosine")
tan = _unary_wrapper("Tan", "tan", "The tangent")
asin = _unary_wrapper("Asin", "asin", "The inverse sine")
acos = _unary_wrapper("Acos", "acos", "The inverse cosine")
atan = _unary_wrapper("Atan", "atan", "The inverse tangent")
sinh = _unary_wrapper("Sinh", "sinh", "The hyperbolic sine")
cosh = _unary_wrapper("Cosh", "cosh", "The hyperbolic cosine")
asinh = _unary_wrapper("Asinh", "asinh", "The inverse hyperbolic sine")
acosh = _unary_wrapper("Acosh", "acosh", "The inverse hyperbolic cosine")
atanh = _unary_wrapper("Atanh", "atanh", "The inverse hyperbolic tangent")
erf = _unary_wrapper("Erf", "erf", "The error function")
erfc = _unary_wrapper("Erfc", "erfc", "The complementary error function")
lgamma = _unary_wrapper("Lgamma", "lgamma", "log |Gamma(x)|")
digamma = _unary_wrapper("Digamma", "digamma", "The digamma function")
is_nan = _unary_wrapper("IsNan", "is_nan", "Whether each element is NaN")
is_inf = _unary_wrapper("IsInf", "is_inf", "Whether each element is infinite")
is_finite = _unary_wrapper("IsFinite", "is_finite", "Whether each element is finite")
logical_not = _unary_wrapper("LogicalNot", "logical_not", "Logical NOT")

subtract = _binary_wrapper("Sub", "subtract", "The difference")
multiply = _binary_wrapper("Mul", "multiply", "The product")
realdiv = _binary_wrapper("RealDiv", "realdiv", "The real quotient")
floor_div = _binary_wrapper("FloorDiv", "floor_div", "The floor quotient")
floormod = _binary_wrapper("FloorMod", "floormod", "The floor remainder (divisor's sign)")
truncatediv = _binary_wrapper("TruncateDiv", "truncatediv", "The quotient rounded toward zero")
truncatemod = _binary_wrapper("TruncateMod", "truncatemod", "The remainder (dividend's sign)")
maximum = _binary_wrapper("Maximum", "maximum", "The maximum (NaN propagates)")
minimum = _binary_wrapper("Minimum", "minimum", "The minimum (NaN propagates)")
squared_difference = _binary_wrapper("SquaredDifference", "squared_difference",
                                     "``(x - y)**2``")
xlogy = _binary_wrapper("Xlogy", "xlogy", "``x * log(y)`` (0 where x is 0)")
equal = _binary_wrapper("Equal", "equal", "Whether equal")
not_equal = _binary_wrapper("NotEqual", "not_equal", "Whether not equal")
less = _binary_wrapper("Less", "less", "Whether x < y")
less_equal = _binary_wrapper("LessEqual", "less_equal", "Whether x <= y")
greater = _binary_wrapper("Greater", "greater", "Whether x > y")
greater_equal = _binary_wrapper("GreaterEqual", "greater_equal", "Whether x >= y")
logical_and = _binary_wrapper("LogicalAnd", "logical_and", "Logical AND")
logical_or = _binary_wrapper("LogicalOr", "logical_or", "Logical OR")


# -- builders with TF's Python-level structure -----------------------------------------------------
def abs(x, name=None):  # noqa: A001 - TF's API name
    """The absolute value (``ComplexAbs`` for complex ``x``), in a name scope ``Abs``."""
    with ops_lib.name_scope_v1(name, "Abs", [x]) as scope:
        x = _convert(x, name="x")
        if x.dtype.is_complex:
            return _apply("ComplexAbs", x=x, Tout=x.dtype.real_dtype, name=scope)
        return _apply("Abs", x=x, name=scope)


def sigmoid(x, name=None):
    """``1 / (1 + exp(-x))``, computed without overflow (one ``Sigmoid`` node)."""
    with ops_lib.name_scope_v1(name, "Sigmoid", [x]) as scope:
        return _apply("Sigmoid", x=_convert(x, name="x"), name=scope)


def log_sigmoid(x, name=None):
    """``log(sigmoid(x))`` as TF builds it: ``-softplus(-x)``."""
    with ops_lib.name_scope_v1(name, "LogSigmoid", [x]) as scope:
        x = _convert(x, name="x")
        return _apply("Neg", x=_apply("Softplus", features=_apply("Neg", x=x)), name=scope)


def sign(x, name=None):
    """-1, 0 or 1 by the sign of ``x`` (``x / |x|`` for complex), one ``Sign`` node."""
    x = _convert(x)
    if x.dtype.is_complex:
        magnitude = _apply("ComplexAbs", x=x, Tout=x.dtype.real_dtype)
        return _apply("DivNoNan", x=x, y=cast(magnitude, x.dtype), name=name)
    return _apply("Sign", x=x, name=name)


def round(x, name=None):  # noqa: A001 - TF's API name
    """Rounds half to even; integer tensors are returned unchanged."""
    x = _convert(x, name="x")
    return x if x.dtype.is_integer else _apply("Round", x=x, name=name)


def conj(x, name=None):
    """The complex conjugate; real tensors are returned unchanged."""
    if isinstance(x, _Tensor) and not x.dtype.is_complex:
        return x
    with ops_lib.name_scope_v1(name, "Conj", [x]) as scope:
        x = _convert(x, name="x")
        if x.dtype.is_complex:
            return _apply("Conj", input=x, name=scope)
        return x


def real(input, name=None):  # noqa: A002 - TF's argument name
    """The real part (``input`` itself when it is real)."""
    with ops_lib.name_scope_v1(name, "Real", [input]) as scope:
        input = _convert(input, name="input")
        if input.dtype.is_complex:
            return _apply("Real", input=input, Tout=input.dtype.real_dtype, name=scope)
        return input


def imag(input, name=None):  # noqa: A002 - TF's argument name
    """The imaginary part (zeros for a real ``input``)."""
    with ops_lib.name_scope_v1(name, "Imag", [input]) as scope:
        input = _convert(input, name="input")
        if input.dtype.is_complex:
            return _apply("Imag", input=input, Tout=input.dtype.real_dtype, name=scope)
        from gmeta.ops import array_ops

        return array_ops.zeros_like(input)


def atan2(y, x, name=None):
    """The angle of the point ``(x, y)``, elementwise (one ``Atan2`` node; ``y`` comes first)."""
    return _apply("Atan2", y=y, x=x, name=name)


def xdivy(x, y, name=None):
    """``x / y``, 0 where ``x`` is 0 (an ``Xdivy`` node in a scope ``xdivy``)."""
    with ops_lib.name_scope_v1(name, "xdivy", [x]):
        return _apply("Xdivy", x=x, y=y)


def xlog1py(x, y, name=None):
    """``x * log1p(y)``, 0 where ``x`` is 0 (an ``Xlog1py`` node in a scope ``xlog1py``)."""
    with ops_lib.name_scope_v1(name, "xlog1py", [x]):
        return _apply("Xlog1py", x=x, y=y)


def add(x, y, name=None):
    """``x + y`` (``AddV2``; ``Add`` for strings) in a name scope ``Add``."""
    with ops_lib.name_scope_v1(name, "Add", [x]) as scope:
        x = _convert(x, name="x")
        y = _convert(y, name="y", dtype_hint=x.dtype.base_dtype)
        return _apply("Add" if x.dtype == dtypes.string else "AddV2", x=x, y=y, name=scope)


def _add_dispatch(x, y, name=None):
    if not isinstance(y, _Tensor):
        y = _convert(y, name="y", dtype_hint=x.dtype.base_dtype)
    return _apply("Add" if x.dtype == dtypes.string else "AddV2", x=x, y=y, name=name)


def pow(x, y, name=None):  # noqa: A001 - TF's API name
    """``x ** y`` (one ``Pow`` node in a scope ``Pow``); int powers must be non-negative."""
    with ops_lib.name_scope_v1(name, "Pow", [x]) as scope:
        return _apply("Pow", x=x, y=y, name=scope)


def floordiv(x, y, name=None):
    """``x // y`` rounded toward -inf (``FloorDiv`` named ``floordiv``)."""
    with ops_lib.name_scope_v1(name, "floordiv", [x, y]) as scope:
        return _apply("FloorDiv", x=x, y=y, name=scope)


mod = floormod


def _mod_operator(x, y, name=None):
    with ops_lib.name_scope_v1(name, "mod", [x, y]) as scope:
        return _apply("FloorMod", x=x, y=y, name=scope)


# TF's truediv result types: small ints become float32, wide ints float64, floats stay.
_TRUEDIV_TABLE = {
    dtypes.uint8: dtypes.float32, dtypes.int8: dtypes.float32, dtypes.uint16: dtypes.float32,
    dtypes.int16: dtypes.float32, dtypes.uint32: dtypes.float64, dtypes.int32: dtypes.float64,
    dtypes.uint64: dtypes.float64, dtypes.int64: dtypes.float64, dtypes.bfloat16: None,
    dtypes.float16: None, dtypes.float32: None, dtypes.float64: None, dtypes.complex64: None,
    dtypes.complex128: None,
}


def _same_dtype(x, y, what):
    if x.dtype.base_dtype != y.dtype.base_dtype:
        raise TypeError(f"`x` and `y` must have the same dtype in {what}, got "
                        f"{x.dtype.base_dtype.name} != {y.dtype.base_dtype.name}.")


def truediv(x, y, name=None):
    """``x / y`` as floats: integers are cast first (int8/16 -> float32, int32/64 -> float64).

    Args:
        x: a Tensor or value.
        y: a value of ``x``'s dtype.
        name: the node name (default ``truediv``).

    Returns:
        A floating Tensor.

    Raises:
        TypeError: ``x`` and ``y`` differ in dtype, or the dtype cannot be divided.
    """
    with ops_lib.name_scope_v1(name, "truediv", [x, y]) as scope:
        x = _convert(x, name="x")
        y = _convert(y, name="y", dtype_hint=x.dtype.base_dtype)
        _same_dtype(x, y, "truediv")
        try:
            dtype = _TRUEDIV_TABLE[x.dtype.base_dtype]
        except KeyError:
            raise TypeError(f"Invalid dtype {x.dtype.base_dtype.name} in __truediv__ "
                            f"(node '{scope[:-1]}').") from None
        if dtype is not None:
            x, y = cast(x, dtype), cast(y, dtype)
        return _apply("RealDiv", x=x, y=y, name=scope)


def div(x, y, name=None):
    """Python 2 division: ``RealDiv`` for floats, ``FloorDiv`` for integers (scope ``div``)."""
    with ops_lib.name_scope_v1(name, "div", [x, y]) as scope:
        x = _convert(x, name="x")
        y = _convert(y, name="y", dtype=x.dtype.base_dtype)
        _same_dtype(x, y, "div")
        if x.dtype.is_floating or x.dtype.is_complex:
            return _apply("RealDiv", x=x, y=y, name=scope)
        return _apply("FloorDiv", x=x, y=y, name=scope)


def divide(x, y, name=None):
    """``x / y`` (:func:`truediv`); with ``name`` the scope is that name."""
    if name is not None:
        return truediv(x, y, name)
    if not isinstance(x, _Tensor):
        x = _convert(x, dtype=y.dtype.base_dtype if isinstance(y, _Tensor) else None)
    return x / y


def div_no_nan(x, y, name=None):
    """``x / y``, 0 where ``y`` is 0 (integers cast as in :func:`truediv`)."""
    with ops_lib.name_scope_v1(name, "div_no_nan", [x, y]) as scope:
        if not isinstance(x, _Tensor) and isinstance(y, _Tensor):
            y = _convert(y, name="y")
            x = _convert(x, name="x", dtype=y.dtype.base_dtype)
        else:
            x = _convert(x, name="x")
            y = _convert(y, name="y", dtype_hint=x.dtype.base_dtype)
        _same_dtype(x, y, "div_no_nan")
        dtype = _TRUEDIV_TABLE.get(x.dtype.base_dtype)
        if dtype is not None:
            x, y = cast(x, dtype), cast(y, dtype)
        return _apply("DivNoNan", x=x, y=y, name=scope)


def multiply_no_nan(x, y, name=None):
    """``x * y``, 0 where ``y`` is 0 even if ``x`` is NaN or infinite."""
    with ops_lib.name_scope_v1(name, "multiply_no_nan", [x, y]) as scope:
        x = _convert(x, name="x")
        y = _convert(y, name="y", dtype=x.dtype.base_dtype)
        return _apply("MulNoNan", x=x, y=y, name=scope)


def logical_xor(x, y, name="LogicalXor"):
    """``(x | y) & ~(x & y)``, built from LogicalOr/And/Not as TF does."""
    both = _apply("LogicalAnd", x=x, y=y)
    return _apply("LogicalAnd", x=_apply("LogicalOr", x=x, y=y),
                  y=_apply("LogicalNot", x=both), name=name)


def scalar_mul(scalar, x, name=None):
    """``scalar * x`` for a 0-d ``scalar`` (one ``Mul`` node, scalar first).

    Raises:
        ValueError: ``scalar`` is not 0-d.
    """
    scalar = _convert(scalar, name="scalar", dtype=x.dtype.base_dtype)
    if scalar.shape.ndims != 0:
        raise ValueError(f"The input scalar must be a 0-D value. Received shape "
                         f"{scalar.shape}.")
    return _apply("Mul", x=scalar, y=x, name=name)


# -- casts -----------------------------------------------------------------------------------------
def cast(x, dtype, name=None):
    """``x`` converted to ``dtype`` (a ``Cast`` node; ``x`` itself if already that dtype).

    Floats cast to integers truncate toward zero; anything cast to bool is ``x != 0``.
    """
    base = dtypes.as_dtype(dtype).base_dtype
    if (isinstance(x, _Tensor) or getattr(x, "_is_resource_variable", False)) and \
            base == x.dtype:
        return x  # as TF: a tensor or resource variable of that dtype comes back unchanged
    with ops_lib.name_scope_v1(name, "Cast", [x]) as scope:
        x = _convert(x, name="x")
        if x.dtype != base:
            x = _apply("Cast", x=x, DstT=base, name=scope)
        return x


def to_float(x, name="ToFloat"):
    """``cast(x, float32)``."""
    return cast(x, dtypes.float32, name=name)


def to_double(x, name="ToDouble"):
    """``cast(x, float64)``."""
    return cast(x, dtypes.float64, name=name)


def to_int32(x, name="ToInt32"):
    """``cast(x, int32)``."""
    return cast(x, dtypes.int32, name=name)


def to_int64(x, name="ToInt64"):
    """``cast(x, int64)``."""
    return cast(x, dtypes.int64, name=name)


def saturate_cast(value, dtype, name=None):
    """Casts after clamping to ``dtype``'s range (``saturate_cast/clamp``, then ``Cast``)."""
    with ops_lib.name_scope_v1(name, "saturate_cast", [value]) as scope:
        value = _convert(value, name="value")
        dtype = dtypes.as_dtype(dtype).base_dtype
        in_dtype = value.dtype.base_dtype
        if in_dtype.is_complex:
            if dtype.is_complex:
                return cast(value, dtype, name=scope)
            value = real(value)
            in_dtype = in_dtype.real_dtype
        out = dtype.real_dtype
        np_in = in_dtype.as_numpy_dtype
        try:
            promoted = np.promote_types(np_in, out.as_numpy_dtype)
        except TypeError:
            promoted = float
        lo = np_in(np.maximum(in_dtype.min, out.min))
        if np.array([lo, out.min], dtype=promoted)[0] < np.array([lo, out.min], promoted)[1]:
            lo = np.nextafter(lo, np_in(0), dtype=np_in)
        hi = np_in(np.minimum(float(in_dtype.max), float(out.max)))
        if np.array([hi, out.max], dtype=promoted)[0] > np.array([hi, out.max], promoted)[1]:
            hi = np.nextafter(hi, np_in(0), dtype=np_in)
        value = _apply("ClipByValue", t=value, clip_value_min=_convert(lo, dtype=in_dtype),
                       clip_value_max=_convert(hi, dtype=in_dtype), name="clamp")
        return cast(value, dtype, name=scope)


# -- reductions ------------------------------------------------------------------------------------
def _rank_of(x):
    try:
        return x.shape.ndims
    except AttributeError:
        return None


def _reduction_dims(x, axis):
    if axis is not None:
        return axis
    rank = _rank_of(x)
    if rank:
        return constant_op.constant(np.arange(rank, dtype=np.int32))
    from gmeta.ops import array_ops

    return range(0, array_ops.rank(x))


def _may_reduce_to_scalar(keepdims, axis, output):
    if not output.shape.is_fully_defined() and not keepdims and axis is None:
        output.set_shape(())
    return output


def _reducer(op_type, py_name, what):
    def fn(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
           keep_dims=None):
        axis = _argument_lookup("axis", axis, "reduction_indices", reduction_indices)
        keepdims = bool(_argument_lookup("keepdims", keepdims, "keep_dims", keep_dims))
        out = _apply(op_type, input=input_tensor,
                     reduction_indices=_reduction_dims(input_tensor, axis), keep_dims=keepdims,
                     name=name)
        return _may_reduce_to_scalar(keepdims, axis, out)

    fn.__name__ = fn.__qualname__ = py_name
    fn.__doc__ = (f"The {what} of ``input_tensor`` over ``axis`` (one ``{op_type}`` node).\n\n"
                  f"Args:\n    input_tensor: the tensor to reduce.\n    axis: None (all axes), "
                  f"an int, a list of ints (negative count from the end) or an int tensor.\n"
                  f"    keepdims: keep reduced axes with length 1.\n    name: the node name.\n"
                  f"    reduction_indices: old name of ``axis``.\n    keep_dims: old name of "
                  f"``keepdims``.\n\nReturns:\n    The reduced Tensor.\n")
    return fn


reduce_sum = _reducer("Sum", "reduce_sum", "sum")
reduce_mean = _reducer("Mean", "reduce_mean", "mean (integers truncate toward zero)")
reduce_max = _reducer("Max", "reduce_max", "maximum")
reduce_min = _reducer("Min", "reduce_min", "minimum")
reduce_prod = _reducer("Prod", "reduce_prod", "product")
reduce_all = _reducer("All", "reduce_all", "logical AND")
reduce_any = _reducer("Any", "reduce_any", "logical OR")
reduce_euclidean_norm = _reducer("EuclideanNorm", "reduce_euclidean_norm", "Euclidean norm")


def reduce_logsumexp(input_tensor, axis=None, keepdims=None, name=None,
                     reduction_indices=None, keep_dims=None):
    """``log(sum(exp(x)))`` over ``axis``, stabilised by the (finite) maximum as TF does."""
    from gmeta.ops import array_ops

    axis = _argument_lookup("axis", axis, "reduction_indices", reduction_indices)
    keepdims = bool(_argument_lookup("keepdims", keepdims, "keep_dims", keep_dims))
    with ops_lib.name_scope_v1(name, "ReduceLogSumExp", [input_tensor]) as scope:
        raw_max = reduce_max(input_tensor, axis=axis, keepdims=True)
        my_max = array_ops.stop_gradient(_apply(
            "SelectV2", condition=_apply("IsFinite", x=raw_max), t=raw_max, e=0))
        result = log(reduce_sum(exp(subtract(input_tensor, my_max)), axis=axis,
                                keepdims=keepdims))
        if not keepdims:
            my_max = array_ops.reshape(my_max, _apply("Shape", input=result))
        result = add(result, my_max, name=scope)
        return _may_reduce_to_scalar(keepdims, axis, result)


def count_nonzero(input_tensor=None, axis=None, keepdims=None, dtype=dtypes.int64, name=None,
                  reduction_indices=None, keep_dims=None, input=None):  # noqa: A002
    """The number of non-zero elements over ``axis``, as ``dtype`` (default int64)."""
    from gmeta.ops import array_ops

    keepdims = bool(_argument_lookup("keepdims", keepdims, "keep_dims", keep_dims))
    input_tensor = _argument_lookup("input", input, "input_tensor", input_tensor)
    axis = _argument_lookup("axis", axis, "reduction_indices", reduction_indices)
    with ops_lib.name_scope_v1(name, "count_nonzero", [input_tensor]):
        x = _convert(input_tensor, name="input")
        if x.dtype == dtypes.bool:
            predicate = x
        else:
            predicate = _apply("NotEqual", x=x, y=array_ops.zeros([], dtype=x.dtype))
        counts = reduce_sum(cast(predicate, dtypes.int64), axis=axis, keepdims=keepdims)
        return cast(counts, dtype=dtype)


def _arg_reduce(op_type, input, axis, name, dimension, output_type):  # noqa: A002
    axis = _argument_lookup("axis", axis, "dimension", dimension)
    if axis is None:
        axis = 0
    if isinstance(axis, _Tensor):
        if not axis.dtype.is_integer:
            raise TypeError(f"axis tensor dtypes {axis.dtype.name} is not supported")
        if axis.dtype not in (dtypes.int32, dtypes.int64):
            axis = cast(axis, dtypes.int32)
    elif not isinstance(axis, (int, np.integer)):
        raise TypeError("axis must be int or Tensor with integer datatype")
    return _apply(op_type, input=input, dimension=axis, output_type=output_type, name=name)


def argmax(input, axis=None, name=None, dimension=None, output_type=dtypes.int64):  # noqa: A002
    """The index of the largest value along ``axis`` (default 0); ties give the first."""
    return _arg_reduce("ArgMax", input, axis, name, dimension, output_type)


def argmin(input, axis=None, name=None, dimension=None, output_type=dtypes.int64):  # noqa: A002
    """The index of the smallest value along ``axis`` (default 0); ties give the first."""
    return _arg_reduce("ArgMin", input, axis, name, dimension, output_type)


# -- matmul ----------------------------------------------------------------------------------------
def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, output_type=None, grad_a=False, grad_b=False,
           name=None):
    """The matrix product ``a @ b`` (``MatMul``; ``BatchMatMulV2`` above rank 2 or when a rank is
    unknown, as TF chooses).

    Args:
        a: a Tensor of rank >= 2.
        b: a Tensor of ``a``'s dtype.
        transpose_a: use ``a``'s transpose. ``adjoint_a`` is its conjugate transpose.
        transpose_b: use ``b``'s transpose. ``adjoint_b`` is its conjugate transpose.
        a_is_sparse: hint (float32 MatMuls become ``SparseMatMul``, as in TF).
        b_is_sparse: hint.
        output_type: a different output dtype (``BatchMatMulV3``).
        grad_a: TF's gradient marker attr.
        grad_b: TF's gradient marker attr.
        name: the node name (default ``MatMul``).

    Returns:
        The product Tensor.

    Raises:
        ValueError: both transpose and adjoint of one operand, or static shapes that do not fit.
    """
    with ops_lib.name_scope_v1(name, "MatMul", [a, b]) as scope:
        if transpose_a and adjoint_a:
            raise ValueError("Only one of `transpose_a` and `adjoint_a` can be True.")
        if transpose_b and adjoint_b:
            raise ValueError("Only one of `transpose_b` and `adjoint_b` can be True.")
        a = _convert(a, name="a")
        b = _convert(b, name="b", dtype_hint=a.dtype.base_dtype)
        batch = any(t.shape.ndims is None or t.shape.ndims > 2 for t in (a, b))
        v3 = output_type is not None and (output_type != a.dtype or output_type != b.dtype)
        if not a_is_sparse and not b_is_sparse and batch:
            if transpose_a:
                a, adjoint_a = conj(a), True
            if transpose_b:
                b, adjoint_b = conj(b), True
            kw = dict(x=a, y=b, adj_x=adjoint_a, adj_y=adjoint_b, grad_x=grad_a, grad_y=grad_b,
                      name=scope)
            if v3:
                return _apply("BatchMatMulV3", Tout=output_type, **kw)
            return _apply("BatchMatMulV2", **kw)
        if adjoint_a:
            a, transpose_a = conj(a), True
        if adjoint_b:
            b, transpose_b = conj(b), True
        sparse_types = (dtypes.bfloat16, dtypes.float32)
        if (a_is_sparse or b_is_sparse) and a.dtype in sparse_types and b.dtype in sparse_types:
            return _apply("SparseMatMul", a=a, b=b, transpose_a=transpose_a,
                          transpose_b=transpose_b, a_is_sparse=a_is_sparse,
                          b_is_sparse=b_is_sparse, name=scope)
        if v3:
            return _apply("BatchMatMulV3", x=a, y=b, Tout=output_type, adj_x=transpose_a,
                          adj_y=transpose_b, grad_x=grad_a, grad_y=grad_b, name=scope)
        return _apply("MatMul", a=a, b=b, transpose_a=transpose_a, transpose_b=transpose_b,
                      grad_a=grad_a, grad_b=grad_b, name=scope)


def tensordot(a, b, axes, name=None):
    """Tensor contraction of ``a`` and ``b`` over ``axes`` (fully known static shapes only).

    Raises:
        NotImplementedError: a shape is not fully known or ``axes`` is a tensor.
    """
    from gmeta.ops import array_ops

    def prepare(t, t_axes, flipped):
        shape = t.shape.as_list()
        t_axes = [i if i >= 0 else i + len(shape) for i in t_axes]
        free = [i for i in builtins.range(len(shape)) if i not in t_axes]
        free_dims = [shape[i] for i in free]
        n_free = int(np.prod(free_dims))
        n_axes = int(np.prod([shape[i] for i in t_axes]))
        perm = t_axes + free if flipped else free + t_axes
        new_shape = [n_axes, n_free] if flipped else [n_free, n_axes]
        if perm != list(builtins.range(len(shape))):
            t = array_ops.transpose(t, perm)
        if t.shape.as_list() != new_shape:
            t = array_ops.reshape(t, new_shape)
        return t, free_dims

    with ops_lib.name_scope_v1(name, "Tensordot", [a, b, axes]) as scope:
        a, b = _convert(a, name="a"), _convert(b, name="b")
        if isinstance(axes, (int, np.integer)):
            if axes < 0:
                raise ValueError(f"`axes` must be at least 0. Received: {axes}.")
            nd = a.shape.ndims
            a_axes, b_axes = list(builtins.range(nd - axes, nd)), list(builtins.range(axes))
        elif isinstance(axes, (list, tuple)) and len(axes) == 2:
            a_axes, b_axes = axes
            if isinstance(a_axes, int) and isinstance(b_axes, int):
                a_axes, b_axes = [a_axes], [b_axes]
            if len(a_axes) != len(b_axes):
                raise ValueError(f"Different number of contraction axes `a` and `b`, "
                                 f"{len(a_axes)} != {len(b_axes)}.")
        else:
            raise NotImplementedError("gm.tensordot: axes must be an int or a pair of lists")
        if not (a.shape.is_fully_defined() and b.shape.is_fully_defined()):
            raise NotImplementedError("gm.tensordot needs fully known static shapes in gmeta")
        a2, a_free = prepare(a, list(a_axes), False)
        b2, b_free = prepare(b, list(b_axes), True)
        product = matmul(a2, b2)
        if product.shape.as_list() == a_free + b_free:
            return product
        return array_ops.reshape(product, a_free + b_free, name=scope)


# -- sums of many, clipping, scans, sequences ------------------------------------------------------
def add_n(inputs, name=None):
    """The elementwise sum of ``inputs`` (one ``AddN`` node; a single input is returned)."""
    if not inputs or not isinstance(inputs, (list, tuple)):
        raise ValueError("Inputs must be an iterable of at least one Tensor/IndexedSlices with "
                         "the same dtype and shape.")
    inputs = [_convert(x) for x in inputs]
    if len(inputs) == 1:
        if name:
            from gmeta.ops import array_ops

            return array_ops.identity(inputs[0], name=name)
        return inputs[0]
    return _apply("AddN", inputs=inputs, name=name)


def accumulate_n(inputs, shape=None, tensor_dtype=None, name=None):
    """:func:`add_n` with TF1's argument checks (dtypes equal, shapes compatible)."""
    if not inputs or not isinstance(inputs, (list, tuple)):
        raise ValueError("inputs must be a list of at least one Tensor with the same dtype and "
                         "shape")
    inputs = [_convert(x) for x in inputs]
    if not all(x.dtype == inputs[0].dtype for x in inputs):
        raise ValueError("inputs must be a list of at least one Tensor with the same dtype and "
                         "shape")
    merged = as_shape(shape)
    for x in inputs:
        merged = merged.merge_with(x.shape)
    if tensor_dtype is not None and tensor_dtype != inputs[0].dtype:
        raise TypeError(f"The `tensor_dtype` argument is {tensor_dtype}, but `input` is of type "
                        f"{inputs[0].dtype.name}.")
    return add_n(inputs, name=name)


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """``t`` clipped to ``[clip_value_min, clip_value_max]`` (a ``Minimum`` then a ``Maximum``
    named ``clip_by_value``).

    Raises:
        ValueError: the bounds would broadcast ``t`` to a bigger shape.
    """
    with ops_lib.name_scope_v1(name, "clip_by_value",
                               [t, clip_value_min, clip_value_max]) as scope:
        values = _convert(t, name="t")
        t_min = minimum(values, clip_value_max)
        values.shape.assert_is_compatible_with(t_min.shape)
        t_max = maximum(t_min, clip_value_min, name=scope)
        values.shape.assert_is_compatible_with(t_max.shape)
        return t_max


def _scan(op_type, default_name, x, axis, exclusive, reverse, name):
    with ops_lib.name_scope_v1(name, default_name, [x]) as scope:
        x = _convert(x, name="x")
        return _apply(op_type, x=x, axis=axis, exclusive=exclusive, reverse=reverse, name=scope)


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None):
    """The cumulative sum along ``axis`` (``exclusive`` starts at 0; ``reverse`` from the end)."""
    return _scan("Cumsum", "Cumsum", x, axis, exclusive, reverse, name)


def cumprod(x, axis=0, exclusive=False, reverse=False, name=None):
    """The cumulative product along ``axis`` (``exclusive`` starts at 1)."""
    return _scan("Cumprod", "Cumprod", x, axis, exclusive, reverse, name)


_RANGE_TYPES = [dtypes.int32, dtypes.int64, dtypes.float16, dtypes.bfloat16, dtypes.float32,
                dtypes.float64]


def range(start, limit=None, delta=1, dtype=None, name="range"):  # noqa: A001 - TF's API name
    """``[start, start + delta, ...)`` up to ``limit`` (one ``Range`` node).

    With no ``dtype`` the widest of the arguments' dtypes (int32 < int64 < float16 < bfloat16 <
    float32 < float64) wins and the others are cast to it, as in TF.
    """
    if limit is None:
        start, limit = 0, start
    with ops_lib.name_scope_v1(name, "Range", [start, limit, delta]) as scope:
        args = []
        for value, arg_name in ((start, "start"), (limit, "limit"), (delta, "delta")):
            if not isinstance(value, _Tensor):
                value = _convert(value, name=arg_name, dtype=dtype)
            args.append(value)
        if dtype is None:
            for a in args:
                if a.dtype.base_dtype not in _RANGE_TYPES:
                    raise TypeError(f"range: argument of dtype {a.dtype.name} is not one of "
                                    f"{', '.join(t.name for t in _RANGE_TYPES)}")
            dtype = builtins.max((a.dtype.base_dtype for a in args), key=_RANGE_TYPES.index)
        start, limit, delta = (cast(a, dtype) for a in args)
        return _apply("Range", start=start, limit=limit, delta=delta, name=scope)


def linspace(start, stop, num, name=None, axis=0):
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive.

    gmeta builds TF1's single ``LinSpace`` node (TF 2.x builds a larger subgraph with the same
    values) and supports scalar ``start``/``stop`` only.
    """
    if axis != 0:
        raise NotImplementedError("gm.linspace supports axis=0 only")
    with ops_lib.name_scope_v1(name, "LinSpace", [start, stop, num]) as scope:
        start = _convert(start, name="start")
        stop = _convert(stop, name="stop", dtype=start.dtype)
        return _apply("LinSpace", start=start, stop=stop, num=num, name=scope)


lin_space = linspace


# -- Tensor and Variable operators -----------------------------------------------------------------
def _and(x, y, name=None):
    if x.dtype == dtypes.bool:
        return _apply("LogicalAnd", x=x, y=y, name=name)
    return _apply("BitwiseAnd", x=x, y=y)


def _or(x, y, name=None):
    if x.dtype == dtypes.bool:
        return _apply("LogicalOr", x=x, y=y, name=name)
    return _apply("BitwiseOr", x=x, y=y)


def _xor(x, y, name=None):
    if x.dtype == dtypes.bool:
        return logical_xor(x, y, name=name)
    return _apply("BitwiseXor", x=x, y=y)


def _mul_operator(x, y, name=None):
    if any(isinstance(v, _Tensor) and v.dtype == dtypes.bool for v in (x, y)):
        product = _apply("Mul", x=_apply("Cast", x=x, DstT=dtypes.int32),
                         y=_apply("Cast", x=y, DstT=dtypes.int32), name=name)
        return _apply("Cast", x=product, DstT=dtypes.bool)
    return _apply("Mul", x=x, y=y, name=name)


def _binary_operator(func, op_name):
    def forward(x, y):
        with ops_lib.name_scope_v1(None, op_name, [x, y]) as scope:
            try:
                return func(x, y, name=scope)
            except (TypeError, ValueError) as e:
                reflected = getattr(type(y), f"__r{op_name}__", None)
                if reflected is None:
                    raise
                try:
                    out = reflected(y, x)
                except (TypeError, ValueError):
                    raise e from None
                if out is NotImplemented:
                    raise
                return out

    def reverse(y, x):
        with ops_lib.name_scope_v1(None, op_name, [x, y]) as scope:
            x = _convert(x, name="x", dtype=y.dtype.base_dtype)
            return func(x, y, name=scope)

    forward.__name__, reverse.__name__ = f"__{op_name}__", f"__r{op_name}__"
    return forward, reverse


_BINARY_OPERATORS = {
    "add": _add_dispatch, "sub": subtract, "mul": _mul_operator, "truediv": truediv,
    "floordiv": floordiv, "mod": _mod_operator, "pow": pow, "and": _and, "or": _or, "xor": _xor,
    "matmul": lambda a, b, name=None: matmul(a, b, name=name),
}
_UNARY_OPERATORS = {
    "__neg__": lambda x: _apply("Neg", x=x),
    "__abs__": lambda x: abs(x),
    "__invert__": lambda x: _apply("LogicalNot" if x.dtype == dtypes.bool else "Invert", x=x),
    "__lt__": lambda x, y: _apply("Less", x=x, y=y),
    "__le__": lambda x, y: _apply("LessEqual", x=x, y=y),
    "__gt__": lambda x, y: _apply("Greater", x=x, y=y),
    "__ge__": lambda x, y: _apply("GreaterEqual", x=x, y=y),
}


def _register_operators():
    from gmeta.ops.variables import Variable

    for op_name, func in _BINARY_OPERATORS.items():
        for method, body in zip((f"__{op_name}__", f"__r{op_name}__"),
                                _binary_operator(func, op_name)):
            _Tensor._override_operator(method, body)
            Variable._overload_operator(method)
    for method, body in _UNARY_OPERATORS.items():
        body.__name__ = method
        _Tensor._override_operator(method, body)
        Variable._overload_operator(method)


_register_operators()
