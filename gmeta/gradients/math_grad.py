"""Gradients of the math ops (TF's ``math_grad.py``): the same ops, in the same order.

Each function takes the forward op and the gradient of each output and returns one gradient
per input (None where none flows). Binary broadcasting ops sum their gradients back to each
argument's shape with :func:`~gmeta.gradients._util.reduce_gradient_args`, which skips the
reduction when the static shapes show no broadcasting, as TF 2.21 does.
"""

from __future__ import annotations

import weakref

import numpy as np

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.gradients._registry import RegisterGradient, no_gradient
from gmeta.gradients._util import (
    apply_op, conj, reduce_gradient_args, reduced_shape, shape_tuple,
    shapes_fully_specified_and_equal, static_value,
)
from gmeta.ops import array_ops, constant_op, math_ops

_control = ops_lib.control_dependencies
_FLOATS = (dtypes.float16, dtypes.float32, dtypes.float64, dtypes.bfloat16, dtypes.complex64,
           dtypes.complex128)

for _op_type in ("Less", "LessEqual", "Greater", "GreaterEqual", "Equal", "ApproximateEqual",
                 "NotEqual", "LogicalAnd", "LogicalOr", "LogicalNot", "Range", "LinSpace"):
    no_gradient(_op_type)


@RegisterGradient("ArgMax")
@RegisterGradient("ArgMin")
def _arg_max_min_grad(op, grad):
    return [None, None]


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


# -- unary ----------------------------------------------------------------------------------------
@RegisterGradient("Abs")
def _abs_grad(op, grad):
    return grad * math_ops.sign(op.inputs[0])


@RegisterGradient("Neg")
def _neg_grad(_, grad):
    return -grad


@RegisterGradient("Inv")
@RegisterGradient("Reciprocal")
def _reciprocal_grad(op, grad):
    return apply_op("ReciprocalGrad", y=op.outputs[0], dy=grad)


@RegisterGradient("Square")
def _square_grad(op, grad):
    with _control([grad]):
        x = conj(op.inputs[0])
        two = constant_op.constant(2.0, dtype=x.dtype)
        return math_ops.multiply(grad, math_ops.multiply(x, two))


@RegisterGradient("Sqrt")
def _sqrt_grad(op, grad):
    return apply_op("SqrtGrad", y=op.outputs[0], dy=grad)


@RegisterGradient("Rsqrt")
def _rsqrt_grad(op, grad):
    return apply_op("RsqrtGrad", y=op.outputs[0], dy=grad)


@RegisterGradient("Exp")
def _exp_grad(op, grad):
    with _control([grad]):
        return grad * conj(op.outputs[0])


# Unary ops whose gradient is grad * f(conj(x)) for another unary f (under a control
# dependency on grad).
_TIMES_F_OF_X = {"Expm1": math_ops.exp, "Sinh": math_ops.cosh, "Cosh": math_ops.sinh,
                 "Sin": math_ops.cos, "Lgamma": math_ops.digamma}


def _times_f_of_x(f):
    def grad_fn(op, grad):
        with _control([grad]):
            return grad * f(conj(op.inputs[0]))

    return grad_fn


for _op_type, _f in _TIMES_F_OF_X.items():
    RegisterGradient(_op_type)(_times_f_of_x(_f))


@RegisterGradient("Log")
def _log_grad(op, grad):
    with _control([grad]):
        return grad * math_ops.reciprocal(conj(op.inputs[0]))


@RegisterGradient("Log1p")
def _log1p_grad(op, grad):
    with _control([grad]):
        return grad * math_ops.reciprocal(1 + conj(op.inputs[0]))


@RegisterGradient("Tanh")
def _tanh_grad(op, grad):
    with _control([grad]):
        return apply_op("TanhGrad", y=conj(op.outputs[0]), dy=grad)


@RegisterGradient("Sigmoid")
def _sigmoid_grad(op, grad):
    with _control([grad]):
        return apply_op("SigmoidGrad", y=conj(op.outputs[0]), dy=grad)


@RegisterGradient("Asinh")
def _asinh_grad(op, grad):
    with _control([grad]):
        return grad / math_ops.cosh(conj(op.outputs[0]))


@RegisterGradient("Acosh")
def _acosh_grad(op, grad):
    with _control([grad]):
        return grad / math_ops.sinh(conj(op.outputs[0]))


@RegisterGradient("Atanh")
def _atanh_grad(op, grad):
    with _control([grad]):
        x2 = math_ops.square(conj(op.inputs[0]))
        one = constant_op.constant(1, dtype=grad.dtype)
        return grad * math_ops.reciprocal(math_ops.subtract(one, x2))


@RegisterGradient("Erf")
def _erf_grad(op, grad):
    two_over_root_pi = constant_op.constant(2 / np.sqrt(np.pi), dtype=grad.dtype)
    with _control([grad]):
        x = conj(op.inputs[0])
        return grad * two_over_root_pi * math_ops.exp(-math_ops.square(x))


@RegisterGradient("Erfc")
def _erfc_grad(op, grad):
    minus_two_over_root_pi = constant_op.constant(-2 / np.sqrt(np.pi), dtype=grad.dtype)
    with _control([grad]):
        x = conj(op.inputs[0])
        return grad * minus_two_over_root_pi * math_ops.exp(-math_ops.square(x))


@RegisterGradient("Digamma")
def _digamma_grad(op, grad):
    with _control([grad]):
        x = conj(op.inputs[0])
        partial_x = apply_op("Polygamma", a=constant_op.constant(1, dtype=x.dtype), x=x)
        return grad * partial_x


@RegisterGradient("Sign")
def _sign_grad(op, _):
    return array_ops.zeros_like(op.inputs[0])


@RegisterGradient("Cos")
def _cos_grad(op, grad):
    with _control([grad]):
        return -grad * math_ops.sin(conj(op.inputs[0]))


@RegisterGradient("Tan")
def _tan_grad(op, grad):
    with _control([grad]):
        secx = math_ops.reciprocal(math_ops.cos(conj(op.inputs[0])))
        return math_ops.square(secx) * grad


def _inverse_trig_grad(negate, denominator):
    def grad_fn(op, grad):
        with _control([grad]):
            x2 = math_ops.square(conj(op.inputs[0]))
            one = constant_op.constant(1, dtype=grad.dtype)
            inv = math_ops.reciprocal(denominator(one, x2))
            return (-grad if negate else grad) * inv

    return grad_fn


def _sqrt_one_minus(one, x2):
    return math_ops.sqrt(math_ops.subtract(one, x2))


RegisterGradient("Asin")(_inverse_trig_grad(False, _sqrt_one_minus))
RegisterGradient("Acos")(_inverse_trig_grad(True, _sqrt_one_minus))
RegisterGradient("Atan")(_inverse_trig_grad(False, math_ops.add))


@RegisterGradient("Floor")
@RegisterGradient("Ceil")
@RegisterGradient("Round")
@RegisterGradient("Rint")
def _piecewise_constant_grad(_, unused_grad):
    return [None]


@RegisterGradient("Cast")
def _cast_grad(op, grad):
    src_type = op.inputs[0].dtype.base_dtype
    if src_type in _FLOATS and grad.dtype.base_dtype in _FLOATS:
        return math_ops.cast(grad, src_type)
    return None


@RegisterGradient("Conj")
def _conj_grad(_, grad):
    return math_ops.conj(grad)


def _complex(real, imag):
    """``math_ops.complex``: a ``Complex`` node (complex128 from float64 parts)."""
    with ops_lib.name_scope_v1(None, "Complex", [real, imag]) as scope:
        tout = dtypes.complex128 if real.dtype.base_dtype == dtypes.float64 else \
            dtypes.complex64
        return apply_op("Complex", real=real, imag=imag, Tout=tout, name=scope)


@RegisterGradient("Real")
def _real_grad(_, grad):
    zero = constant_op.constant(0, dtype=grad.dtype)
    return _complex(grad, zero)


@RegisterGradient("Imag")
def _imag_grad(_, grad):
    zero = constant_op.constant(0, dtype=grad.dtype)
    return _complex(zero, grad)


@RegisterGradient("ComplexAbs")
def _complex_abs_grad(op, grad):
    num = _complex(grad, array_ops.zeros_like(grad)) * op.inputs[0]
    den = _complex(op.outputs[0], array_ops.zeros_like(op.outputs[0]))
    return math_ops.div_no_nan(num, den)


# -- binary ---------------------------------------------------------------------------------------
@RegisterGradient("AddN")
def _add_n_grad(op, grad):
    return [grad] * len(op.inputs)


@RegisterGradient("Add")
@RegisterGradient("AddV2")
def _add_grad(op, grad):
    x, y = op.inputs
    if isinstance(grad, ops_lib.Tensor) and shapes_fully_specified_and_equal(x, y, grad):
        return grad, grad
    return reduce_gradient_args(x, y, grad, grad)


@RegisterGradient("Sub")
def _sub_grad(op, grad):
    x, y = op.inputs
    if isinstance(grad, ops_lib.Tensor) and shapes_fully_specified_and_equal(x, y, grad):
        return grad, -grad
    return reduce_gradient_args(x, y, grad, -grad)


@RegisterGradient("Mul")
def _mul_grad(op, grad):
    x, y = op.inputs
    if (isinstance(grad, ops_lib.Tensor) and shapes_fully_specified_and_equal(x, y, grad)
            and grad.dtype in (dtypes.int32, dtypes.float32)):
        return apply_op("Mul", x=grad, y=y), apply_op("Mul", x=grad, y=x)
    gx = apply_op("Mul", x=grad, y=conj(y))
    gy = apply_op("Mul", x=conj(x), y=grad)
    return reduce_gradient_args(x, y, gx, gy)


@RegisterGradient("MulNoNan")
def _mul_no_nan_grad(op, grad):
    x, y = op.inputs
    if isinstance(grad, ops_lib.Tensor) and shapes_fully_specified_and_equal(x, y, grad):
        return apply_op("MulNoNan", x=grad, y=y), apply_op("MulNoNan", x=x, y=grad)
    gx = apply_op("MulNoNan", x=grad, y=y)
    gy = apply_op("MulNoNan", x=x, y=grad)
    return reduce_gradient_args(x, y, gx, gy)


@RegisterGradient("Div")
def _div_grad(op, grad):
    x, y = op.inputs
    cx, cy = conj(x), conj(y)
    gx = math_ops.divide(grad, cy)
    gy = grad * math_ops.divide(math_ops.divide(-cx, cy), cy)
    return reduce_gradient_args(x, y, gx, gy)


@RegisterGradient("RealDiv")
def _real_div_grad(op, grad):
    x, y = op.inputs
    cx, cy = conj(x), conj(y)
    gx = math_ops.realdiv(grad, cy)
    gy = grad * math_ops.realdiv(math_ops.realdiv(-cx, cy), cy)
    return reduce_gradient_args(x, y, gx, gy)


@RegisterGradient("DivNoNan")
def _div_no_nan_grad(op, grad):
    x, y = conj(op.inputs[0]), conj(op.inputs[1])
    gx = math_ops.div_no_nan(grad, y)
    gy = grad * math_ops.div_no_nan(math_ops.div_no_nan(-x, y), y)
    return reduce_gradient_args(x, y, gx, gy)


@RegisterGradient("FloorDiv")
@RegisterGradient("TruncateDiv")
def _integer_div_grad(_, unused_grad):
    return None, None


@RegisterGradient("FloorMod")
def _floor_mod_grad(op, grad):
    x, y = conj(op.inputs[0]), conj(op.inputs[1])
    floor_xy = math_ops.floor_div(x, y)
    return reduce_gradient_args(x, y, grad, grad * math_ops.negative(floor_xy))


@RegisterGradient("Pow")
def _pow_grad(op, grad):
    x, y = op.inputs
    cx, cy = conj(x), conj(y)
    gx = grad * cy * math_ops.pow(cx, cy - 1)
    mask = math_ops.not_equal(cx, 0) if x.dtype.is_complex else cx > 0
    safe_x = array_ops.where(mask, cx, array_ops.ones_like(x))
    log_x = array_ops.where(mask, math_ops.log(safe_x), array_ops.zeros_like(x))
    gy = grad * conj(op.outputs[0]) * log_x
    return reduce_gradient_args(x, y, gx, gy)


def _maximum_minimum_grad(selector):
    def grad_fn(op, grad):
        x, y = op.inputs
        zeros = array_ops.zeros_like(grad)
        xmask = selector(x, y)
        gx = array_ops.where_v2(xmask, grad, zeros)
        gy = array_ops.where_v2(xmask, zeros, grad)
        return reduce_gradient_args(x, y, gx, gy)

    return grad_fn


RegisterGradient("Maximum")(_maximum_minimum_grad(math_ops.greater_equal))
RegisterGradient("Minimum")(_maximum_minimum_grad(math_ops.less_equal))


@RegisterGradient("SquaredDifference")
def _squared_difference_grad(op, grad):
    x, y = op.inputs
    with _control([grad]):
        x_grad = math_ops.scalar_mul(2.0, grad) * (x - y)
    if isinstance(grad, ops_lib.Tensor) and shapes_fully_specified_and_equal(x, y, grad):
        return x_grad, -x_grad
    return reduce_gradient_args(x, y, x_grad, -x_grad)


@RegisterGradient("Atan2")
def _atan2_grad(op, grad):
    y, x = op.inputs
    with _control([grad]):
        grad_inv = grad / (math_ops.square(y) + math_ops.square(x))
        gy = x * grad_inv
        gx = -y * grad_inv
        return reduce_gradient_args(y, x, gy, gx)


def _xlog_grad(op_type, partial_y):
    def grad_fn(op, grad):
        x, y = op.inputs
        sx = array_ops.shape(x)
        sy = array_ops.shape(y)
        rx, ry = apply_op("BroadcastGradientArgs", s0=sx, s1=sy)
        with _control([grad]):
            not_zero_x = math_ops.cast(
                math_ops.not_equal(x, math_ops.cast(0.0, dtype=x.dtype)), dtype=x.dtype)
            partial_x = apply_op(op_type, x=not_zero_x, y=y)
            py = partial_y(x, y)
            return (array_ops.reshape(math_ops.reduce_sum(partial_x * grad, rx), sx),
                    array_ops.reshape(math_ops.reduce_sum(py * grad, ry), sy))

    return grad_fn


RegisterGradient("Xlogy")(_xlog_grad("Xlogy", lambda x, y: apply_op("Xdivy", x=x, y=y)))
RegisterGradient("Xlog1py")(_xlog_grad("Xlog1py",
                                       lambda x, y: apply_op("Xdivy", x=x, y=y + 1.0)))
RegisterGradient("Xdivy")(_xlog_grad(
    "Xdivy", lambda x, y: apply_op("Xdivy", x=math_ops.negative(x), y=y ** 2)))


@RegisterGradient("Select")
def _select_grad(op, grad):
    c, x = op.inputs[0], op.inputs[1]
    zeros = array_ops.zeros_like(x)
    return None, array_ops.where(c, grad, zeros), array_ops.where(c, zeros, grad)


@RegisterGradient("SelectV2")
def _select_v2_grad(op, grad):
    c, x, y = op.inputs
    z = op.outputs[0]
    zeros = array_ops.zeros([], dtype=grad.dtype.base_dtype)
    gx = array_ops.where_v2(c, grad, zeros)
    gy = array_ops.where_v2(c, zeros, grad)
    gx, _ = reduce_gradient_args(x, z, gx, None)
    gy, _ = reduce_gradient_args(y, z, gy, None)
    return None, gx, gy


# -- matrix products ------------------------------------------------------------------------------
def _mat_mul(a, b, transpose_a=False, transpose_b=False, grad_a=False, grad_b=False):
    return apply_op("MatMul", a=a, b=b, transpose_a=transpose_a, transpose_b=transpose_b,
                    grad_a=grad_a, grad_b=grad_b)


@RegisterGradient("MatMul")
def _mat_mul_grad(op, grad):
    t_a = op.get_attr("transpose_a")
    t_b = op.get_attr("transpose_b")
    a, b = conj(op.inputs[0]), conj(op.inputs[1])
    if not t_a and not t_b:
        return (_mat_mul(grad, b, transpose_b=True, grad_a=True),
                _mat_mul(a, grad, transpose_a=True, grad_b=True))
    if not t_a:
        return (_mat_mul(grad, b, grad_a=True),
                _mat_mul(grad, a, transpose_a=True, grad_b=True))
    if not t_b:
        return (_mat_mul(b, grad, transpose_b=True, grad_a=True),
                _mat_mul(a, grad, grad_b=True))
    return (_mat_mul(b, grad, transpose_a=True, transpose_b=True, grad_a=True),
            _mat_mul(grad, a, transpose_a=True, transpose_b=True, grad_b=True))


@RegisterGradient("BatchMatMul")
def _batch_mat_mul_grad(op, grad):
    x, y = op.inputs
    adj_x, adj_y = op.get_attr("adj_x"), op.get_attr("adj_y")
    mm = math_ops.matmul
    if not adj_x:
        if not adj_y:
            return mm(grad, y, adjoint_b=True), mm(x, grad, adjoint_a=True)
        return mm(grad, y), mm(grad, x, adjoint_a=True)
    if not adj_y:
        return mm(y, grad, adjoint_b=True), mm(x, grad)
    return mm(y, grad, adjoint_a=True, adjoint_b=True), mm(grad, x, adjoint_a=True, adjoint_b=True)


@RegisterGradient("BatchMatMulV2")
@RegisterGradient("BatchMatMulV3")
def _batch_mat_mul_v2_grad(op, grad):
    x, y = op.inputs
    adj_x, adj_y = op.get_attr("adj_x"), op.get_attr("adj_y")

    def mm(a, b, adjoint_a=False, adjoint_b=False, grad_a=False, grad_b=False):
        return math_ops.matmul(a, b, adjoint_a=adjoint_a, adjoint_b=adjoint_b, grad_a=grad_a,
                               grad_b=grad_b)

    if not adj_x:
        if not adj_y:
            gx = mm(grad, y, adjoint_b=True, grad_a=True)
            gy = mm(x, grad, adjoint_a=True, grad_b=True)
        else:
            gx = mm(grad, y, grad_a=True)
            gy = mm(grad, x, adjoint_a=True, grad_b=True)
    elif not adj_y:
        gx = mm(y, grad, adjoint_b=True, grad_a=True)
        gy = mm(x, grad, grad_b=True)
    else:
        gx = mm(y, grad, adjoint_a=True, adjoint_b=True, grad_a=True)
        gy = mm(grad, x, adjoint_a=True, adjoint_b=True, grad_b=True)
    sx_static, sy_static = x.shape, y.shape
    may_have_batch = ((sx_static.ndims is None or sx_static.ndims > 2)
                      or (sy_static.ndims is None or sy_static.ndims > 2))
    batch_match = (sx_static[:-2].is_fully_defined() and sy_static[:-2].is_fully_defined()
                   and sx_static[:-2] == sy_static[:-2])
    if not may_have_batch or batch_match:
        return gx, gy
    sx = array_ops.shape(x)
    sy = array_ops.shape(y)
    rx, ry = apply_op("BroadcastGradientArgs", s0=sx[:-2], s1=sy[:-2])
    gx = array_ops.reshape(math_ops.reduce_sum(gx, rx), sx)
    gy = array_ops.reshape(math_ops.reduce_sum(gy, ry), sy)
    return gx, gy


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


# -- clip_by_value (TF registers it in clip_ops.py) -----------------------------------------------
@RegisterGradient("ClipByValue")
def _clip_by_value_grad(op, grad):
    x, y, z = op.inputs
    sx = array_ops.shape(x)
    sy = array_ops.shape(y)
    sz = array_ops.shape(z)
    zeros = array_ops.zeros(array_ops.shape(grad), grad.dtype)
    xymask = math_ops.less(x, y)
    xzmask = math_ops.greater(x, z)
    _, ry = apply_op("BroadcastGradientArgs", s0=sx, s1=sy)
    _, rz = apply_op("BroadcastGradientArgs", s0=sx, s1=sz)
    xgrad = array_ops.where(math_ops.logical_or(xymask, xzmask), zeros, grad)
    ygrad = array_ops.where(xymask, grad, zeros)
    zgrad = array_ops.where(xzmask, grad, zeros)
    gy = array_ops.reshape(math_ops.reduce_sum(ygrad, ry), sy)
    gz = array_ops.reshape(math_ops.reduce_sum(zgrad, rz), sz)
    return xgrad, gy, gz
