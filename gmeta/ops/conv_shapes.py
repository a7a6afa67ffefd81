"""Static shape functions for convolution, pooling and fused batch-norm ops (TF's rules).

Registered with ``gmeta.framework.shape_inference.register``; importing this module is enough.
Unknown input dimensions give unknown output dimensions; inconsistent known ones raise
``ValueError`` with TF's build-time message (``shape_inference.infer`` names the node).
"""

from __future__ import annotations

from gmeta.framework import shape_inference as _si
from gmeta.framework.tensor_shape import TensorShape
from gmeta.kernels._common_pool import decode_str, spatial_pads, static_window

__all__: list[str] = []


def _attr_ints(op, name, default=None) -> list:
    value = op._attr(name, default)
    return [int(v) for v in (value if value is not None else [])]


def _fmt(op) -> str:
    return decode_str(op._attr("data_format"), "NHWC")


def _nhwc(dims, nchw):
    """Data-format-ordered 4 items in NHWC order."""
    return [dims[0], dims[2], dims[3], dims[1]] if nchw else list(dims)


def _from_nhwc(dims, nchw):
    return [dims[0], dims[3], dims[1], dims[2]] if nchw else list(dims)


def _merge(a, b, what=""):
    if a is None:
        return b
    if b is None or a == b:
        return a
    raise ValueError(f"Dimensions must be equal, but are {a} and {b}{what}")


def _padding(op, nchw):
    padding = decode_str(op._attr("padding"), "VALID")
    explicit = _attr_ints(op, "explicit_paddings", [])
    if padding == "EXPLICIT":
        if len(explicit) != 8:
            raise ValueError(f"explicit_paddings attribute must contain 8 values, but got: "
                             f"{len(explicit)}")
        if any(v < 0 for v in explicit):
            raise ValueError("All elements of explicit_paddings must be nonnegative")
        return padding, spatial_pads(explicit, nchw)
    if explicit:
        raise ValueError("explicit_paddings attribute must be empty if the padding attribute is "
                         "not EXPLICIT")
    return padding, ((0, 0), (0, 0))


def _window_attr(op, name, fmt):
    v = _attr_ints(op, name, [1, 1, 1, 1] if name == "dilations" else [])
    if len(v) != 4:
        if name == "strides":
            raise ValueError(f"{op.type} on data format {fmt} requires the stride attribute to "
                             f"contain 4 values, but got: {len(v)}")
        raise ValueError(f"{op.type} requires the dilation attribute to contain 4 values, but "
                         f"got: {len(v)}")
    return _nhwc(v, fmt == "NCHW")


def _spatial(in_hw, k_hw, strides, dilations, padding, pads):
    return [static_window(in_hw[i], k_hw[i], strides[i + 1], dilations[i + 1], padding, pads[i])
            if k_hw[i] is not None else None for i in range(2)]


# -- convolutions ----------------------------------------------------------------------------------
@_si.register("Conv2D", "DepthwiseConv2dNative")
def _conv2d_shape(op):
    fmt = _fmt(op)
    nchw = fmt == "NCHW"
    strides = _window_attr(op, "strides", fmt)
    dilations = _window_attr(op, "dilations", fmt)
    padding, pads = _padding(op, nchw)
    x = _nhwc(op.inputs[0].shape.with_rank(4).as_list(), nchw)
    w = op.inputs[1].shape.with_rank(4).as_list()
    n, h, wd, c = x
    kh, kw, fc, oc = w
    if op.type == "DepthwiseConv2dNative":
        c = _merge(c, fc)
        out_depth = None if c is None or oc is None else c * oc
    else:
        if c is not None and fc is not None:
            if fc == 0 or c % fc:
                raise ValueError(f"Depth of input ({c}) is not a multiple of input depth of "
                                 f"filter ({fc})")
            groups = c // fc
            if oc is not None and oc % groups:
                raise ValueError(f"Depth of output ({oc}) is not a multiple of the number of "
                                 f"groups ({groups})")
        out_depth = oc
    oh, ow = _spatial((h, wd), (kh, kw), strides, dilations, padding, pads)
    return [TensorShape(_from_nhwc([n, oh, ow, out_depth], nchw))]


def _shape_input(op, index, rank=4):
    """A shape given by a (constant) shape-vector input, as far as it is known."""
    s = _si.constant_value_as_shape(op.inputs[index])
    if s.ndims is None:
        return TensorShape([None] * rank)
    return s


@_si.register("Conv2DBackpropInput", "DepthwiseConv2dNativeBackpropInput")
def _conv2d_backprop_input_shape(op):
    s = _si.constant_value_as_shape(op.inputs[0])
    if s.ndims == 2:  # spatial sizes only: batch from out_backprop, depth from the filter
        nchw = _fmt(op) == "NCHW"
        dy = op.inputs[2].shape.with_rank(4).as_list()
        n = dy[0]
        c = op.inputs[1].shape.with_rank(4).as_list()[2]
        return [TensorShape(_from_nhwc([n, s.as_list()[0], s.as_list()[1], c], nchw))]
    return [s if s.ndims is not None else TensorShape([None] * 4)]


@_si.register("Conv2DBackpropFilter", "DepthwiseConv2dNativeBackpropFilter")
def _conv2d_backprop_filter_shape(op):
    return [_shape_input(op, 1)]


# -- pooling ---------------------------------------------------------------------------------------
def _pool_shape(op, ksize, strides):
    fmt = _fmt(op)
    nchw = fmt == "NCHW"
    padding, pads = _padding(op, nchw)
    n, h, w, c = _nhwc(op.inputs[0].shape.with_rank(4).as_list(), nchw)
    if ksize is None or strides is None:
        return [TensorShape([None] * 4)]
    if ksize[3] != 1 or strides[3] != 1:  # depthwise max pooling
        if c is not None and c % ksize[3]:
            raise ValueError(f"Depthwise max pooling requires the depth window to evenly divide "
                             f"the input depth: {ksize[3]} vs {c}")
        return [TensorShape(_from_nhwc([n, h, w, None if c is None else c // ksize[3]], nchw))]
    oh, ow = _spatial((h, w), ksize[1:3], strides, [1, 1, 1, 1], padding, pads)
    return [TensorShape(_from_nhwc([n, oh, ow, c], nchw))]


@_si.register("MaxPool", "AvgPool")
def _max_avg_pool_shape(op):
    fmt = _fmt(op)
    ksize = _attr_ints(op, "ksize", [])
    if len(ksize) != 4:
        raise ValueError(f"{op.type} requires the ksize attribute to contain 4 values, but "
                         f"got: {len(ksize)}")
    strides = _attr_ints(op, "strides", [])
    if len(strides) != 4:
        raise ValueError(f"{op.type} requires the stride attribute to contain 4 values, but "
                         f"got: {len(strides)}")
    nchw = fmt == "NCHW"
    return _pool_shape(op, _nhwc(ksize, nchw), _nhwc(strides, nchw))


def _const_window(op, index, nchw):
    v = _si.constant_value(op.inputs[index])
    if v is None:
        return None
    v = [int(i) for i in v.ravel()]
    if len(v) != 4:
        raise ValueError(f"{op.type} requires the {'ksize' if index == 1 else 'stride'} input to "
                         f"contain 4 values, but got: {len(v)}")
    return _nhwc(v, nchw)


@_si.register("MaxPoolV2")
def _max_pool_v2_shape(op):
    nchw = _fmt(op) == "NCHW"
    return _pool_shape(op, _const_window(op, 1, nchw), _const_window(op, 2, nchw))


@_si.register("MaxPoolGrad", "MaxPoolGradV2")
def _max_pool_grad_shape(op):
    return [op.inputs[0].shape.with_rank(4)]


@_si.register("AvgPoolGrad")
def _avg_pool_grad_shape(op):
    return [_shape_input(op, 0)]


# -- fused batch norm ------------------------------------------------------------------------------
def _bn_channel_axis(op, x):
    fmt = _fmt(op)
    if x.ndims is None:
        return None
    if x.ndims not in (4, 5):
        raise ValueError(f"Shape must be rank 4 but is rank {x.ndims}")
    return 1 if fmt[1:2] == "C" else x.ndims - 1


def _vector_dim(op, index):
    return op.inputs[index].shape.with_rank(1).as_list()[0]


@_si.register("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def _fused_batch_norm_shape(op):
    x = op.inputs[0].shape
    axis = _bn_channel_axis(op, x)
    c = None if axis is None else x.as_list()[axis]
    for index in (1, 2):
        c = _merge(c, _vector_dim(op, index))
    if not op._attr("is_training", True):
        for index in (3, 4):
            c = _merge(c, _vector_dim(op, index))
    if axis is not None:
        dims = x.as_list()
        dims[axis] = c
        y = TensorShape(dims)
    else:
        y = TensorShape(None)
    outs = [y] + [TensorShape([c])] * 4
    if op.type == "FusedBatchNormV3":
        outs.append(TensorShape(None))
    return outs


@_si.register("FusedBatchNormGrad", "FusedBatchNormGradV2", "FusedBatchNormGradV3")
def _fused_batch_norm_grad_shape(op):
    dy, x = op.inputs[0].shape, op.inputs[1].shape
    if dy.ndims is not None and x.ndims is not None:
        x = TensorShape([_merge(a, b) for a, b in zip(dy.with_rank(x.ndims).as_list(),
                                                      x.as_list())])
    elif x.ndims is None:
        x = dy
    axis = _bn_channel_axis(op, x)
    c = None if axis is None else x.as_list()[axis]
    for index in (2, 3, 4):
        c = _merge(c, _vector_dim(op, index))
    if axis is not None:
        dims = x.as_list()
        dims[axis] = c
        x = TensorShape(dims)
    return [x, TensorShape([c]), TensorShape([c]), TensorShape([0]), TensorShape([0])]
