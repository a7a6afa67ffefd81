"""Gradients of the math ops (TF's ``math_grad.py``): the same ops, in the same order.

Each function takes the forward op and the gradient of each output and returns one gradient
per input (None where none flows). Binary broadcasting ops sum their gradients back to each
argument's shape with :func:`~gmeta.gradients._util.reduce_gradient_args`, which skips the
reduction when the static shapes show no broadcasting, as TF 2.21 does.
"""

from __future__ import annotations

import numpy as np

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.gradients._registry import RegisterGradient, no_gradient
from gmeta.gradients._util import (
    apply_op, conj, reduce_gradient_args, shapes_fully_specified_and_equal,
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


@RegisterGradient("InvGrad")
@RegisterGradient("ReciprocalGrad")
def _reciprocal_grad_grad(op, grad):
    b = op.inputs[1]
    with _control([grad]):
        ca = conj(op.inputs[0])
        cg = conj(grad)
        return cg * -2.0 * b * ca, apply_op("ReciprocalGrad", y=ca, dy=grad)


@RegisterGradient("Square")
def _square_grad(op, grad):
    with _control([grad]):
        x = conj(op.inputs[0])
        two = constant_op.constant(2.0, dtype=x.dtype)
        return math_ops.multiply(grad, math_ops.multiply(x, two))


@RegisterGradient("Sqrt")
def _sqrt_grad(op, grad):
    return apply_op("SqrtGrad", y=op.outputs[0], dy=grad)


@RegisterGradient("SqrtGrad")
def _sqrt_grad_grad(op, grad):
    a = op.inputs[0]
    y = op.outputs[0]  # 0.5 * b / conj(a)
    with _control([grad]):
        ga = grad / a
        return -conj(ga) * y, 0.5 * ga


@RegisterGradient("Rsqrt")
def _rsqrt_grad(op, grad):
    return apply_op("RsqrtGrad", y=op.outputs[0], dy=grad)


@RegisterGradient("RsqrtGrad")
def _rsqrt_grad_grad(op, grad):
    a, b = op.inputs
    with _control([grad]):
        ca = conj(a)
        cg = conj(grad)
        grad_a = -1.5 * cg * b * math_ops.square(ca)
        grad_b = apply_op("RsqrtGrad", y=ca, dy=grad)
        return grad_a, grad_b


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


@RegisterGradient("TanhGrad")
def _tanh_grad_grad(op, grad):
    with _control([grad]):
        a = conj(op.inputs[0])
        b = conj(op.inputs[1])
        return grad * -2.0 * b * a, apply_op("TanhGrad", y=a, dy=grad)


@RegisterGradient("SigmoidGrad")
def _sigmoid_grad_grad(op, grad):
    with _control([grad]):
        a = conj(op.inputs[0])
        b = conj(op.inputs[1])
        gb = grad * b
        return gb - 2.0 * gb * a, apply_op("SigmoidGrad", y=a, dy=grad)


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
