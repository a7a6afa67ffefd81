"""Neural-network builders (``gm.nn.*``) with TensorFlow's exact node structure.

Every builder creates the nodes, names and attrs that ``tf.compat.v1.nn`` creates in TF 2.21,
so graphs built with gmeta compare equal to TF's NodeDef for NodeDef. The sub-ops they need
(Rank, Shape, Range, ConcatV2, Pack, Slice, Transpose, Reshape, ...) are created with the
array/math builders, as TF's nn code does (``range/start``, ``concat/values_1``,
``Slice/begin``).
"""

from __future__ import annotations

import numbers

import numpy as np

from gmeta import dtypes, errors
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework import random_seed
from gmeta.framework.tensor_shape import TensorShape, as_shape
from gmeta.ops import array_ops, constant_op, math_ops, random_ops

__all__ = [
    "avg_pool", "avg_pool2d", "avg_pool_v2", "batch_normalization", "bias_add", "conv2d",
    "conv2d_transpose", "depthwise_conv2d", "depthwise_conv2d_native", "dropout", "elu",
    "fused_batch_norm", "in_top_k", "l2_loss", "l2_normalize", "leaky_relu", "log_softmax",
    "max_pool", "max_pool2d", "max_pool_v2", "moments", "relu", "relu6", "selu",
    "sigmoid_cross_entropy_with_logits", "softmax", "softmax_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits_v2", "softplus", "softsign",
    "sparse_softmax_cross_entropy_with_logits",
]

_apply = op_def_library.apply_op
_scope = ops_lib.name_scope_v1


# -- private sub-op helpers (TF's array_ops/math_ops node structure) --------------------------
def _cast(x, dtype):
    """``math_ops.cast``, except that a tensor of ``dtype``'s base type (a ref too) is returned
    as it is."""
    if x.dtype.base_dtype == dtypes.as_dtype(dtype).base_dtype:
        return x
    return math_ops.cast(x, dtype)


def _zeros_like(x, name="zeros_like"):
    """TF's ``zeros_like(x)``; not ``array_ops.zeros_like``, which differs for a static shape
    with no elements (a ``Const`` there, a ValueError here)."""
    from gmeta.ops import init_ops

    with _scope(name, "zeros_like", [x]) as scope:
        if x.shape.is_fully_defined() and x.dtype.base_dtype != dtypes.variant:
            return init_ops._filled(x.shape.as_list(), 0, x.dtype.base_dtype, scope)
        return _apply("ZerosLike", x=x, name=scope)


def _ensure_xent_args(name, sentinel, labels, logits):
    if sentinel is not None:
        raise ValueError(f"Only call `{name}` with named arguments (labels=..., logits=..., ...). "
                         f"Received unnamed argument: {sentinel}")
    if labels is None or logits is None:
        raise ValueError(f"Both `labels` and `logits` must be provided. Received: labels={labels} "
                         f"and logits={logits}")


def _axis_lookup(axis, dim, default=-1):
    if axis is not None and dim is not None:
        raise ValueError("Cannot specify both 'dim' and 'axis'.")
    value = axis if axis is not None else dim
    return default if value is None else value


# -- activations ----------------------------------------------------------------------------------
def relu(features, name=None):
    """Rectified linear unit: ``max(features, 0)`` (a ``Relu`` node).

    >>> import gmeta as gm
    >>> with gm.Graph().as_default():
    ...     y = gm.nn.relu([-1.0, 2.0])
    >>> y.op.type, y.op.name
    ('Relu', 'Relu')
    """
    return _apply("Relu", features=features, name=name)


def _scoped_activation(op_type, features, name):
    with _scope(name, op_type, [features]) as scope:
        features = ops_lib.convert_to_tensor(features, name="features")
        return _apply(op_type, features=features, name=scope)


def relu6(features, name=None):
    """``min(max(features, 0), 6)`` (a ``Relu6`` node)."""
    return _scoped_activation("Relu6", features, name)


def elu(features, name=None):
    """Exponential linear unit: ``features`` if > 0 else ``exp(features) - 1``."""
    return _apply("Elu", features=features, name=name)


def selu(features, name=None):
    """Scaled exponential linear unit (``Selu``)."""
    return _apply("Selu", features=features, name=name)


def softplus(features, name=None):
    """``log(exp(features) + 1)`` computed without overflow (``Softplus``)."""
    return _apply("Softplus", features=features, name=name)


def softsign(features, name=None):
    """``features / (abs(features) + 1)`` (``Softsign``)."""
    return _apply("Softsign", features=features, name=name)


def leaky_relu(features, alpha=0.2, name=None):
    """``features`` if > 0 else ``alpha * features``; integer inputs are cast to float32."""
    with _scope(name, "LeakyRelu", [features, alpha]) as scope:
        features = ops_lib.convert_to_tensor(features, name="features")
        if features.dtype.is_integer:
            features = _cast(features, dtypes.float32)
        if isinstance(alpha, np.ndarray):
            alpha = alpha.item()
        return _apply("LeakyRelu", features=features, alpha=alpha, name=scope)


# -- softmax family ----------------------------------------------------------------------------
def _swap_axis(x, dim_index, last_index, name=None):
    """Transposes ``x`` so that ``dim_index`` and ``last_index`` trade places."""
    first = math_ops.range(dim_index)
    after = (dim_index + 1 if isinstance(dim_index, int)
             else _apply("AddV2", x=dim_index, y=1, name="add"))
    perm = array_ops.concat([first, [last_index], math_ops.range(after, last_index),
                             [dim_index]], 0)
    return array_ops.transpose(x, perm, name=name)


def _softmax(logits, op_type, dim, name):
    logits = ops_lib.convert_to_tensor(logits)
    shape = logits.shape
    if isinstance(dim, (int, np.integer)) and (dim == -1 or dim == (shape.ndims or 0) - 1):
        return _apply(op_type, logits=logits, name=name)
    dim_val = dim
    if isinstance(dim, ops_lib.Tensor):
        from gmeta.framework import shape_inference

        dim_val = shape_inference.constant_value(dim)
    if dim_val is not None and shape.ndims is not None and not (
            -shape.ndims <= int(dim_val) < shape.ndims):
        raise errors.InvalidArgumentError(
            None, None, f"`dim` must be in the range [{-shape.ndims}, {shape.ndims}) where "
                        f"{shape.ndims} is the number of dimensions in the input. Received: "
                        f"dim={dim_val}")
    if shape.ndims is None:
        raise TypeError("softmax over an axis other than the last needs a known rank; "
                        f"{logits.name!r} has unknown rank")
    ndims = array_ops.rank(logits)
    if not isinstance(dim, ops_lib.Tensor):
        dim = int(dim)
        if dim < 0:
            dim = _apply("AddV2", x=dim, y=ndims, name="add")
    else:
        less = _apply("Less", x=dim, y=0, name="Less")
        added = _apply("AddV2", x=dim, y=ndims, name="add")
        dim = _apply("Select", condition=less, t=added, e=dim, name="Select")
    input_rank = array_ops.rank(logits)
    if isinstance(dim, ops_lib.Tensor):
        dim_axis = _apply("FloorMod", x=dim, y=shape.ndims, name="mod")
    else:
        dim_axis = dim % shape.ndims
    logits = _swap_axis(logits, dim_axis, math_ops.subtract(input_rank, 1))
    output = _apply(op_type, logits=logits)
    output = _swap_axis(output, dim_axis, math_ops.subtract(input_rank, 1), name=name)
    output.set_shape(shape)
    return output


def softmax(logits, axis=None, name=None, dim=None):
    """Softmax along ``axis`` (default last); other axes are transposed to the end as TF does.

    Args:
        logits: A non-empty float Tensor.
        axis: The dimension softmax is computed over (Python int or scalar int Tensor).
        name: Name of the result.
        dim: Deprecated alias of ``axis``.

    Returns:
        A Tensor of the same type and shape as ``logits``.
    """
    return _softmax(logits, "Softmax", _axis_lookup(axis, dim), name)


def log_softmax(logits, axis=None, name=None, dim=None):
    """``logits - log(reduce_sum(exp(logits), axis))``, computed stably (``LogSoftmax``)."""
    return _softmax(logits, "LogSoftmax", _axis_lookup(axis, dim), name)


# -- bias ----------------------------------------------------------------------------------------
def bias_add(value, bias, data_format=None, name=None):
    """Adds the 1-D ``bias`` along the channel dimension of ``value`` (``BiasAdd``).

    Args:
        value: A Tensor of rank >= 2.
        bias: A 1-D Tensor whose size matches the channel dimension of ``value``.
        data_format: ``"N...C"`` (channels last, the default) or ``"NC..."``.
        name: Name of the result.

    Returns:
        A Tensor with the type and shape of ``value``.

    Raises:
        ValueError: ``data_format`` is neither channels-last nor channels-first.
    """
    with _scope(name, "BiasAdd", [value, bias]) as scope:
        if data_format is not None:
            if data_format.startswith("NC"):
                data_format = "NCHW"
            elif data_format.startswith("N") and data_format.endswith("C"):
                data_format = "NHWC"
            else:
                raise ValueError("data_format must be of the form `N...C` or `NC...`")
        value = ops_lib.convert_to_tensor(value, name="input")
        bias = ops_lib.convert_to_tensor(bias, dtype=value.dtype, name="bias")
        return _apply("BiasAdd", value=value, bias=bias, data_format=data_format, name=scope)


def bias_add_v1(value, bias, name=None):
    """The deprecated ``BiasAddV1`` op (channels last only)."""
    with _scope(name, "BiasAddV1", [value, bias]) as scope:
        value = ops_lib.convert_to_tensor(value, name="input")
        bias = ops_lib.convert_to_tensor(bias, dtype=value.dtype, name="bias")
        return _apply("BiasAddV1", value=value, bias=bias, name=scope)


# -- losses --------------------------------------------------------------------------------------
def l2_loss(t, name=None):
    """``sum(t ** 2) / 2`` as a scalar (``L2Loss``)."""
    return _apply("L2Loss", t=t, name=name)


def _flatten_outer_dims(logits):
    """Reshapes ``logits`` to 2-D ``[-1, last_dim]`` the way TF's xent helper does."""
    rank = array_ops.rank(logits)
    last_dim_size = array_ops.slice(array_ops.shape(logits), [math_ops.subtract(rank, 1)], [1])
    output = array_ops.reshape(logits, array_ops.concat([[-1], last_dim_size], 0))
    shape = logits.shape
    if shape.ndims is not None:
        dims = shape.as_list()
        if all(d is not None for d in dims[:-1]):
            output.set_shape([int(np.prod(dims[:-1], dtype=np.int64)), dims[-1]])
    return output


def _move_dim_to_end(x, dim_index, rank):
    perm = array_ops.concat([math_ops.range(dim_index), math_ops.range(dim_index + 1, rank),
                             [dim_index]], 0)
    out = array_ops.transpose(x, perm)
    dims = x.shape.dims
    if dims is not None and out.shape.ndims is None and -len(dims) <= dim_index < len(dims):
        # The static shape TF's shape inference gives the transpose (its perm is constant).
        dims = list(dims)
        moved = dims.pop(dim_index)
        out.set_shape(dims + [moved])
    return out


def softmax_cross_entropy_with_logits_v2(labels, logits, axis=None, name=None, dim=None):
    """Softmax cross entropy between ``logits`` and a label distribution, along ``axis``.

    Args:
        labels: Probabilities with the shape of ``logits`` (gradients flow into them).
        logits: Unscaled log probabilities.
        axis: The class dimension (default -1).
        name: Name scope of the result (default ``softmax_cross_entropy_with_logits``).
        dim: Deprecated alias of ``axis``.

    Returns:
        A Tensor with the shape of ``logits`` minus ``axis``.
    """
    axis = _axis_lookup(axis, dim)
    with _scope(name, "softmax_cross_entropy_with_logits", [logits, labels]) as scope:
        logits = ops_lib.convert_to_tensor(logits, name="logits")
        labels = ops_lib.convert_to_tensor(labels, name="labels")
        to_f32 = logits.dtype.base_dtype in (dtypes.float16, dtypes.bfloat16)
        precise_logits = _cast(logits, dtypes.float32) if to_f32 else logits
        labels = _cast(labels, precise_logits.dtype)
        input_rank = array_ops.rank(precise_logits)
        shape = logits.shape
        if axis != -1:
            precise_logits = _move_dim_to_end(precise_logits, axis, input_rank)
            labels = _move_dim_to_end(labels, axis, input_rank)
        input_shape = array_ops.shape(precise_logits)
        precise_logits = _flatten_outer_dims(precise_logits)
        labels = _flatten_outer_dims(labels)
        cost, _ = _apply("SoftmaxCrossEntropyWithLogits", features=precise_logits, labels=labels,
                         name=scope)
        output_shape = array_ops.slice(input_shape, [0], [math_ops.subtract(input_rank, 1)])
        cost = array_ops.reshape(cost, output_shape)
        if shape.ndims is not None:
            dims = shape.as_list()
            del dims[axis]
            cost.set_shape(dims)
        if to_f32:
            return _cast(cost, logits.dtype)
        return cost


def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=-1,
                                      name=None, axis=None):
    """The v1 softmax cross entropy: like ``_v2`` but no gradient flows into ``labels``."""
    _ensure_xent_args("softmax_cross_entropy_with_logits", _sentinel, labels, logits)
    axis = _axis_lookup(axis, dim)
    with _scope(name, "softmax_cross_entropy_with_logits_sg", [logits, labels]) as scope:
        labels = _apply("StopGradient", input=labels, name="labels_stop_gradient")
    return softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits, axis=axis,
                                                name=scope)


def _assert_equal(x, y):
    """``check_ops.assert_equal(x, y)`` in graph mode: Equal/All + Assert with TF's data."""
    g = ops_lib.get_default_graph()
    g.unique_name("assert_equal")  # TF's wrapper enters (and leaves) one scope first
    with _scope("assert_equal"):
        data = ["Condition x == y did not hold element-wise:", f"x ({x.name}) = ", x,
                f"y ({y.name}) = ", y]
        eq = _apply("Equal", x=x, y=y, incompatible_shape_error=True, name="Equal")
        axes = constant_op.constant(np.arange(eq.shape.ndims or 0, dtype=np.int32)) \
            if eq.shape.ndims is not None else math_ops.range(0, array_ops.rank(eq))
        condition = _apply("All", input=eq, reduction_indices=axes, keep_dims=False, name="All")
        with _scope("Assert"):
            for d in data:
                if not isinstance(d, ops_lib.Tensor):
                    constant_op.constant(d)
            return _apply("Assert", condition=condition, data=data, summarize=3, name="Assert")


def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None,
                                             name=None):
    """Softmax cross entropy between ``logits`` and integer class ``labels``.

    Args:
        labels: Integer class indices, shape ``logits.shape[:-1]``, each in ``[0, num_classes)``
            (out-of-range labels raise InvalidArgumentError when run).
        logits: Unscaled log probabilities of shape ``[d_0, ..., d_{r-1}, num_classes]``.
        name: Name scope (default ``SparseSoftmaxCrossEntropyWithLogits``).

    Returns:
        The per-example loss, shaped like ``labels``, with the type of ``logits``.

    Raises:
        ValueError: ``logits`` is a scalar, or the ranks/shapes of labels and logits disagree.
    """
    _ensure_xent_args("sparse_softmax_cross_entropy_with_logits", _sentinel, labels, logits)
    with _scope(name, "SparseSoftmaxCrossEntropyWithLogits", [labels, logits]):
        labels = ops_lib.convert_to_tensor(labels)
        logits = ops_lib.convert_to_tensor(logits)
        f16 = logits.dtype.base_dtype == dtypes.float16
        precise_logits = _cast(logits, dtypes.float32) if f16 else logits
        labels_static = labels.shape
        labels_shape = array_ops.shape(labels)
        lshape = logits.shape
        fully_defined = labels_static.is_fully_defined() and lshape[:-1].is_fully_defined()
        if lshape.ndims == 0:
            raise ValueError(f"`logits` cannot be a scalar. Received logits={logits}`")
        if lshape.ndims is not None and labels_static.ndims is not None and \
                labels_static.ndims != lshape.ndims - 1:
            raise ValueError(f"`labels.shape.rank` must equal `logits.shape.rank - 1`. Received: "
                             f"labels.shape={labels_static} of rank {labels_static.ndims} and "
                             f"logits.shape={lshape} of rank {lshape.ndims}")
        if fully_defined and labels_static != lshape[:-1]:
            raise ValueError(f"`labels.shape` must equal `logits.shape` except for the last "
                             f"dimension. Received: labels.shape={labels_static} and "
                             f"logits.shape={lshape}")
        if lshape.ndims == 2:
            cost, _ = _apply("SparseSoftmaxCrossEntropyWithLogits", features=precise_logits,
                             labels=labels, name=name)
            return _cast(cost, dtypes.float16) if f16 else cost
        checks = []
        if not fully_defined:
            labels_now = array_ops.shape(labels)
            logits_outer = array_ops.shape(logits)[:-1]
            checks.append(_assert_equal(labels_now, logits_outer))
        with ops_lib.control_dependencies(checks):
            num_classes = array_ops.shape(logits)[array_ops.rank(logits) - 1]
            precise_logits = array_ops.reshape(precise_logits, [-1, num_classes])
            labels = array_ops.reshape(labels, [-1])
            cost, _ = _apply("SparseSoftmaxCrossEntropyWithLogits", features=precise_logits,
                             labels=labels, name=name)
            cost = array_ops.reshape(cost, labels_shape)
            cost.set_shape(labels_static)
            return _cast(cost, dtypes.float16) if f16 else cost


def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """Logistic loss ``max(x, 0) - x * z + log(1 + exp(-abs(x)))`` for logits x and labels z.

    Raises:
        ValueError: ``labels`` and ``logits`` have incompatible shapes.
    """
    _ensure_xent_args("sigmoid_cross_entropy_with_logits", _sentinel, labels, logits)
    with _scope(name, "logistic_loss", [logits, labels]) as scope:
        logits = ops_lib.convert_to_tensor(logits, name="logits")
        labels = ops_lib.convert_to_tensor(labels, name="labels")
        if not labels.shape.is_compatible_with(logits.shape):
            raise ValueError(f"`logits` and `labels` must have the same shape, received "
                             f"({logits.shape} vs {labels.shape}).")
        zeros = _zeros_like(logits)
        cond = _apply("GreaterEqual", x=logits, y=zeros, name="GreaterEqual")
        relu_logits = _apply("Select", condition=cond, t=logits, e=zeros, name="Select")
        neg = _apply("Neg", x=logits, name="Neg")
        neg_abs_logits = _apply("Select", condition=cond, t=neg, e=logits, name="Select")
        mul = _apply("Mul", x=logits, y=labels, name="mul")
        sub = _apply("Sub", x=relu_logits, y=mul, name="sub")
        log1p = _apply("Log1p", x=_apply("Exp", x=neg_abs_logits, name="Exp"), name="Log1p")
        return _apply("AddV2", x=sub, y=log1p, name=scope)


# -- dropout -------------------------------------------------------------------------------------
def _noise_shape(x, noise_shape):
    if noise_shape is None:
        return array_ops.shape(x)
    if isinstance(noise_shape, ops_lib.Tensor):
        return noise_shape
    try:
        wanted = as_shape(noise_shape)
    except (TypeError, ValueError):
        return noise_shape
    if x.shape.ndims is not None and wanted.ndims == x.shape.ndims:
        return TensorShape([w if w is not None or d is None else d
                            for d, w in zip(x.shape.dims, wanted.dims)])
    return noise_shape


def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None):
    """Zeroes elements of ``x`` with probability ``rate`` and scales the rest by 1/(1-rate).

    Args:
        x: A floating point Tensor.
        keep_prob: Deprecated: the probability of keeping each element (``rate = 1 - keep_prob``).
        noise_shape: Shape of the random keep/drop mask (broadcast against ``x``).
        seed: Op-level random seed.
        name: Name scope (default ``dropout``).
        rate: Probability of dropping each element, a float in [0, 1) or a scalar Tensor.

    Returns:
        A Tensor of the shape and type of ``x`` (``x`` itself when ``rate`` is the number 0).

    Raises:
        ValueError: both or neither of ``rate``/``keep_prob`` given, ``rate`` out of range, or
            ``x`` not floating point.
    """
    if keep_prob is not None:
        try:
            keep_rate = 1.0 - keep_prob
        except TypeError:
            raise ValueError(f"`keep_prob` must be a floating point number or Tensor. Received: "
                             f"keep_prob={keep_prob}") from None
        if rate is not None:
            raise ValueError("Cannot specify both 'rate' and 'keep_prob'")
        rate = keep_rate
    if rate is None:
        raise ValueError(f"You must provide a `rate` to `dropout`. Received: rate={rate}")
    with _scope(name, "dropout", [x]) as scope:
        del scope
        is_number = isinstance(rate, numbers.Real) and not isinstance(rate, ops_lib.Tensor)
        if is_number and (rate < 0 or rate >= 1):
            raise ValueError(f"`rate` must be a scalar tensor or a float in the range [0, 1). "
                             f"Received: rate={rate}")
        x = ops_lib.convert_to_tensor(x, name="x")
        x_dtype = x.dtype.base_dtype
        if not x_dtype.is_floating:
            raise ValueError(f"`x.dtype` must be a floating point tensor as `x` will be scaled. "
                             f"Received: x_dtype={x_dtype}")
        if is_number and rate == 0:
            random_seed.get_seed(seed)
            return x
        if not isinstance(rate, ops_lib.Tensor):
            if not is_number:
                raise ValueError(f"`rate` must be a scalar or scalar tensor. Received: "
                                 f"rate={rate}")
            scale = ops_lib.convert_to_tensor(1 / (1 - rate), dtype=x_dtype)
            ret = _apply("Mul", x=x, y=scale, name="Mul")
        else:
            rate.shape.assert_has_rank(0)
            if rate.dtype.base_dtype != x_dtype:
                if not rate.dtype.base_dtype.is_compatible_with(x_dtype):
                    raise ValueError(f"`x.dtype` must be compatible with `rate.dtype`. Received: "
                                     f"x.dtype={x_dtype} and rate.dtype={rate.dtype}")
                rate = _apply("Cast", x=rate, DstT=x_dtype, Truncate=False, name="rate")
            one = constant_op.constant(1, dtype=x_dtype)
            ret = _apply("RealDiv", x=x, y=math_ops.subtract(one, rate), name="RealDiv")
        shape = _noise_shape(x, noise_shape)
        random = random_ops.random_uniform(shape, dtype=x_dtype, seed=seed)
        keep = _apply("GreaterEqual", x=random, y=rate, name="GreaterEqual")
        zero = constant_op.constant(0, dtype=x_dtype)
        ret = _apply("SelectV2", condition=keep, t=ret, e=zero, name="SelectV2")
        ret.set_shape(x.shape)
        return ret


# -- convolution and pooling ---------------------------------------------------------------------
def _argument_lookup(new_name, new_value, old_name, old_value):
    """TF's ``deprecated_argument_lookup``: the value of whichever alias was given."""
    if new_value is not None:
        if old_value is not None:
            raise ValueError(f"Cannot specify both '{old_name}' and '{new_name}'.")
        return new_value
    return old_value


def _get_sequence(value, n, channel_index, name):
    """TF's ``_get_sequence``: an int or a list of 1, ``n`` or ``n + 2`` ints as ``n + 2`` ints,
    1 for the batch and channel dimensions."""
    if value is None:
        return [1] * (n + 2)
    if isinstance(value, (list, tuple, np.ndarray)):
        value = [int(v) for v in value]
    else:
        value = [int(value)]
    if len(value) == n + 2:
        return value
    if len(value) == 1:
        value = value * n
    elif len(value) != n:
        raise ValueError(f"{name} should be of length 1, {n} or {n + 2}. Received: {name}="
                         f"{value} of length {len(value)}")
    return [1, 1] + value if channel_index == 1 else [1] + value + [1]


def _convert_padding(padding, expected_length=4):
    """TF's ``convert_padding``: ``"SAME"``/``"VALID"`` as they are, a list of ``[before, after]``
    pairs as ``("EXPLICIT", flat list)``."""
    if padding == "EXPLICIT":
        raise ValueError("'EXPLICIT' is not a valid value for `padding`. To use explicit "
                         "padding, `padding` must be a list.")
    explicit: list = []
    if isinstance(padding, (list, tuple)):
        for i, pair in enumerate(padding):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ValueError(f"When `padding` is a list, each element of `padding` must be a "
                                 f"list/tuple of size 2. Received: padding={padding} with "
                                 f"element at index {i}: {pair!r}")
            explicit.extend(int(p) for p in pair)
        if len(padding) != expected_length:
            raise ValueError(f"When padding is a list, it must be of size {expected_length}. "
                             f"Received: padding={padding} of size {len(padding)}")
        padding = "EXPLICIT"
    return padding, explicit


def _channel_index(data_format):
    return 1 if data_format.startswith("NC") else 3


def conv2d(input, filter=None, strides=None, padding=None, use_cudnn_on_gpu=True,  # noqa: A002
           data_format="NHWC", dilations=[1, 1, 1, 1], name=None, filters=None):  # noqa: B006
    """2-D convolution of a 4-D ``input`` with a ``[h, w, in, out]`` filter (one ``Conv2D``).

    Args:
        input: A 4-D float Tensor, NHWC (or NCHW with ``data_format``).
        filter: The ``[filter_height, filter_width, in_channels, out_channels]`` filter.
        strides: An int or a list of 1, 2 or 4 ints (spatial values are replicated).
        padding: ``"SAME"``, ``"VALID"`` or explicit ``[[before, after]] * 4`` paddings in
            ``data_format`` order (``padding="EXPLICIT"`` plus ``explicit_paddings`` in the node).
        use_cudnn_on_gpu: Recorded in the node (TF's attr).
        data_format: ``"NHWC"`` (default) or ``"NCHW"``.
        dilations: An int or a list of 1, 2 or 4 ints.
        name: Name of the node (default ``Conv2D``).
        filters: Alias of ``filter``.

    Returns:
        A Tensor of ``input``'s type.

    Raises:
        ValueError: bad strides/dilations/padding, or both ``filter`` and ``filters``.
        NotImplementedError: ``input`` has more than one batch dimension (rank > 4).

    >>> import gmeta as gm
    >>> with gm.Graph().as_default():
    ...     y = gm.nn.conv2d(gm.zeros([1, 5, 5, 2]), gm.ones([3, 3, 2, 4]), 1, "VALID")
    >>> y.op.type, y.shape.as_list()
    ('Conv2D', [1, 3, 3, 4])
    """
    filter = _argument_lookup("filters", filters, "filter", filter)  # noqa: A001
    padding, explicit_paddings = _convert_padding(padding)
    if data_format is None:
        data_format = "NHWC"
    channel_index = _channel_index(data_format)
    strides = _get_sequence(strides, 2, channel_index, "strides")
    dilations = _get_sequence(dilations, 2, channel_index, "dilations")
    shape = getattr(input, "shape", None)
    ndims = None if shape is None else (shape.ndims if hasattr(shape, "ndims") else len(shape))
    if ndims is not None and ndims > 4:
        raise NotImplementedError(f"gm.nn.conv2d on a rank-{ndims} input (more than one batch "
                                  "dimension: TF's squeeze_batch_dims) is not supported by gmeta")
    return _apply("Conv2D", input=input, filter=filter, strides=strides, padding=padding,
                  use_cudnn_on_gpu=use_cudnn_on_gpu, explicit_paddings=explicit_paddings,
                  data_format=data_format, dilations=dilations, name=name)


def conv2d_transpose(value=None, filter=None, output_shape=None, strides=None,  # noqa: A002
                     padding="SAME", data_format="NHWC", name=None, input=None,  # noqa: A002
                     filters=None, dilations=None):
    """The transpose (gradient) of ``conv2d``: a ``Conv2DBackpropInput`` node.

    Args:
        value: The 4-D input, ``[batch, height, width, in_channels]`` for NHWC.
        filter: ``[height, width, output_channels, in_channels]``.
        output_shape: The 1-D output shape (list or int32 Tensor).
        strides, dilations: An int or a list of 1, 2 or 4 ints.
        padding: ``"SAME"``, ``"VALID"`` or explicit paddings (as ``conv2d``).
        data_format: ``"NHWC"`` or ``"NCHW"``.
        name: Name scope / node name (default ``conv2d_transpose``).
        input, filters: Aliases of ``value`` and ``filter``.

    Returns:
        A Tensor of ``value``'s type.
    """
    value = _argument_lookup("input", input, "value", value)
    filter = _argument_lookup("filters", filters, "filter", filter)  # noqa: A001
    with _scope(name, "conv2d_transpose", [value, filter, output_shape]) as name:
        with _scope(name, "conv2d_transpose", [value, filter, output_shape]) as name:
            if data_format is None:
                data_format = "NHWC"
            channel_index = _channel_index(data_format)
            strides = _get_sequence(strides, 2, channel_index, "strides")
            dilations = _get_sequence(dilations, 2, channel_index, "dilations")
            padding, explicit_paddings = _convert_padding(padding)
            return _apply("Conv2DBackpropInput", input_sizes=output_shape, filter=filter,
                          out_backprop=value, strides=strides, padding=padding,
                          explicit_paddings=explicit_paddings, data_format=data_format,
                          dilations=dilations, name=name)


def depthwise_conv2d_native(input, filter, strides, padding, data_format="NHWC",  # noqa: A002
                            dilations=[1, 1, 1, 1], name=None):  # noqa: B006
    """A ``DepthwiseConv2dNative`` node: each input channel convolved with its own
    ``channel_multiplier`` filters (``filter`` is ``[h, w, in_channels, channel_multiplier]``).
    """
    padding, explicit_paddings = _convert_padding(padding)
    return _apply("DepthwiseConv2dNative", input=input, filter=filter, strides=strides,
                  padding=padding, explicit_paddings=explicit_paddings, data_format=data_format,
                  dilations=dilations, name=name)


def depthwise_conv2d(input, filter, strides, padding, rate=None, name=None,  # noqa: A002
                     data_format=None, dilations=None):
    """Depthwise 2-D convolution, TF's v1 builder (scope ``depthwise``).

    Args:
        input: A 4-D Tensor.
        filter: ``[filter_height, filter_width, in_channels, channel_multiplier]``.
        strides: 4 ints, the window stride per input dimension.
        padding: ``"SAME"``, ``"VALID"`` or explicit paddings.
        rate: The dilation rate, 2 ints; only ``[1, 1]`` (the default) is supported.
        name: Name scope (default ``depthwise``); the node takes the scope's name.
        data_format: ``"NHWC"`` (default) or ``"NCHW"``.
        dilations: Alias of ``rate``.

    Returns:
        A Tensor of shape ``[batch, out_h, out_w, in_channels * channel_multiplier]``.

    Raises:
        NotImplementedError: a rate above 1 (TF builds SpaceToBatchND/BatchToSpaceND around the
            convolution, which gmeta does not).
        ValueError: a rate below 1 or not of 2 values.
    """
    rate = _argument_lookup("dilations", dilations, "rate", rate)
    with _scope(name, "depthwise", [input, filter]) as name:
        input = ops_lib.convert_to_tensor(input, name="tensor_in")  # noqa: A001
        filter = ops_lib.convert_to_tensor(filter, name="filter_in")  # noqa: A001
        if rate is None:
            rate = [1, 1]
        array_ops.shape(filter)  # TF's with_space_to_batch(filter_shape=...) makes it first
        rate_t = ops_lib.convert_to_tensor(rate, dtypes.int32, name="dilation_rate")
        if rate_t.shape.ndims not in (None, 1) or not rate_t.shape.is_fully_defined():
            raise ValueError(f"`dilation_rate` must be a 1-D vector of known size. Received: "
                             f"dilation_rate={rate}")
        from gmeta.framework import shape_inference

        const_rate = shape_inference.constant_value(rate_t)
        if const_rate is None:
            raise NotImplementedError("gm.nn.depthwise_conv2d with a rate known only at run time "
                                      "(TF builds SpaceToBatchND/BatchToSpaceND) is not "
                                      "supported by gmeta")
        if np.any(const_rate < 1):
            raise ValueError(f"`dilation_rate` must be positive. Received: "
                             f"dilation_rate={const_rate}")
        if not np.all(const_rate == 1):
            raise NotImplementedError(
                f"gm.nn.depthwise_conv2d with rate={const_rate.tolist()}: TF builds an atrous "
                "convolution with SpaceToBatchND/BatchToSpaceND, which gmeta does not build; "
                "use rate=1, or gm.nn.depthwise_conv2d_native(..., dilations=[1, r, r, 1])")
        return depthwise_conv2d_native(input, filter, strides, padding,
                                       data_format=data_format, name=name)


def _check_ksize(ksize):
    if any(v == 0 for v in ksize):
        raise ValueError(f"`ksize` cannot be zero. Received: ksize={ksize}")


def _max_pool(value, ksize, strides, padding, data_format, name):
    if data_format is None:
        data_format = "NHWC"
    channel_index = _channel_index(data_format)
    ksize = _get_sequence(ksize, 2, channel_index, "ksize")
    strides = _get_sequence(strides, 2, channel_index, "strides")
    if isinstance(padding, (list, tuple)) and data_format == "NCHW_VECT_C":
        raise ValueError(f"`data_format='NCHW_VECT_C'` is not supported with explicit padding. "
                         f"Received: padding={padding}")
    padding, explicit_paddings = _convert_padding(padding)
    _check_ksize(ksize)
    return _apply("MaxPool", input=value, ksize=ksize, strides=strides, padding=padding,
                  explicit_paddings=explicit_paddings, data_format=data_format, name=name)


def max_pool(value, ksize, strides, padding, data_format="NHWC", name=None,
             input=None):  # noqa: A002
    """2-D max pooling (``MaxPool``, scope ``MaxPool``).

    Args:
        value: A 4-D Tensor.
        ksize, strides: An int or a list of 1, 2 or 4 ints.
        padding: ``"SAME"``, ``"VALID"`` or explicit ``[[before, after]] * 4`` paddings.
        data_format: ``"NHWC"`` (default) or ``"NCHW"``.
        name: Name of the node.
        input: Alias of ``value``.

    Returns:
        The max-pooled Tensor.
    """
    value = _argument_lookup("input", input, "value", value)
    with _scope(name, "MaxPool", [value]) as name:
        return _max_pool(value, ksize, strides, padding, data_format, name)


def max_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):  # noqa: A002
    """``max_pool`` under TF 2's name (scope ``MaxPool2d``)."""
    with _scope(name, "MaxPool2d", [input]) as name:
        return _max_pool(input, ksize, strides, padding, data_format, name)


def _pool_rank(input, data_format, what):  # noqa: A002
    """The spatial rank of a TF 2 pooling input (``len(shape) - 2``); only 2 is supported."""
    shape = getattr(input, "shape", None)
    if shape is not None and shape.ndims is not None:
        n = shape.ndims - 2
    elif data_format is not None:
        n = len(data_format) - 2
    else:
        raise ValueError(f"`input` must have a static shape or a data format must be given. "
                         f"Received: input.shape={shape} and data_format={data_format}")
    if not 1 <= n <= 3:
        raise ValueError(f"`input.shape.rank` must be 3, 4 or 5. Received: input.shape={shape} "
                         f"of rank {n + 2}.")
    if n != 2:
        raise NotImplementedError(f"gm.nn.{what} on a rank-{n + 2} input is not supported by "
                                  "gmeta (only 2-D pooling)")
    return n


def max_pool_v2(input, ksize, strides, padding, data_format=None, name=None):  # noqa: A002
    """TF 2's ``tf.nn.max_pool``: pooling of the rank's kind; gmeta builds the 2-D (rank-4) one
    (``max_pool2d``, scope ``MaxPool2d``).

    Raises:
        NotImplementedError: a rank-3 or rank-5 input (MaxPool1d / MaxPool3D).
        ValueError: an unknown rank without ``data_format``, or a rank outside 3..5.
    """
    _pool_rank(input, data_format, "max_pool_v2")
    return max_pool2d(input, ksize, strides, padding, data_format=data_format or "NHWC",
                      name=name)


def _avg_pool(value, ksize, strides, padding, data_format, name):
    if data_format is None:
        data_format = "NHWC"
    channel_index = _channel_index(data_format)
    ksize = _get_sequence(ksize, 2, channel_index, "ksize")
    strides = _get_sequence(strides, 2, channel_index, "strides")
    return _apply("AvgPool", value=value, ksize=ksize, strides=strides, padding=padding,
                  data_format=data_format, name=name)


def avg_pool(value, ksize, strides, padding, data_format="NHWC", name=None,
             input=None):  # noqa: A002
    """2-D average pooling (``AvgPool``, scope ``AvgPool``); ``"SAME"`` windows average only the
    in-bounds values.

    Args:
        value: A 4-D Tensor.
        ksize, strides: An int or a list of 1, 2 or 4 ints.
        padding: ``"SAME"`` or ``"VALID"``.
        data_format: ``"NHWC"`` (default) or ``"NCHW"``.
        name: Name of the node.
        input: Alias of ``value``.
    """
    with _scope(name, "AvgPool", [value]) as name:
        value = _argument_lookup("input", input, "value", value)
        return _avg_pool(value, ksize, strides, padding, data_format, name)


avg_pool2d = avg_pool


def avg_pool_v2(input, ksize, strides, padding, data_format=None, name=None):  # noqa: A002
    """TF 2's ``tf.nn.avg_pool`` (v1 ``avg_pool_v2``): for a rank-4 input one ``AvgPool`` node
    with no name scope of its own.

    Raises:
        NotImplementedError: a rank-3 or rank-5 input.
    """
    _pool_rank(input, data_format, "avg_pool_v2")
    channel_index = 3 if data_format is None else _channel_index(data_format)
    ksize = _get_sequence(ksize, 2, channel_index, "ksize")
    strides = _get_sequence(strides, 2, channel_index, "strides")
    return _apply("AvgPool", value=input, ksize=ksize, strides=strides, padding=padding,
                  data_format=data_format, name=name)


# -- batch normalization ---------------------------------------------------------------------------
def fused_batch_norm(x, scale, offset, mean=None, variance=None, epsilon=0.001,
                     data_format="NHWC", is_training=True, name=None, exponential_avg_factor=1.0):
    """Batch normalization in one ``FusedBatchNormV3`` node.

    Args:
        x: A 4-D (or 5-D) Tensor.
        scale, offset: 1-D Tensors of the channel size.
        mean, variance: 1-D population statistics; required for inference, or with an
            ``exponential_avg_factor`` other than 1 (empty constants otherwise).
        epsilon: Added to the variance.
        data_format: ``"NHWC"`` (default) or ``"NCHW"``.
        is_training: True: normalize with the batch statistics and return them.
        name: Name of the node (default ``FusedBatchNormV3``).
        exponential_avg_factor: Weight of the batch statistics in the returned running ones.

    Returns:
        ``(y, running_mean, running_var)``: the normalized ``x`` and, when training, the batch
        mean and (Bessel-corrected) variance blended into ``mean``/``variance``; when not, the
        given ``mean`` and ``variance``.

    Raises:
        ValueError: ``mean`` or ``variance`` missing where required.
    """
    if (not is_training or exponential_avg_factor != 1.0) and (mean is None or variance is None):
        raise ValueError(f"Both `mean` and `variance` must be a 1D tensor when `is_training` is "
                         f"False or `exponential_avg_factor` != 1.0. Received: `mean` {mean!r} "
                         f"and `variance` {variance!r}")
    x = ops_lib.convert_to_tensor(x, name="input")
    scale = ops_lib.convert_to_tensor(scale, name="scale")
    offset = ops_lib.convert_to_tensor(offset, name="offset")
    if mean is None:
        mean = constant_op.constant([])
    if variance is None:
        variance = constant_op.constant([])
    y, running_mean, running_var, _, _, _ = _apply(
        "FusedBatchNormV3", x=x, scale=scale, offset=offset, mean=mean, variance=variance,
        epsilon=epsilon, exponential_avg_factor=exponential_avg_factor, data_format=data_format,
        is_training=is_training, name=name)
    return y, running_mean, running_var


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """``scale * (x - mean) / sqrt(variance + variance_epsilon) + offset`` with TF's node
    structure (scope ``batchnorm``: ``add``, ``Rsqrt``, ``mul``, ...).

    Args:
        x: The input Tensor.
        mean, variance: Tensors broadcastable to ``x``.
        offset: The beta offset or None (then ``-mean * inv`` is added).
        scale: The gamma scale or None.
        variance_epsilon: A small float added to the variance.
        name: Name scope.

    Returns:
        The normalized Tensor.
    """
    with _scope(name, "batchnorm", [x, mean, variance, scale, offset]):
        inv = math_ops.rsqrt(variance + variance_epsilon)
        if scale is not None:
            inv *= scale
        return x * _cast(inv, x.dtype) + _cast(
            offset - mean * inv if offset is not None else -mean * inv, x.dtype)


# -- statistics and misc -------------------------------------------------------------------------
def moments(x, axes, shift=None, name=None, keep_dims=None, keepdims=None):
    """Mean and (population) variance of ``x`` over ``axes``.

    Returns:
        ``(mean, variance)``; float16 inputs are reduced in float32 and cast back.
    """
    del shift
    if keep_dims is not None and keepdims is not None:
        raise ValueError("Cannot specify both 'keep_dims' and 'keepdims'.")
    keep = bool(keepdims if keepdims is not None else keep_dims)
    with _scope(name, "moments", [x, axes]):
        x = ops_lib.convert_to_tensor(x)
        f16 = x.dtype.base_dtype == dtypes.float16
        y = _cast(x, dtypes.float32) if f16 else x
        axes_list = list(axes)
        mean = _apply("Mean", input=y, reduction_indices=axes_list, keep_dims=True, name="mean")
        stopped = _apply("StopGradient", input=mean, name="StopGradient")
        sq = _apply("SquaredDifference", x=y, y=stopped, name="SquaredDifference")
        variance = _apply("Mean", input=sq, reduction_indices=axes_list, keep_dims=True,
                          name="variance")
        if not keep:
            mean = _apply("Squeeze", input=mean, squeeze_dims=axes_list, name="Squeeze")
            variance = _apply("Squeeze", input=variance, squeeze_dims=axes_list, name="Squeeze")
        if f16:
            return _cast(mean, dtypes.float16), _cast(variance, dtypes.float16)
        return mean, variance


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """``x / sqrt(max(sum(x ** 2, axis), epsilon))``."""
    axis = _axis_lookup(axis, dim, default=None)
    with _scope(name, "l2_normalize", [x]) as scope:
        x = ops_lib.convert_to_tensor(x, name="x")
        square = _apply("Square", x=x, name="Square")
        if axis is None:
            if square.shape.ndims is not None:
                axis = constant_op.constant(np.arange(square.shape.ndims, dtype=np.int32))
            else:
                axis = math_ops.range(0, array_ops.rank(square))
        square_sum = _apply("Sum", input=square, reduction_indices=axis, keep_dims=True,
                            name="Sum")
        maximum = _apply("Maximum", x=square_sum, y=epsilon, name="Maximum")
        inv = _apply("Rsqrt", x=maximum, name="Rsqrt")
        return _apply("Mul", x=x, y=inv, name=scope)


def in_top_k(predictions, targets, k, name=None):
    """Whether each target is among the ``k`` largest predictions of its row (``InTopKV2``)."""
    with _scope(name, "in_top_k"):
        return _apply("InTopKV2", predictions=predictions, targets=targets, k=k, name=name)


# -- shape functions -------------------------------------------------------------------------------
from gmeta.framework import shape_inference as _si  # noqa: E402


def _merge_dim(a, b, what):
    if a is not None and b is not None and a != b:
        raise ValueError(f"Dimensions must be equal, but are {a} and {b} ({what})")
    return a if a is not None else b


_si.register("Relu", "Relu6", "Elu", "Selu", "Softplus", "Softsign", "LeakyRelu")(
    _si.unchanged_shape)


@_si.register("Softmax", "LogSoftmax")
def _softmax_shape(op):
    shape = op.inputs[0].shape
    if shape.ndims == 0:
        raise ValueError("Shape must be at least rank 1 but is rank 0")
    return [shape]


@_si.register("BiasAdd", "BiasAddV1")
def _bias_add_shape(op):
    value, bias = op.inputs[0].shape, op.inputs[1].shape
    fmt = op._attr("data_format", b"NHWC")
    nchw = (fmt.decode() if isinstance(fmt, bytes) else fmt) == "NCHW"
    min_rank = 3 if nchw else 2
    if value.ndims is not None and value.ndims < min_rank:
        raise ValueError(f"Shape must be at least rank {min_rank} but is rank {value.ndims}")
    if bias.ndims is not None and bias.ndims != 1:
        raise ValueError(f"Shape must be rank 1 but is rank {bias.ndims}")
    if value.ndims is None:
        return [TensorShape(None)]
    dims = value.as_list()
    axis = 1 if nchw else len(dims) - 1
    dims[axis] = _merge_dim(dims[axis], bias[0] if bias.ndims else None,
                            f"input shape {value} and bias shape {bias}")
    return [dims]


def _matrix_and_vector_batch(op, names):
    """The shapes of ``op``'s inputs 0 (a matrix) and 1 (a vector), rank-checked, and the batch
    size they agree on; ``names`` name the two inputs in the error."""
    matrix, vector = op.inputs[0].shape, op.inputs[1].shape
    if matrix.ndims is not None and matrix.ndims != 2:
        raise ValueError(f"Shape must be rank 2 but is rank {matrix.ndims}")
    if vector.ndims is not None and vector.ndims != 1:
        raise ValueError(f"Shape must be rank 1 but is rank {vector.ndims}")
    batch = _merge_dim(matrix[0] if matrix.ndims else None, vector[0] if vector.ndims else None,
                       f"{names[0]} shape {matrix} and {names[1]} shape {vector}")
    return matrix, batch


@_si.register("SparseSoftmaxCrossEntropyWithLogits")
def _sparse_xent_shape(op):
    logits, batch = _matrix_and_vector_batch(op, ("logits", "labels"))
    return [[batch], [batch, logits[1] if logits.ndims else None]]


@_si.register("SoftmaxCrossEntropyWithLogits")
def _softmax_xent_shape(op):
    logits, labels = op.inputs[0].shape, op.inputs[1].shape
    for s in (logits, labels):
        if s.ndims is not None and s.ndims != 2:
            raise ValueError(f"Shape must be rank 2 but is rank {s.ndims}")
    both = _si.broadcast_shapes(logits.with_rank(2), labels.with_rank(2))
    return [[both[0]], both]


@_si.register("L2Loss")
def _l2_loss_shape(op):
    return [[]]


@_si.register("InTopKV2", "InTopK")
def _in_top_k_shape(op):
    _, batch = _matrix_and_vector_batch(op, ("predictions", "targets"))
    return [[batch]]
