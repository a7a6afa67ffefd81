"""Math kernels: elementwise arithmetic, comparisons, casts, reductions, matmul, ranges, scans.

Every kernel returns an array of exactly the node's output dtype, also for 0-d results (numpy
ufuncs and reductions return scalars there; ``xp.asarray`` turns them back into arrays). Errors
TensorFlow raises at run time are raised with TF's class and message, naming the node
(``InvalidArgumentError`` but for TF's own exceptions, such as TruncateDiv's Internal error).
Kernels use only ``ctx.xp``; scalar arguments (axes, range bounds) are read with ``.item()`` /
``.tolist()``, which work on numpy and CuPy arrays alike.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from gmeta import errors
from gmeta.kernels import cuda_fused, inplace_binary, inplace_unary, kernel


def _invalid(op, message):
    return errors.InvalidArgumentError(None, op, f"{message} (node '{op.name}', op {op.type})")


def _shape(a) -> str:
    return "[" + ",".join(str(d) for d in a.shape) + "]"


def _incompatible(op, *arrays):
    return _invalid(op, "Incompatible shapes: " + " vs. ".join(_shape(a) for a in arrays))


def _is_int(dtype) -> bool:
    return dtype.is_integer


# -- elementwise binary ----------------------------------------------------------------------------
_BINARY = {
    "AddV2": "add", "Add": "add", "Sub": "subtract", "Mul": "multiply", "Maximum": "maximum",
    "Minimum": "minimum", "Atan2": "arctan2", "Less": "less", "LessEqual": "less_equal",
    "Greater": "greater", "GreaterEqual": "greater_equal", "LogicalAnd": "logical_and",
    "LogicalOr": "logical_or", "BitwiseAnd": "bitwise_and", "BitwiseOr": "bitwise_or",
    "BitwiseXor": "bitwise_xor", "LeftShift": "left_shift", "RightShift": "right_shift",
}


def _register_binary(op_type, fn_name):
    @kernel(op_type, inplace=inplace_binary(fn_name))
    def factory(ctx):
        xp, op = ctx.xp, ctx.op
        fn, asarray = getattr(xp, fn_name), xp.asarray

        def run(x, y):
            try:
                return asarray(fn(x, y))
            except ValueError:
                raise _incompatible(op, x, y) from None

        return run

    factory.__name__ = f"_{fn_name}_{op_type.lower()}"


for _op_type, _fn_name in _BINARY.items():
    _register_binary(_op_type, _fn_name)


def _binary_body(ctx, body):
    """A kernel from ``body(x, y)`` with broadcast errors reported and the output dtype fixed."""
    op, asarray, dtype = ctx.op, ctx.xp.asarray, ctx.output_np_dtype(0)

    def run(x, y):
        try:
            out = body(x, y)
        except ValueError:
            raise _incompatible(op, x, y) from None
        return asarray(out).astype(dtype, copy=False)

    return run


def _int_division(ctx, body):
    """``body`` guarded against integer division by zero, as TF's integer kernels are.

    TF 2.x reports it as InvalidArgument, except for TruncateDiv/TruncateMod, whose kernels
    report an Internal error.
    """
    op = ctx.op
    internal = ctx.type in ("TruncateDiv", "TruncateMod")

    def guarded(x, y):
        if (y == 0).any():
            if internal:
                raise errors.InternalError(
                    None, op, f"Unexpected error in binary operator (only integer div and mod "
                              f"should have errors): Integer division by zero (node "
                              f"'{op.name}', op {op.type})")
            raise _invalid(op, "Integer division by zero")
        return body(x, y)

    return _binary_body(ctx, guarded)


def _trunc_div(xp):
    def body(x, y):
        q = xp.floor_divide(x, y)
        fix = (xp.remainder(x, y) != 0) & ((x < 0) != (y < 0))
        return xp.where(fix, q + 1, q)

    return body


def _div_inplace(ctx, ks, regular):
    """Float RealDiv/Div (``true_divide``) write into a dying input."""
    if ctx.type in ("FloorDiv", "TruncateDiv") or _is_int(ctx.input_dtypes[0]):
        return None
    return inplace_binary("true_divide")(ctx, ks, regular)


@kernel("RealDiv", "Div", "FloorDiv", "TruncateDiv", inplace=_div_inplace)
def _div(ctx):
    xp, op_type = ctx.xp, ctx.type
    if not _is_int(ctx.input_dtypes[0]):
        if op_type == "FloorDiv":
            return _binary_body(ctx, lambda x, y: xp.floor(xp.true_divide(x, y)))
        if op_type == "TruncateDiv":
            return _binary_body(ctx, lambda x, y: xp.trunc(xp.true_divide(x, y)))
        return _binary_body(ctx, xp.true_divide)
    if op_type == "FloorDiv" or ctx.input_dtypes[0].is_unsigned:
        return _int_division(ctx, xp.floor_divide)
    return _int_division(ctx, _trunc_div(xp))


@kernel("FloorMod", "TruncateMod", "Mod")
def _mod(ctx):
    xp = ctx.xp
    floor = ctx.type == "FloorMod"
    if _is_int(ctx.input_dtypes[0]):
        return _int_division(ctx, xp.remainder if floor else xp.fmod)
    if not floor:
        return _binary_body(ctx, xp.fmod)

    def floor_mod(x, y):  # TF: fmod, moved to the divisor's sign when the signs differ
        m = xp.fmod(x, y)
        return xp.where((m != 0) & ((y < 0) != (m < 0)), m + y, m)

    return _binary_body(ctx, floor_mod)


@kernel("Pow")
def _pow(ctx):
    xp, op = ctx.xp, ctx.op
    if not _is_int(ctx.input_dtypes[0]):
        return _binary_body(ctx, xp.power)

    def int_pow(x, y):
        if (y < 0).any():
            raise _invalid(op, "Integers to negative integer powers are not allowed")
        return xp.power(x, y)

    return _binary_body(ctx, int_pow)


@kernel("SquaredDifference")
def _squared_difference(ctx):
    xp = ctx.xp
    if ctx.input_dtypes[0].is_complex:
        return _binary_body(ctx, lambda x, y: xp.conj(x - y) * (x - y))
    return _binary_body(ctx, lambda x, y: xp.square(xp.subtract(x, y)))


@kernel("DivNoNan", "MulNoNan", "Xdivy", "Xlogy", "Xlog1py")
def _zero_guarded(ctx):
    xp, op_type = ctx.xp, ctx.type
    zero = ctx.const(0, ctx.output_np_dtype(0))
    if op_type == "DivNoNan":
        return _binary_body(ctx, lambda x, y: xp.where(y == 0, zero, xp.true_divide(x, y)))
    if op_type == "MulNoNan":
        return _binary_body(ctx, lambda x, y: xp.where(y == 0, zero, xp.multiply(x, y)))
    inner = {"Xdivy": xp.true_divide, "Xlogy": lambda x, y: x * xp.log(y),
             "Xlog1py": lambda x, y: x * xp.log1p(y)}[op_type]
    return _binary_body(ctx, lambda x, y: xp.where(x == 0, zero, inner(x, y)))


@kernel("Equal", "NotEqual")
def _equal(ctx):
    xp, op = ctx.xp, ctx.op
    fn = xp.equal if ctx.type == "Equal" else xp.not_equal
    strict = ctx.attr("incompatible_shape_error", True)
    mismatch = xp.asarray(ctx.type == "NotEqual")

    def run(x, y):
        try:
            out = fn(x, y)
        except ValueError:
            if strict:
                raise _incompatible(op, x, y) from None
            return mismatch.copy()
        return xp.asarray(out).astype(np.bool_, copy=False)

    return run


# -- elementwise unary -----------------------------------------------------------------------------
_UNARY = {
    "Neg": "negative", "Abs": "abs", "Sign": "sign", "Square": "square", "Sqrt": "sqrt",
    "Exp": "exp", "Expm1": "expm1", "Log": "log", "Log1p": "log1p", "Tanh": "tanh",
    "Floor": "floor", "Ceil": "ceil", "Round": "rint", "Rint": "rint", "Sin": "sin", "Cos": "cos",
    "Tan": "tan", "Asin": "arcsin", "Acos": "arccos", "Atan": "arctan", "Sinh": "sinh",
    "Cosh": "cosh", "Asinh": "arcsinh", "Acosh": "arccosh", "Atanh": "arctanh", "IsNan": "isnan",
    "IsInf": "isinf", "IsFinite": "isfinite", "LogicalNot": "logical_not", "Invert": "invert",
    "Conj": "conj",
}


def _register_unary(op_type, fn_name):
    # rint of integers makes floats: no in-place variant (it would not fit its input)
    @kernel(op_type, inplace=None if fn_name == "rint" else inplace_unary(fn_name))
    def factory(ctx):
        fn, asarray = getattr(ctx.xp, fn_name), ctx.xp.asarray
        dtype = ctx.output_np_dtype(0)
        if fn_name in ("rint", "sign") and ctx.input_dtypes[0].is_integer:
            return lambda x: asarray(fn(x)).astype(dtype, copy=False)
        return lambda x: asarray(fn(x))

    factory.__name__ = f"_{fn_name}_{op_type.lower()}"


for _op_type, _fn_name in _UNARY.items():
    _register_unary(_op_type, _fn_name)


@kernel("Rsqrt", "Reciprocal", "Inv", "Sigmoid", "Real", "Imag", "ComplexAbs")
def _unary_special(ctx):
    xp, op_type = ctx.xp, ctx.type
    dtype = ctx.output_np_dtype(0)
    asarray = xp.asarray
    if op_type == "Rsqrt":
        return lambda x: asarray(1 / xp.sqrt(x)).astype(dtype, copy=False)
    if op_type in ("Reciprocal", "Inv"):
        if ctx.input_dtypes[0].is_integer:  # C integer division of 1 by x
            return lambda x: asarray(xp.where(xp.abs(x) == 1, x, 0)).astype(dtype, copy=False)
        return lambda x: asarray(1 / x).astype(dtype, copy=False)
    if op_type == "Sigmoid":
        fused = cuda_fused.pick(xp, "sigmoid", dtype)
        if fused is not None:  # CuPy: 1 / (1 + e^-x) in one launch
            return fused
        if ctx.input_dtypes[0].is_floating:
            # 1 / (1 + e^-x) in one buffer, 3x faster than expit and as accurate at both ends:
            # e^-x is huge for very negative x and 1 / huge keeps its precision; past float's
            # range it is inf, and 1 / inf gives 0.
            def sigmoid(x):
                y = xp.negative(x, out=xp.empty_like(x))
                xp.exp(y, out=y)
                y += 1
                return asarray(xp.reciprocal(y, out=y)).astype(dtype, copy=False)

            return sigmoid

        def sigmoid(x):  # exp of -|x| only: no overflow at either end
            e = xp.exp(-xp.abs(x))
            return asarray(xp.where(x >= 0, 1 / (1 + e), e / (1 + e))).astype(dtype, copy=False)

        return sigmoid
    fn = {"Real": xp.real, "Imag": xp.imag, "ComplexAbs": xp.abs}[op_type]
    return lambda x: asarray(fn(x)).astype(dtype, copy=False)


def _special(xp):
    """``scipy.special`` (or CuPy's) when installed, else None."""
    try:
        if xp is np:
            import scipy.special as special
        else:  # pragma: no cover - GPU only
            import cupyx.scipy.special as special
    except ImportError:
        return None
    return special


@kernel("Erf", "Erfc", "Lgamma", "Digamma")
def _special_fn(ctx):
    xp, op_type = ctx.xp, ctx.type
    dtype = ctx.output_np_dtype(0)
    name = {"Erf": "erf", "Erfc": "erfc", "Lgamma": "gammaln", "Digamma": "digamma"}[op_type]
    special = _special(xp)
    if special is not None:
        fn = getattr(special, name)
        return lambda x: xp.asarray(fn(x)).astype(dtype, copy=False)
    if op_type in ("Erf", "Erfc") and xp is np:
        scalar = np.frompyfunc(math.erf if op_type == "Erf" else math.erfc, 1, 1)
        return lambda x: np.asarray(scalar(x)).astype(dtype)
    raise errors.UnimplementedError(None, ctx.op, f"{op_type} (node '{ctx.name}') needs "
                                                  "scipy.special, which is not installed")


@kernel("Polygamma")
def _polygamma(ctx):
    """``psi^(a)(x)``, TF's (Eigen's) definition: NaN unless ``a`` is a non-negative integer;
    ``a`` = 0 is the digamma function, else ``(-1)^(a+1) a! zeta(a+1, x)``."""
    xp = ctx.xp
    special = _special(xp)
    if special is None:
        raise errors.UnimplementedError(None, ctx.op, f"Polygamma (node '{ctx.name}') needs "
                                                      "scipy.special, which is not installed")
    wide = np.float64

    def body(a, x):
        a, x = xp.broadcast_arrays(xp.asarray(a, wide), xp.asarray(x, wide))
        ok = (xp.floor(a) == a) & (a >= 0)
        n = xp.where(ok, a, 0)
        sign = xp.where(n % 2 == 0, -1.0, 1.0)
        higher = sign * special.gamma(n + 1) * special.zeta(n + 1, x)
        out = xp.where(n == 0, special.digamma(x), higher)
        return xp.where(ok, out, np.nan)

    return _binary_body(ctx, body)


# -- cast ------------------------------------------------------------------------------------------
@kernel("Cast")
def _cast(ctx):
    xp = ctx.xp
    src, dst = ctx.input_dtypes[0], ctx.output_dtypes[0]
    dst_np = ctx.output_np_dtype(0)
    if dst.is_bool:
        return lambda x: xp.asarray(x != 0)
    if src.is_complex and not dst.is_complex:
        return lambda x: xp.asarray(xp.real(x)).astype(dst_np)
    return lambda x: xp.asarray(x).astype(dst_np)


# -- reductions ------------------------------------------------------------------------------------
def _reduction_axes(op, x, indices) -> tuple:
    nd = x.ndim
    axes = set()
    for a in indices.reshape(-1).tolist():
        if not -nd <= a < nd:
            raise _invalid(op, f"Invalid reduction dimension ({a} for input with {nd} "
                               "dimension(s)")
        axes.add(a % nd)
    return tuple(sorted(axes))


def _reduced_shape(shape, axes, keep) -> tuple:
    if keep:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _sequential_sum(xp, x, axes, keep):
    """A sum accumulated element by element in ``x``'s own dtype, as TF sums half floats."""
    kept = [i for i in builtins.range(x.ndim) if i not in axes]
    n = 1
    for a in axes:
        n *= x.shape[a]
    rows = xp.transpose(x, kept + list(axes)).reshape(tuple(x.shape[i] for i in kept) + (n,))
    out = xp.cumsum(rows, axis=-1, dtype=x.dtype)[..., -1] if n else xp.zeros(rows.shape[:-1],
                                                                               x.dtype)
    return out.reshape(_reduced_shape(x.shape, axes, True)) if keep else out


@kernel("Sum", "Prod", "Mean", "Max", "Min", "All", "Any", "EuclideanNorm",
        host_memory=("reduction_indices",))
def _reduce(ctx):
    xp, op, op_type = ctx.xp, ctx.op, ctx.type
    keep = bool(ctx.attr("keep_dims", False))
    dtype = ctx.output_np_dtype(0)
    tf_dtype = ctx.input_dtypes[0]
    acc = dtype
    half = tf_dtype.name in ("float16", "bfloat16")
    if op_type in ("Max", "Min"):
        big = math.inf if tf_dtype.is_floating else tf_dtype.max
        small = -math.inf if tf_dtype.is_floating else tf_dtype.min
        init = small if op_type == "Max" else big
        fn = xp.max if op_type == "Max" else xp.min

        def body(x, axes):
            if x.size == 0:
                return xp.full(_reduced_shape(x.shape, axes, keep), init, dtype=dtype)
            return fn(x, axis=axes, keepdims=keep)
    elif op_type in ("All", "Any"):
        fn = xp.all if op_type == "All" else xp.any

        def body(x, axes):
            return fn(x, axis=axes, keepdims=keep)
    elif op_type == "Sum" and half:
        def body(x, axes):
            return _sequential_sum(xp, x, axes, keep)
    elif op_type in ("Sum", "Prod"):
        fn = xp.sum if op_type == "Sum" else xp.prod
        if xp is np:  # the ufunc's reduce, without numpy's Python-level wrapper
            fn = (np.add if op_type == "Sum" else np.multiply).reduce

        def body(x, axes):
            return fn(x, axis=axes, dtype=acc, keepdims=keep)
    elif op_type == "EuclideanNorm":
        def body(x, axes):
            sq = xp.abs(x) ** 2 if tf_dtype.is_complex else xp.square(x)
            return xp.sqrt(xp.sum(sq, axis=axes, dtype=acc, keepdims=keep))
    else:  # Mean: integer means truncate toward zero; an empty integer mean is 0
        is_int, unsigned = tf_dtype.is_integer, tf_dtype.is_unsigned
        if is_int:  # TF sums narrow integers in 64 bits before dividing
            acc = np.uint64 if unsigned else np.int64

        def body(x, axes):
            if half:
                total = _sequential_sum(xp, x, axes, keep)
            else:
                total = xp.sum(x, axis=axes, dtype=acc, keepdims=keep)
            count = 1
            for a in axes:
                count *= x.shape[a]
            if not is_int:
                return total / acc(count) if count else total * acc(math.nan)
            if count == 0:
                return xp.zeros_like(total)
            if unsigned:
                return total // count
            q = xp.abs(total) // count
            return xp.where(total < 0, -q, q)

    def run(x, indices):
        axes = _reduction_axes(op, x, indices)
        return xp.asarray(body(x, axes)).astype(dtype, copy=False)

    return run


@kernel("ArgMax", "ArgMin", host_memory=("dimension",))
def _arg_reduce(ctx):
    xp, op = ctx.xp, ctx.op
    fn = xp.argmax if ctx.type == "ArgMax" else xp.argmin
    dtype = ctx.output_np_dtype(0)
    # TF's comparisons never pick a NaN: treat NaN as the value that can never win.
    loser = -math.inf if ctx.type == "ArgMax" else math.inf
    skip_nan = ctx.input_dtypes[0].is_floating

    def run(x, dimension):
        d, nd = int(dimension.item()), x.ndim
        if not -nd <= d < nd:
            raise _invalid(op, f"Expected dimension in the range [{-nd}, {nd}), but got {d}")
        if x.shape[d] == 0:
            raise _invalid(op, f"Reduction axis {d} is empty in shape {_shape(x)}")
        if skip_nan:
            x = xp.where(xp.isnan(x), x.dtype.type(loser), x)
        return xp.asarray(fn(x, axis=d)).astype(dtype)

    return run


# -- matmul and friends ----------------------------------------------------------------------------
@kernel("MatMul", "SparseMatMul", fresh=True)
def _matmul(ctx):
    xp, op = ctx.xp, ctx.op
    ta, tb = bool(ctx.attr("transpose_a", False)), bool(ctx.attr("transpose_b", False))
    dtype = ctx.output_np_dtype(0)
    matmul = xp.matmul  # an array for 2-D operands, on numpy and CuPy alike

    def bad(a, b):
        for i, m in enumerate((a, b)):
            if m.ndim != 2:
                return _invalid(op, f"In[{i}] is not a matrix. Instead it has shape {_shape(m)}")
        return _invalid(op, f"Matrix size-incompatible: In[0]: {_shape(a)}, In[1]: {_shape(b)}")

    if not ta and not tb:  # the common case, with nothing to do per call but the product
        def run(a, b):
            if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
                raise bad(a, b)
            r = matmul(a, b)
            return r if r.dtype == dtype else r.astype(dtype)

        return run

    def run(a, b):
        if a.ndim != 2 or b.ndim != 2:
            raise bad(a, b)
        a2, b2 = (a.T if ta else a), (b.T if tb else b)
        if a2.shape[1] != b2.shape[0]:
            raise bad(a, b)
        r = matmul(a2, b2)
        return r if r.dtype == dtype else r.astype(dtype)

    return run


@kernel("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", fresh=True)
def _batch_matmul(ctx):
    xp, op, op_type = ctx.xp, ctx.op, ctx.type
    adj_x, adj_y = bool(ctx.attr("adj_x", False)), bool(ctx.attr("adj_y", False))
    dtype = ctx.output_np_dtype(0)

    def adjoint(m):
        m = xp.swapaxes(m, -1, -2)
        return xp.conj(m) if m.dtype.kind == "c" else m

    def run(x, y):
        for i, m in enumerate((x, y)):
            if m.ndim < 2:
                raise _invalid(op, f"In[{i}] ndims must be >= 2: {m.ndim}")
        if op_type == "BatchMatMul" and x.shape[:-2] != y.shape[:-2]:
            raise _invalid(op, f"In[0] and In[1] must have the same batch dimensions: "
                               f"{_shape(x)} vs. {_shape(y)}")
        x2, y2 = (adjoint(x) if adj_x else x), (adjoint(y) if adj_y else y)
        if x2.shape[-1] != y2.shape[-2]:
            raise _invalid(op, f"Matrix size-incompatible: In[0]: {_shape(x)}, In[1]: "
                               f"{_shape(y)}")
        if op_type == "BatchMatMulV3":
            x2, y2 = x2.astype(dtype, copy=False), y2.astype(dtype, copy=False)
        try:
            return xp.asarray(xp.matmul(x2, y2)).astype(dtype, copy=False)
        except ValueError:
            raise _invalid(op, f"In[0] and In[1] must have compatible batch dimensions: "
                               f"{_shape(x)} vs. {_shape(y)}") from None

    return run


@kernel("AddN")
def _add_n(ctx):
    xp, op = ctx.xp, ctx.op

    def run(*xs):
        first = xs[0]
        for i, x in enumerate(xs[1:], 1):
            if x.shape != first.shape:
                raise _invalid(op, f"Inputs to operation AddN must have the same size and "
                                   f"shape.  Input 0: {_shape(first)} != input {i}: {_shape(x)}")
        if len(xs) == 1:
            return xp.array(first, copy=True)
        out = xp.add(xs[0], xs[1])
        for x in xs[2:]:
            out += x
        return xp.asarray(out)

    return run


# -- selection, clipping ---------------------------------------------------------------------------
@kernel("Select")
def _select(ctx):
    xp, op = ctx.xp, ctx.op

    def run(cond, x, y):
        if x.shape != y.shape:
            raise _invalid(op, f"'then' and 'else' must have the same size.  but received: "
                               f"{_shape(x)} vs. {_shape(y)}")
        if cond.ndim == 1 and x.ndim > 1:
            if cond.shape[0] != x.shape[0]:
                raise _invalid(op, f"Number of batches of 'then' must match size of 'cond', "
                                   f"but saw: {x.shape[0]} vs. {cond.shape[0]}")
            cond = cond.reshape(cond.shape + (1,) * (x.ndim - 1))
        elif cond.ndim != 0 and cond.shape != x.shape:
            raise _invalid(op, f"'cond' and 'then' must have the same size.  but received: "
                               f"{_shape(cond)} vs. {_shape(x)}")
        return xp.asarray(xp.where(cond, x, y))

    return run


@kernel("SelectV2")
def _select_v2(ctx):
    xp, op = ctx.xp, ctx.op

    def run(cond, x, y):
        try:
            return xp.asarray(xp.where(cond, x, y))
        except ValueError:
            raise _invalid(op, f"condition {_shape(cond)}, then {_shape(x)}, and else "
                               f"{_shape(y)} must be broadcastable") from None

    return run


@kernel("ClipByValue")
def _clip_by_value(ctx):
    xp, op = ctx.xp, ctx.op

    def run(t, lo, hi):
        for v in (lo, hi):
            if v.ndim != 0 and v.shape != t.shape:
                raise _invalid(op, f"clip_value_min and clip_value_max must be either scalars "
                                   f"or have the same shape as the input t: {_shape(t)} vs. "
                                   f"{_shape(v)}")
        return xp.asarray(xp.maximum(xp.minimum(t, hi), lo))

    return run


# -- sequences and scans ---------------------------------------------------------------------------
def _host_scalar(op, a, what, np_dtype):
    if a.ndim != 0:
        raise _invalid(op, f"{what} must be a scalar, not shape {_shape(a)}")
    return np_dtype.type(a.item())


def range_size(start, limit, delta) -> int:
    """The length TF's Range gives ``start, limit, delta`` (numpy scalars of one dtype)."""
    if np.issubdtype(type(start), np.integer):
        return int((abs(int(limit) - int(start)) + abs(int(delta)) - 1) // abs(int(delta)))
    with np.errstate(all="ignore"):
        return int(np.ceil(np.abs((limit - start) / delta)))


def range_check(start, limit, delta):
    """TF's message for Range arguments that give no sequence, else None."""
    if delta == 0:
        return f"Requires delta != 0: {delta}"
    if delta > 0 and start > limit:
        return f"Requires start <= limit when delta > 0: {start}/{limit}"
    if delta < 0 and start < limit:
        return f"Requires start >= limit when delta < 0: {start}/{limit}"
    return None


@kernel("Range", host_memory=("start", "limit", "delta"))
def _range(ctx):
    xp, op = ctx.xp, ctx.op
    dtype = np.dtype(ctx.output_np_dtype(0))

    def run(start, limit, delta):
        s, lim, d = (_host_scalar(op, v, what, dtype) for v, what in
                     ((start, "start"), (limit, "limit"), (delta, "delta")))
        problem = range_check(s, lim, d)
        if problem:
            raise _invalid(op, problem)
        n = range_size(s, lim, d)
        return xp.asarray(s + xp.arange(n, dtype=dtype) * d, dtype=dtype)

    return run


@kernel("LinSpace")
def _lin_space(ctx):
    xp, op = ctx.xp, ctx.op
    dtype = np.dtype(ctx.output_np_dtype(0))

    def run(start, stop, num):
        s = _host_scalar(op, start, "start", dtype)
        e = _host_scalar(op, stop, "stop", dtype)
        n = int(_host_scalar(op, num, "num", np.dtype(np.int64)))
        if n <= 0:
            raise _invalid(op, f"Requires num > 0: {n}")
        out = s + xp.arange(n, dtype=dtype) * ((e - s) / dtype.type(max(n - 1, 1)))
        if n > 1:
            out[-1] = e
        return xp.asarray(out, dtype=dtype)

    return run


@kernel("Cumsum", "Cumprod", host_memory=("axis",))
def _cumulative(ctx):
    xp, op = ctx.xp, ctx.op
    exclusive, reverse = bool(ctx.attr("exclusive", False)), bool(ctx.attr("reverse", False))
    fn, identity = (xp.cumsum, 0) if ctx.type == "Cumsum" else (xp.cumprod, 1)
    dtype = ctx.output_np_dtype(0)

    def run(x, axis):
        a, nd = int(axis.item()), x.ndim
        if not -nd <= a < nd:
            raise _invalid(op, f"ScanOp: Expected scan axis in the range [{-nd}, {nd}), but "
                               f"got {a}")
        if reverse:
            x = xp.flip(x, a)
        out = fn(x, axis=a, dtype=dtype)
        if exclusive and x.shape[a]:
            out = xp.roll(out, 1, axis=a)
            index = [slice(None)] * nd
            index[a] = 0
            out[tuple(index)] = identity
        if reverse:
            out = xp.flip(out, a)
        return xp.ascontiguousarray(out)

    return run
