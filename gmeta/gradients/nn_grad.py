"""Gradients of the neural-network ops (TF's ``nn_grad.py``): activations, softmax and
cross-entropy, bias, convolution, pooling and fused batch normalization."""

from __future__ import annotations

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.gradients._impl import is_zeros_tensor
from gmeta.gradients._registry import RegisterGradient
from gmeta.gradients._util import apply_op
from gmeta.ops import array_ops, math_ops

_control = ops_lib.control_dependencies


# -- activations ----------------------------------------------------------------------------------
# op type -> (its gradient op, whether that op takes the forward output instead of the input).
_ACTIVATION_GRADS = {
    "Relu": ("ReluGrad", True), "Relu6": ("Relu6Grad", True), "Elu": ("EluGrad", True),
    "Selu": ("SeluGrad", True), "Softsign": ("SoftsignGrad", False),
}
_SECOND_ARG = {"ReluGrad": "features", "Relu6Grad": "features", "EluGrad": "outputs",
               "SeluGrad": "outputs", "SoftsignGrad": "features", "LeakyReluGrad": "features",
               "SoftplusGrad": "features"}


def _act_grad(grad_op, grad, second, **attrs):
    return apply_op(grad_op, gradients=grad, **{_SECOND_ARG[grad_op]: second}, **attrs)


def _activation_grad(grad_op, uses_output):
    def grad_fn(op, grad):
        return _act_grad(grad_op, grad, op.outputs[0] if uses_output else op.inputs[0])

    return grad_fn


for _op_type, (_grad_op, _uses_output) in _ACTIVATION_GRADS.items():
    RegisterGradient(_op_type)(_activation_grad(_grad_op, _uses_output))


@RegisterGradient("LeakyRelu")
def _leaky_relu_grad(op, grad):
    return _act_grad("LeakyReluGrad", grad, op.inputs[0], alpha=op.get_attr("alpha"))


@RegisterGradient("Softplus")
def _softplus_grad(op, grad):
    return grad * math_ops.sigmoid(op.inputs[0])


@RegisterGradient("ReluGrad")
@RegisterGradient("Relu6Grad")
def _relu_grad_grad(op, grad):
    x = op.inputs[1]
    return _act_grad(op.type, grad, x), array_ops.zeros_like(x)


@RegisterGradient("LeakyReluGrad")
def _leaky_relu_grad_grad(op, grad):
    x = op.inputs[1]
    return (_act_grad("LeakyReluGrad", grad, x, alpha=op.get_attr("alpha")),
            array_ops.zeros_like(x))


@RegisterGradient("EluGrad")
@RegisterGradient("SeluGrad")
def _elu_grad_grad(op, grad):
    x = op.inputs[1]
    return (_act_grad(op.type, grad, x),
            array_ops.where(x < 0.0, grad * op.inputs[0], array_ops.zeros_like(x)))


@RegisterGradient("SoftplusGrad")
def _softplus_grad_grad(op, grad):
    dy, x = op.inputs
    with _control([grad]):
        ddy = _act_grad("SoftplusGrad", grad, x)
        d2x = grad * dy / (math_ops.exp(-x) + 2.0 + math_ops.exp(x))
        return ddy, d2x


# -- softmax and cross entropy --------------------------------------------------------------------
@RegisterGradient("Softmax")
def _softmax_grad(op, grad_softmax):
    softmax = op.outputs[0]
    sum_channels = math_ops.reduce_sum(grad_softmax * softmax, -1, keepdims=True)
    return (grad_softmax - sum_channels) * softmax


@RegisterGradient("LogSoftmax")
def _log_softmax_grad(op, grad):
    softmax = math_ops.exp(op.outputs[0])
    return grad - math_ops.reduce_sum(grad, -1, keepdims=True) * softmax


def _broadcast_mul(vec, mat):
    return array_ops.expand_dims(vec, -1) * mat


def _xent_grad(op, grad_loss, grad_grad):
    """The logits gradient: the op's own backprop output scaled by the loss gradient, plus the
    second-order term when the backprop output itself received a (non-zero) gradient."""
    grad = _broadcast_mul(grad_loss, op.outputs[1])
    logits = op.inputs[0]
    if grad_grad is not None and not is_zeros_tensor(grad_grad):
        softmax = apply_op("Softmax", logits=logits)
        grad += ((grad_grad - array_ops.squeeze(
            math_ops.matmul(array_ops.expand_dims(grad_grad, 1),
                            array_ops.expand_dims(softmax, 2)), axis=1)) * softmax)
    return grad


@RegisterGradient("SoftmaxCrossEntropyWithLogits")
def _softmax_xent_grad(op, grad_loss, grad_grad):
    grad = _xent_grad(op, grad_loss, grad_grad)
    return grad, _broadcast_mul(grad_loss, -apply_op("LogSoftmax", logits=op.inputs[0]))


@RegisterGradient("SparseSoftmaxCrossEntropyWithLogits")
def _sparse_softmax_xent_grad(op, grad_loss, grad_grad):
    return _xent_grad(op, grad_loss, grad_grad), None


@RegisterGradient("L2Loss")
def _l2_loss_grad(op, grad):
    return op.inputs[0] * grad


# -- bias -----------------------------------------------------------------------------------------
@RegisterGradient("BiasAdd")
def _bias_add_grad(op, received_grad):
    return received_grad, apply_op("BiasAddGrad", out_backprop=received_grad,
                                   data_format=op.get_attr("data_format"))


@RegisterGradient("BiasAddV1")
def _bias_add_v1_grad(_, received_grad):
    reduction_dims = math_ops.range(array_ops.rank(received_grad) - 1)
    return received_grad, math_ops.reduce_sum(received_grad, reduction_dims)


@RegisterGradient("BiasAddGrad")
def _bias_add_grad_grad(op, received_grad):
    data_format = op.get_attr("data_format")
    shape = array_ops.shape(op.inputs[0])
    bias_shape = array_ops.shape(received_grad)
    if data_format == b"NCHW":
        expanded_shape = array_ops.concat(
            [array_ops.ones_like(shape[:1]), bias_shape, array_ops.ones_like(shape[2:])], 0)
        tile_mults = array_ops.concat([shape[:1], [1], shape[2:]], 0)
    else:
        expanded_shape = array_ops.concat([array_ops.ones_like(shape[:-1]), bias_shape], 0)
        tile_mults = array_ops.concat([shape[:-1], [1]], 0)
    expanded_grad = array_ops.reshape(received_grad, expanded_shape)
    return array_ops.tile(expanded_grad, tile_mults)


# -- convolution ----------------------------------------------------------------------------------
def _conv_attrs(op, *names):
    return {n: op.get_attr(n) for n in names}


_CONV_ATTRS = ("dilations", "strides", "padding", "explicit_paddings", "use_cudnn_on_gpu",
               "data_format")
_DEPTHWISE_ATTRS = ("dilations", "strides", "padding", "explicit_paddings", "data_format")


@RegisterGradient("Conv2D")
def _conv2d_grad(op, grad):
    attrs = _conv_attrs(op, *_CONV_ATTRS)
    shape_0, shape_1 = array_ops.shape_n([op.inputs[0], op.inputs[1]])
    return [apply_op("Conv2DBackpropInput", input_sizes=shape_0, filter=op.inputs[1],
                     out_backprop=grad, **attrs),
            apply_op("Conv2DBackpropFilter", input=op.inputs[0], filter_sizes=shape_1,
                     out_backprop=grad, **attrs)]


@RegisterGradient("Conv2DBackpropInput")
def _conv2d_backprop_input_grad(op, grad):
    attrs = _conv_attrs(op, *_CONV_ATTRS)
    return [None,
            apply_op("Conv2DBackpropFilter", input=grad,
                     filter_sizes=array_ops.shape(op.inputs[1]), out_backprop=op.inputs[2],
                     **attrs),
            apply_op("Conv2D", input=grad, filter=op.inputs[1], **attrs)]


@RegisterGradient("Conv2DBackpropFilter")
def _conv2d_backprop_filter_grad(op, grad):
    attrs = _conv_attrs(op, *_CONV_ATTRS)
    return [apply_op("Conv2DBackpropInput", input_sizes=array_ops.shape(op.inputs[0]),
                     filter=grad, out_backprop=op.inputs[2], **attrs),
            None,
            apply_op("Conv2D", input=op.inputs[0], filter=grad, **attrs)]


@RegisterGradient("DepthwiseConv2dNative")
def _depthwise_conv2d_grad(op, grad):
    attrs = _conv_attrs(op, *_DEPTHWISE_ATTRS)
    return [apply_op("DepthwiseConv2dNativeBackpropInput",
                     input_sizes=array_ops.shape(op.inputs[0]), filter=op.inputs[1],
                     out_backprop=grad, **attrs),
            apply_op("DepthwiseConv2dNativeBackpropFilter", input=op.inputs[0],
                     filter_sizes=array_ops.shape(op.inputs[1]), out_backprop=grad, **attrs)]


@RegisterGradient("DepthwiseConv2dNativeBackpropInput")
def _depthwise_backprop_input_grad(op, grad):
    attrs = _conv_attrs(op, *_DEPTHWISE_ATTRS)
    return [None,
            apply_op("DepthwiseConv2dNativeBackpropFilter", input=grad,
                     filter_sizes=array_ops.shape(op.inputs[1]), out_backprop=op.inputs[2],
                     **attrs),
            apply_op("DepthwiseConv2dNative", input=grad, filter=op.inputs[1], **attrs)]


@RegisterGradient("DepthwiseConv2dNativeBackpropFilter")
def _depthwise_backprop_filter_grad(op, grad):
    attrs = _conv_attrs(op, *_DEPTHWISE_ATTRS)
    return [apply_op("DepthwiseConv2dNativeBackpropInput",
                     input_sizes=array_ops.shape(op.inputs[0]), filter=grad,
                     out_backprop=op.inputs[2], **attrs),
            None,
            apply_op("DepthwiseConv2dNative", input=op.inputs[0], filter=grad, **attrs)]


# -- pooling --------------------------------------------------------------------------------------
def _pool_attrs(op, *names):
    return {n: op.get_attr(n) for n in ("ksize", "strides", "padding") + names}


@RegisterGradient("AvgPool")
def _avg_pool_grad(op, grad):
    return apply_op("AvgPoolGrad",
                    orig_input_shape=array_ops.shape(op.inputs[0], out_type=dtypes.int32),
                    grad=grad, **_pool_attrs(op, "data_format"))


@RegisterGradient("AvgPoolGrad")
def _avg_pool_grad_grad(op, grad):
    return (array_ops.stop_gradient(op.inputs[0]),
            apply_op("AvgPool", value=grad, **_pool_attrs(op, "data_format")))


@RegisterGradient("MaxPool")
def _max_pool_grad(op, grad):
    return apply_op("MaxPoolGrad", orig_input=op.inputs[0], orig_output=op.outputs[0],
                    grad=grad, **_pool_attrs(op, "explicit_paddings", "data_format"))


@RegisterGradient("MaxPoolV2")
def _max_pool_v2_grad(op, grad):
    return (apply_op("MaxPoolGradV2", orig_input=op.inputs[0], orig_output=op.outputs[0],
                     grad=grad, ksize=op.inputs[1], strides=op.inputs[2],
                     padding=op.get_attr("padding"), data_format=op.get_attr("data_format")),
            None, None)


@RegisterGradient("MaxPoolGrad")
def _max_pool_grad_grad(op, grad):
    return (array_ops.zeros_like(op.inputs[0]), array_ops.zeros_like(op.inputs[1]),
            apply_op("MaxPoolGradGrad", orig_input=op.inputs[0], orig_output=op.inputs[1],
                     grad=grad, **_pool_attrs(op, "data_format")))


@RegisterGradient("MaxPoolGradV2")
def _max_pool_grad_v2_grad(op, grad):
    return (array_ops.zeros_like(op.inputs[0]), array_ops.zeros_like(op.inputs[1]),
            apply_op("MaxPoolGradGradV2", orig_input=op.inputs[0], orig_output=op.inputs[1],
                     grad=grad, ksize=op.inputs[3], strides=op.inputs[4],
                     padding=op.get_attr("padding"), data_format=op.get_attr("data_format")),
            None, None)


@RegisterGradient("MaxPoolGradGrad")
def _max_pool_grad_grad_grad(op, grad):
    return (array_ops.zeros_like(op.inputs[0]), array_ops.zeros_like(op.inputs[1]),
            apply_op("MaxPoolGrad", orig_input=op.inputs[0], orig_output=op.inputs[1],
                     grad=grad, **_pool_attrs(op, "data_format")))


# -- fused batch normalization --------------------------------------------------------------------
_FUSED_BN_GRAD = {"FusedBatchNorm": "FusedBatchNormGrad",
                  "FusedBatchNormV2": "FusedBatchNormGradV2",
                  "FusedBatchNormV3": "FusedBatchNormGradV3"}


def _fused_batch_norm_grad(op, *grads):
    """dx, dscale, doffset from the fused gradient op: in training with the batch statistics
    the forward op saved; in inference with the population mean and variance (NHWC)."""
    x, grad_y, scale = op.inputs[0], grads[0], op.inputs[1]
    epsilon = op.get_attr("epsilon")
    data_format = op.get_attr("data_format")
    is_training = op.get_attr("is_training")
    grad_op = _FUSED_BN_GRAD[op.type]
    if is_training:
        args = dict(y_backprop=grad_y, x=x, scale=scale, reserve_space_1=op.outputs[3],
                    reserve_space_2=op.outputs[4], epsilon=epsilon, data_format=data_format,
                    is_training=is_training)
        if op.type == "FusedBatchNormV3":
            args["reserve_space_3"] = op.outputs[5]
        dx, dscale, doffset = apply_op(grad_op, **args)[:3]
        return dx, dscale, doffset, None, None
    pop_mean, pop_var = op.inputs[3], op.inputs[4]
    if data_format == b"NCHW":
        x = array_ops.transpose(x, [0, 2, 3, 1])
        grad_y = array_ops.transpose(grad_y, [0, 2, 3, 1])
    elif data_format == b"NCDHW":
        x = array_ops.transpose(x, [0, 2, 3, 4, 1])
        grad_y = array_ops.transpose(grad_y, [0, 2, 3, 4, 1])
    target = "NHWC" if data_format in (b"NCHW", b"NHWC") else "NDHWC"
    args = dict(y_backprop=grad_y, x=x, scale=scale, reserve_space_1=pop_mean,
                reserve_space_2=pop_var, epsilon=epsilon, data_format=target,
                is_training=is_training)
    if op.type == "FusedBatchNormV3":
        args["reserve_space_3"] = op.outputs[5]
    dx, dscale, doffset = apply_op(grad_op, **args)[:3]
    if data_format == b"NCHW":
        dx = array_ops.transpose(dx, [0, 3, 1, 2])
    elif data_format == b"NCDHW":
        dx = array_ops.transpose(dx, [0, 4, 1, 2, 3])
    return dx, dscale, doffset, None, None


for _op_type in _FUSED_BN_GRAD:
    RegisterGradient(_op_type)(_fused_batch_norm_grad)
