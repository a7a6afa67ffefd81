"""``gm.layers``: the TF 1.x layer functions (``tf.compat.v1.layers``) with TensorFlow's graphs.

Each function builds what TF 2.21's legacy layers (tf_keras, ``TF_USE_LEGACY_KERAS=1``) build in
graph mode: a variable scope named after the layer (``dense``, ``dense_1``, ... made unique per
variable scope, or exactly ``name`` for the layers with weights), the ops in that scope's name
scope, variables made by ``get_variable`` (``dense/kernel``, ``dense/bias``,
``batch_normalization/moving_mean``, ...) with TF's default initializers (glorot_uniform kernels,
zero biases) and collections (GLOBAL_VARIABLES, TRAINABLE_VARIABLES, the moving statistics'
ON_READ/MEAN VariableDefs), batch-norm moving-average updates in UPDATE_OPS, and weight
regularization losses in REGULARIZATION_LOSSES.

A ``training`` flag may be a Python bool or a scalar bool Tensor; a Tensor (or None: keras'
``keras_learning_phase`` placeholder) builds TF's v1 ``cond`` (Switch/Merge), as TF does.

>>> import gmeta as gm
>>> with gm.Graph().as_default():
...     x = gm.placeholder(gm.float32, [None, 3])
...     y = gm.layers.dense(x, 2, activation=gm.nn.relu)
...     names = [v.op.name for v in gm.trainable_variables()]
>>> names, y.op.name
(['dense/kernel', 'dense/bias'], 'dense/Relu')
"""

from __future__ import annotations

import functools
import operator

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.framework import shape_inference
from gmeta.framework.ops import GraphKeys
from gmeta.framework.tensor_shape import TensorShape
from gmeta.ops import array_ops, constant_op, init_ops, math_ops, nn_ops, resource_variable_ops
from gmeta.ops import variable_scope as vs
from gmeta.ops.cond_v1 import cond as _cond
from gmeta.ops.variables import Variable, VariableAggregation, VariableSynchronization

__all__ = [
    "average_pooling2d", "batch_normalization", "conv2d", "dense", "dropout", "flatten",
    "max_pooling2d",
]

_scope = ops_lib.name_scope_v1
_LEARNING_PHASE_KEY = ("__keras_learning_phase",)

_ACTIVATIONS = {
    "linear": None, "relu": nn_ops.relu, "relu6": nn_ops.relu6, "elu": nn_ops.elu,
    "selu": nn_ops.selu, "softplus": nn_ops.softplus, "softsign": nn_ops.softsign,
    "tanh": math_ops.tanh, "sigmoid": math_ops.sigmoid,
}
_INITIALIZERS = {
    "zeros": init_ops.zeros_initializer, "ones": init_ops.ones_initializer,
    "glorot_uniform": init_ops.glorot_uniform_initializer,
    "glorot_normal": init_ops.glorot_normal_initializer,
    "he_normal": init_ops.he_normal, "he_uniform": init_ops.he_uniform,
    "lecun_normal": init_ops.lecun_normal, "lecun_uniform": init_ops.lecun_uniform,
    "orthogonal": init_ops.orthogonal_initializer,
}


# -- helpers -------------------------------------------------------------------------------------
def _activation(identifier):
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _ACTIVATIONS:
        return _ACTIVATIONS[identifier]
    raise ValueError(f"Unknown activation function: {identifier!r} (gm.layers knows callables "
                     f"and {', '.join(sorted(_ACTIVATIONS))})")


def _initializer(identifier):
    if isinstance(identifier, str):
        if identifier not in _INITIALIZERS:
            raise ValueError(f"Unknown initializer: {identifier!r} (gm.layers knows "
                             f"{', '.join(sorted(_INITIALIZERS))} and initializer objects)")
        return _INITIALIZERS[identifier]()
    return identifier


def _normalize_tuple(value, n, name):
    if isinstance(value, int):
        return (value,) * n
    try:
        value = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"The `{name}` argument must be a tuple of {n} integers. Received: "
                         f"{value}") from None
    if len(value) != n:
        raise ValueError(f"The `{name}` argument must be a tuple of {n} integers. Received: "
                         f"{value}")
    return value


def _normalize_padding(value):
    padding = value.lower() if isinstance(value, str) else value
    if padding not in ("valid", "same"):
        raise ValueError(f"The `padding` argument must be one of 'valid', 'same'. Received: "
                         f"{value}")
    return padding


def _normalize_data_format(value):
    data_format = (value or "channels_last").lower()
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError(f"The `data_format` argument must be one of 'channels_first', "
                         f"'channels_last'. Received: {value}")
    return data_format


def _tf_data_format(data_format):
    return "NCHW" if data_format == "channels_first" else "NHWC"


def _constant_value(pred):
    """keras' ``control_flow_util.constant_value``: a bool, or None for a run-time flag."""
    if isinstance(pred, ops_lib.Tensor):
        value = shape_inference.constant_value(pred)
        return None if value is None else bool(value)
    if isinstance(pred, Variable):
        return None
    if isinstance(pred, (bool, int)) and pred in (0, 1):
        return bool(pred)
    raise TypeError(f"`pred` must be a Tensor, or a Python bool, or 1 or 0. Received: "
                    f"{type(pred)}")


def _smart_cond(pred, true_fn, false_fn):
    """``true_fn()`` or ``false_fn()`` when ``pred`` is known now, else a v1 ``cond``."""
    value = _constant_value(pred)
    if value is None:
        return _cond(pred, true_fn=true_fn, false_fn=false_fn)
    return true_fn() if value else false_fn()


def _learning_phase():
    """keras' symbolic learning phase: one ``keras_learning_phase`` PlaceholderWithDefault(False)
    per graph, at the root name scope."""
    g = ops_lib.get_default_graph()
    found = g.get_collection(_LEARNING_PHASE_KEY)
    if found:
        return found[0]
    with g.name_scope(""):
        phase = array_ops.placeholder_with_default(False, shape=(), name="keras_learning_phase")
    g.add_to_collection(_LEARNING_PHASE_KEY, phase)
    return phase


def _to_tensor(inputs):
    if isinstance(inputs, (ops_lib.Tensor, Variable)):
        return ops_lib.convert_to_tensor(inputs)
    return ops_lib.convert_to_tensor(inputs, dtype=dtypes.float32)


def _check_ndim(layer, inputs, ndim=None, min_ndim=None):
    rank = inputs.shape.ndims
    if rank is None:
        return
    if ndim is not None and rank != ndim:
        raise ValueError(f'Input 0 of layer "{layer}" is incompatible with the layer: expected '
                         f"ndim={ndim}, found ndim={rank}. Full shape received: "
                         f"{tuple(inputs.shape.as_list())}")
    if min_ndim is not None and rank < min_ndim:
        raise ValueError(f'Input 0 of layer "{layer}" is incompatible with the layer: expected '
                         f"min_ndim={min_ndim}, found ndim={rank}. Full shape received: "
                         f"{tuple(inputs.shape.as_list())}")


# -- the layer machinery -------------------------------------------------------------------------
class _Layer:
    """What one tf.layers layer object does to the graph (TF's legacy ``base.Layer``).

    ``scope_from_name``: the layers built with ``_scope=name`` (those with weights) open
    ``variable_scope(name)`` at construction; the others (and unnamed ones) open
    ``variable_scope(None, default_name=<name or class name>)`` on first use, which makes the
    name unique among the variable scopes.
    """

    base_name = "layer"
    input_ndim: dict = {}  # keras' InputSpec, checked before the layer is built: ndim / min_ndim

    def __init__(self, name=None, trainable=True, reuse=None, scope_from_name=False):
        self.trainable = trainable
        self._reuse = reuse
        self._base_name = name or self.base_name
        self._scope = None
        if scope_from_name and name:
            with vs.variable_scope(name) as captured:
                self._scope = captured
        self.built = False
        self.updates: list = []
        self.dtype = None

    def _set_scope(self):
        if self._scope is None:
            if self._reuse:
                with vs.variable_scope(self._base_name) as captured:
                    self._scope = captured
            else:
                with vs.variable_scope(None, default_name=self._base_name) as captured:
                    self._scope = captured

    def add_weight(self, name, shape, dtype=None, initializer=None, regularizer=None,
                   trainable=None, constraint=None,
                   synchronization=VariableSynchronization.AUTO,
                   aggregation=VariableAggregation.NONE):
        """``get_variable(name, ...)`` in the layer's scope, TF's default initializer and
        regularization loss included."""
        if synchronization == VariableSynchronization.ON_READ:
            if trainable:
                raise ValueError("Synchronization value can be set to "
                                 "VariableSynchronization.ON_READ only for non-trainable "
                                 "variables. You have specified trainable=True and "
                                 "synchronization=VariableSynchronization.ON_READ.")
            trainable = False
        elif trainable is None:
            trainable = True
        dtype = dtypes.as_dtype(dtype or self.dtype or dtypes.float32)
        g = ops_lib.get_default_graph()
        existing = set(id(v) for v in g.get_collection(GraphKeys.GLOBAL_VARIABLES))
        self._set_scope()
        reuse = self.built or self._reuse
        with vs.variable_scope(self._scope, reuse=reuse, auxiliary_name_scope=False) as scope:
            with _scope(scope.original_name_scope):
                if initializer is None:
                    initializer = scope.initializer
                if initializer is None:
                    initializer = (init_ops.glorot_uniform_initializer() if dtype.is_floating
                                   else init_ops.zeros_initializer())
                variable = vs.get_variable(
                    name, shape=shape, dtype=dtype, initializer=initializer,
                    trainable=trainable and self.trainable, constraint=constraint,
                    use_resource=scope.use_resource, synchronization=synchronization,
                    aggregation=aggregation)
                if regularizer is not None and id(variable) not in existing:
                    with _scope(name + "/Regularizer"):
                        loss = regularizer(variable)
                    if loss is not None:
                        if not isinstance(loss, ops_lib.Tensor):
                            loss = ops_lib.convert_to_tensor(loss, dtype=dtypes.float32)
                        _add_to_collection(GraphKeys.REGULARIZATION_LOSSES, [loss])
        return variable

    def build(self, input_shape):
        del input_shape

    def call(self, inputs, **kwargs):
        raise NotImplementedError

    def __call__(self, inputs, **kwargs):
        inputs = _to_tensor(inputs)
        _check_ndim(self._base_name, inputs, **self.input_ndim)
        self._set_scope()
        reuse = True if self.built else self._reuse
        with vs.variable_scope(self._scope, reuse=reuse, auxiliary_name_scope=False) as scope:
            with _scope(scope.original_name_scope):
                if not self.built:
                    if self.dtype is None:
                        self.dtype = inputs.dtype.base_dtype
                    self.build(inputs.shape)
                    self.built = True
                outputs = self.call(inputs, **kwargs)
        _add_to_collection(GraphKeys.UPDATE_OPS, self.updates)
        return outputs

    def add_update(self, update):
        """Records an update (an op, or a tensor whose op is recorded)."""
        self.updates.append(update if isinstance(update, ops_lib.Operation) else update.op)


def _add_to_collection(key, elements):
    collection = ops_lib.get_collection_ref(key)
    present = {id(e) for e in collection}
    for e in elements:
        if id(e) not in present:
            collection.append(e)
            present.add(id(e))


# -- core layers -----------------------------------------------------------------------------------
class _Dense(_Layer):
    base_name = "dense"
    input_ndim = {"min_ndim": 2}

    def __init__(self, units, activation, use_bias, kernel_initializer, bias_initializer,
                 kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint,
                 **kwargs):
        super().__init__(scope_from_name=True, **kwargs)
        self.units = int(units)
        if self.units < 0:
            raise ValueError(f"Received an invalid value for `units`, expected a positive "
                             f"integer. Received: units={units}")
        self.activation = _activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer = _initializer(kernel_initializer)
        self.bias_initializer = _initializer(bias_initializer)
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel_constraint, self.bias_constraint = kernel_constraint, bias_constraint

    def build(self, input_shape):
        if not (self.dtype.is_floating or self.dtype.is_complex):
            raise TypeError(f"A Dense layer can only be built with a floating-point dtype. "
                            f"Received: dtype={self.dtype.name}")
        last_dim = input_shape[-1] if input_shape.ndims else None
        if last_dim is None:
            raise ValueError(f"The last dimension of the inputs to a Dense layer should be "
                             f"defined. Found None. Full input shape received: {input_shape}")
        self.kernel = self.add_weight("kernel", [last_dim, self.units],
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, dtype=self.dtype,
                                      trainable=True)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", [self.units], initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint, dtype=self.dtype,
                                        trainable=True)

    def call(self, inputs):
        if inputs.dtype.base_dtype != self.dtype:
            inputs = math_ops.cast(inputs, self.dtype)
        rank = inputs.shape.ndims
        if rank == 2 or rank is None:
            outputs = math_ops.matmul(inputs, self.kernel)
        else:
            outputs = math_ops.tensordot(inputs, self.kernel, [[rank - 1], [0]])
            outputs.set_shape(inputs.shape.as_list()[:-1] + [self.units])
        if self.use_bias:
            outputs = nn_ops.bias_add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs


def dense(inputs, units, activation=None, use_bias=True, kernel_initializer=None,
          bias_initializer=init_ops.zeros_initializer(), kernel_regularizer=None,
          bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
          bias_constraint=None, trainable=True, name=None, reuse=None):
    """Densely-connected layer: ``activation(inputs @ kernel + bias)``.

    Args:
        inputs: A Tensor of rank >= 2 whose last dimension is known.
        units: The output size.
        activation: A callable (``gm.nn.relu``), a name (``"relu"``) or None.
        use_bias: Add a bias vector (``<scope>/bias``).
        kernel_initializer: Default: the variable scope's initializer, else glorot_uniform.
        bias_initializer: Default zeros.
        kernel_regularizer, bias_regularizer: ``f(variable) -> loss``; the losses go to
            REGULARIZATION_LOSSES (ops in ``<scope>/kernel/Regularizer/``).
        activity_regularizer: Not supported (NotImplementedError when given).
        kernel_constraint, bias_constraint: Passed to ``get_variable``.
        trainable: Add the variables to TRAINABLE_VARIABLES.
        name: The layer's scope; default ``dense``, made unique (``dense_1``, ...).
        reuse: Reuse the variables of a layer of the same ``name``.

    Returns:
        The output Tensor, ``inputs.shape[:-1] + [units]``.

    Raises:
        ValueError: the last dimension of ``inputs`` is unknown, or the rank is below 2.
        TypeError: ``inputs`` is not floating point.
    """
    _no_activity_regularizer(activity_regularizer)
    layer = _Dense(units, activation, use_bias, kernel_initializer, bias_initializer,
                   kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint,
                   trainable=trainable, name=name, reuse=reuse)
    return layer(inputs)


def _no_activity_regularizer(activity_regularizer):
    if activity_regularizer is not None:
        raise NotImplementedError("gm.layers does not support activity_regularizer")


class _Dropout(_Layer):
    base_name = "dropout"

    def __init__(self, rate, noise_shape, seed, name):
        super().__init__(name=name)
        self.rate, self.noise_shape, self.seed = rate, noise_shape, seed

    def _get_noise_shape(self, inputs):
        if self.noise_shape is None:
            return None
        concrete = array_ops.shape(inputs)
        return ops_lib.convert_to_tensor([concrete[i] if v is None else v
                                          for i, v in enumerate(self.noise_shape)])

    def _legacy_seed(self):
        if self.seed is None:
            return None
        seed, self.seed = self.seed, self.seed + 1
        return seed

    def call(self, inputs, training=False):
        if isinstance(self.rate, (int, float)) and self.rate == 0:
            return array_ops.identity(inputs)
        if training is None:
            training = _learning_phase()

        def dropped_inputs():
            return nn_ops.dropout(inputs, rate=self.rate,
                                  noise_shape=self._get_noise_shape(inputs),
                                  seed=self._legacy_seed())

        return _smart_cond(training, dropped_inputs, lambda: array_ops.identity(inputs))


def dropout(inputs, rate=0.5, noise_shape=None, seed=None, training=False, name=None):
    """Dropout: with ``training``, zeroes elements with probability ``rate`` and scales the rest
    by ``1 / (1 - rate)``; without, an Identity.

    Args:
        inputs: The input Tensor.
        rate: The drop probability (0 gives an Identity).
        noise_shape: The mask's shape (``None`` entries take the input's size).
        seed: The op-level seed.
        training: Python bool, scalar bool Tensor (a v1 ``cond``), or None (the graph's
            ``keras_learning_phase``).
        name: The layer's scope (default ``dropout``, made unique).

    Returns:
        A Tensor shaped like ``inputs``.
    """
    return _Dropout(rate, noise_shape, seed, name)(inputs, training=training)


class _Flatten(_Layer):
    base_name = "flatten"
    input_ndim = {"min_ndim": 1}

    def __init__(self, name, data_format):
        super().__init__(name=name)
        self.data_format = _normalize_data_format(data_format)

    def call(self, inputs):
        if self.data_format == "channels_first":
            rank = inputs.shape.ndims
            if rank and rank > 1:
                inputs = array_ops.transpose(inputs, perm=[0] + list(range(2, rank)) + [1])
        shape = inputs.shape
        if shape.ndims == 1:
            return array_ops.expand_dims(inputs, axis=1)
        batch_dim = shape[0] if shape.ndims is not None else None
        non_batch = shape[1:] if shape.ndims is not None else TensorShape(None)
        if non_batch.is_fully_defined():
            last_dim = int(functools.reduce(operator.mul, non_batch.as_list(), 1))
            flattened = constant_op.constant([-1, last_dim])
        elif batch_dim is not None:
            flattened = constant_op.constant([int(batch_dim), -1])
        else:
            flattened = [array_ops.shape(inputs)[0], -1]
        return array_ops.reshape(inputs, flattened)


def flatten(inputs, name=None, data_format="channels_last"):
    """Flattens every dimension but the first: ``[batch, -1]`` (a ``Reshape``).

    Args:
        inputs: A Tensor of rank >= 1 (rank 1 gets a trailing dimension of 1).
        name: The layer's scope (default ``flatten``, made unique).
        data_format: ``"channels_first"`` moves the channels last first (a ``Transpose``).
    """
    return _Flatten(name, data_format)(inputs)


# -- convolution and pooling -------------------------------------------------------------------
class _Conv2D(_Layer):
    base_name = "conv2d"
    input_ndim = {"min_ndim": 4}

    def __init__(self, filters, kernel_size, strides, padding, data_format, dilation_rate,
                 activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                 bias_regularizer, kernel_constraint, bias_constraint, **kwargs):
        super().__init__(scope_from_name=True, **kwargs)
        self.filters = int(filters)
        if self.filters <= 0:
            raise ValueError(f"Invalid value for argument `filters`. Expected a strictly "
                             f"positive value. Received filters={filters}.")
        self.kernel_size = _normalize_tuple(kernel_size, 2, "kernel_size")
        self.strides = _normalize_tuple(strides, 2, "strides")
        self.padding = _normalize_padding(padding)
        self.data_format = _normalize_data_format(data_format)
        self.dilation_rate = _normalize_tuple(dilation_rate, 2, "dilation_rate")
        if self.dilation_rate != (1, 1):
            raise NotImplementedError(
                f"gm.layers.conv2d with dilation_rate={self.dilation_rate}: TF builds the "
                "dilated convolution with SpaceToBatchND/BatchToSpaceND, which gmeta does not")
        self.activation = _activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer = _initializer(kernel_initializer)
        self.bias_initializer = _initializer(bias_initializer)
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel_constraint, self.bias_constraint = kernel_constraint, bias_constraint

    def build(self, input_shape):
        input_shape = input_shape.with_rank(4) if input_shape.ndims is not None else input_shape
        axis = 1 if self.data_format == "channels_first" else -1
        channels = input_shape[axis] if input_shape.ndims is not None else None
        if channels is None:
            raise ValueError(f"The channel dimension of the inputs should be defined. The "
                             f"input_shape received is {input_shape}, where axis {axis} "
                             f"(0-based) is the channel dimension, which found to be `None`.")
        self.kernel = self.add_weight("kernel", list(self.kernel_size) + [channels, self.filters],
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, trainable=True,
                                      dtype=self.dtype)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", [self.filters], initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint, trainable=True,
                                        dtype=self.dtype)

    def call(self, inputs):
        data_format = _tf_data_format(self.data_format)
        with _scope(None, "Conv2D", [inputs, self.kernel]) as name:
            outputs = nn_ops.conv2d(inputs, self.kernel, strides=list(self.strides),
                                    padding=self.padding.upper(), data_format=data_format,
                                    dilations=list(self.dilation_rate), name=name)
        if self.use_bias:
            outputs = nn_ops.bias_add(outputs, self.bias, data_format=data_format)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs


def conv2d(inputs, filters, kernel_size, strides=(1, 1), padding="valid",
           data_format="channels_last", dilation_rate=(1, 1), activation=None, use_bias=True,
           kernel_initializer=None, bias_initializer=init_ops.zeros_initializer(),
           kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
           kernel_constraint=None, bias_constraint=None, trainable=True, name=None, reuse=None):
    """2-D convolution layer: ``activation(conv2d(inputs, kernel) + bias)``.

    Args:
        inputs: A 4-D Tensor with a known channel dimension.
        filters: The number of output channels.
        kernel_size, strides: An int or 2 ints.
        padding: ``"valid"`` or ``"same"`` (any case).
        data_format: ``"channels_last"`` (NHWC) or ``"channels_first"`` (NCHW).
        dilation_rate: Only 1 (TF builds SpaceToBatchND around a dilated convolution).
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, kernel_constraint, bias_constraint, trainable, name, reuse: As for
            :func:`dense` (variables ``<scope>/kernel`` ``[kh, kw, in, filters]`` and
            ``<scope>/bias``; default scope ``conv2d``).
        activity_regularizer: Not supported.

    Returns:
        The output Tensor (the ``Conv2D`` node is ``<scope>/Conv2D``).

    Raises:
        ValueError: the channel dimension is unknown, or bad sizes/padding/data format.
        NotImplementedError: a dilation rate other than 1.
    """
    _no_activity_regularizer(activity_regularizer)
    layer = _Conv2D(filters, kernel_size, strides, padding, data_format, dilation_rate,
                    activation, use_bias, kernel_initializer, bias_initializer,
                    kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint,
                    trainable=trainable, name=name, reuse=reuse)
    return layer(inputs)


class _Pooling2D(_Layer):
    input_ndim = {"ndim": 4}

    def __init__(self, pool_size, strides, padding, data_format, name):
        super().__init__(name=name)
        if strides is None:
            strides = pool_size
        self.pool_size = _normalize_tuple(pool_size, 2, "pool_size")
        self.strides = _normalize_tuple(strides, 2, "strides")
        self.padding = _normalize_padding(padding)
        self.data_format = _normalize_data_format(data_format)

    def call(self, inputs):
        if self.data_format == "channels_last":
            ksize = (1,) + self.pool_size + (1,)
            strides = (1,) + self.strides + (1,)
        else:
            ksize = (1, 1) + self.pool_size
            strides = (1, 1) + self.strides
        return self._pool(inputs, list(ksize), list(strides), self.padding.upper(),
                          _tf_data_format(self.data_format))


class _MaxPooling2D(_Pooling2D):
    base_name = "max_pooling2d"

    @staticmethod
    def _pool(inputs, ksize, strides, padding, data_format):
        return nn_ops.max_pool(inputs, ksize=ksize, strides=strides, padding=padding,
                               data_format=data_format)


class _AveragePooling2D(_Pooling2D):
    base_name = "average_pooling2d"

    @staticmethod
    def _pool(inputs, ksize, strides, padding, data_format):
        # keras calls TF 2's tf.nn.avg_pool: a bare AvgPool node, no name scope of its own
        return nn_ops.avg_pool_v2(inputs, ksize, strides, padding, data_format=data_format)


def max_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last",
                  name=None):
    """2-D max pooling layer (``<scope>/MaxPool``; default scope ``max_pooling2d``).

    Args:
        inputs: A 4-D Tensor.
        pool_size, strides: An int or 2 ints.
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        name: The layer's scope (made unique).
    """
    return _MaxPooling2D(pool_size, strides, padding, data_format, name)(inputs)


def average_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last",
                      name=None):
    """2-D average pooling layer (``<scope>/AvgPool``; default scope ``average_pooling2d``);
    arguments as :func:`max_pooling2d`."""
    return _AveragePooling2D(pool_size, strides, padding, data_format, name)(inputs)



# -- batch normalization ---------------------------------------------------------------------------
def _validate_axis(axis, input_shape):
    rank = input_shape.ndims
    if not rank:
        raise ValueError(f"Input has undefined rank. Received: input_shape={input_shape}")
    axis = [axis] if isinstance(axis, int) else list(axis)
    axis = [rank + a if a < 0 else a for a in axis]
    for a in axis:
        if a < 0 or a >= rank:
            raise ValueError(f"Invalid value for `axis` argument. Expected 0 <= axis < "
                             f"inputs.rank (with inputs.rank={rank}). Received: "
                             f"axis={tuple(axis)}")
    if len(axis) != len(set(axis)):
        raise ValueError(f"Duplicate axis: {tuple(axis)}")
    return axis


class _BatchNormalization(_Layer):
    """keras' v1 ``BatchNormalization`` as tf.layers builds it (fused when the input is 4-D or
    5-D, normalized over its first or last non-batch axis, unless ``fused=False``)."""

    base_name = "batch_normalization"

    def __init__(self, axis, momentum, epsilon, center, scale, beta_initializer,
                 gamma_initializer, moving_mean_initializer, moving_variance_initializer,
                 beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint, fused,
                 **kwargs):
        super().__init__(scope_from_name=True, **kwargs)
        self.axis = axis
        self.momentum, self.epsilon = momentum, epsilon
        self.center, self.scale = center, scale
        self.beta_initializer = _initializer(beta_initializer)
        self.gamma_initializer = _initializer(gamma_initializer)
        self.moving_mean_initializer = _initializer(moving_mean_initializer)
        self.moving_variance_initializer = _initializer(moving_variance_initializer)
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint, self.gamma_constraint = beta_constraint, gamma_constraint
        self.fused = True if fused is None else fused

    @property
    def _param_dtype(self):
        if self.dtype in (dtypes.float16, dtypes.bfloat16):
            return dtypes.float32
        return self.dtype or dtypes.float32

    def build(self, input_shape):
        self.axis = _validate_axis(self.axis, input_shape)
        rank = input_shape.ndims
        fusable = len(self.axis) == 1 and self.axis[0] in ({1, 3} if rank == 4 else {1, 4}) and \
            self.dtype in (dtypes.float16, dtypes.bfloat16, dtypes.float32)
        if self.fused:
            self.fused = rank in (4, 5) and fusable
        if self.fused:
            channels_first = self.axis == [1]
            self._data_format = ("NCHW" if channels_first else "NHWC") if rank == 4 else \
                ("NCDHW" if channels_first else "NDHWC")
        dims = input_shape.as_list()
        for a in self.axis:
            if dims[a] is None:
                raise ValueError(f"Input has undefined `axis` dimension. Received input with "
                                 f"shape {tuple(dims)} and axis={tuple(self.axis)}")
        if len(self.axis) == 1:
            param_shape = [dims[self.axis[0]]]
        else:
            param_shape = [dims[i] if i in self.axis else 1 for i in range(rank)]
        pdt = self._param_dtype
        self.gamma = self.beta = None
        if self.scale:
            self.gamma = self.add_weight("gamma", param_shape, dtype=pdt,
                                         initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint, trainable=True)
        if self.center:
            self.beta = self.add_weight("beta", param_shape, dtype=pdt,
                                        initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint, trainable=True)
        on_read, mean = VariableSynchronization.ON_READ, VariableAggregation.MEAN
        self.moving_mean = self.add_weight("moving_mean", param_shape, dtype=pdt,
                                           initializer=self.moving_mean_initializer,
                                           synchronization=on_read, trainable=False,
                                           aggregation=mean)
        self.moving_variance = self.add_weight("moving_variance", param_shape, dtype=pdt,
                                               initializer=self.moving_variance_initializer,
                                               synchronization=on_read, trainable=False,
                                               aggregation=mean)
        self._param_shape = param_shape

    def _assign_moving_average(self, variable, value, momentum):
        with _scope("AssignMovingAvg") as scope:
            with ops_lib.colocate_with(variable.op):
                decay = ops_lib.convert_to_tensor(1.0 - momentum, name="decay")
                if decay.dtype.base_dtype != variable.dtype.base_dtype:
                    decay = math_ops.cast(decay, variable.dtype.base_dtype)
                delta = (variable - _cast(value, variable.dtype.base_dtype)) * decay
                if isinstance(variable, resource_variable_ops.BaseResourceVariable):
                    # TF's assign_sub(resource, delta) passes no name: <scope>/AssignSubVariableOp
                    return variable.assign_sub(delta)
                return variable.assign_sub(delta, name=scope)

    def _fused_batch_norm(self, inputs, training):
        beta = self.beta if self.center else constant_op.constant(
            0.0, dtype=self._param_dtype, shape=self._param_shape)
        gamma = self.gamma if self.scale else constant_op.constant(
            1.0, dtype=self._param_dtype, shape=self._param_shape)

        def _training():
            return nn_ops.fused_batch_norm(inputs, gamma, beta, mean=self.moving_mean,
                                           variance=self.moving_variance, epsilon=self.epsilon,
                                           is_training=True, data_format=self._data_format)

        def _inference():
            return nn_ops.fused_batch_norm(inputs, gamma, beta, mean=self.moving_mean,
                                           variance=self.moving_variance, epsilon=self.epsilon,
                                           is_training=False, data_format=self._data_format)

        output, mean, variance = _smart_cond(training, _training, _inference)
        training_value = _constant_value(training)
        if training_value or training_value is None:
            if training_value is None:
                momentum = _smart_cond(training, lambda: self.momentum, lambda: 1.0)
            else:
                momentum = ops_lib.convert_to_tensor(self.momentum)
            self.add_update(self._assign_moving_average(self.moving_mean, mean, momentum))
            self.add_update(self._assign_moving_average(self.moving_variance, variance,
                                                        momentum))
        return output

    def call(self, inputs, training=False):
        if inputs.dtype.base_dtype != self.dtype:
            inputs = math_ops.cast(inputs, self.dtype)
        if training is None:
            training = _learning_phase()
        if self.fused:
            return self._fused_batch_norm(inputs, training)
        return self._batch_norm(inputs, training)

    def _batch_norm(self, inputs, training):
        training_value = _constant_value(training)
        in_dtype = inputs.dtype.base_dtype
        if in_dtype in (dtypes.float16, dtypes.bfloat16):
            inputs = math_ops.cast(inputs, dtypes.float32)
        input_shape = inputs.shape
        ndims = input_shape.ndims
        reduction_axes = [i for i in range(ndims) if i not in self.axis]
        broadcast_shape = [1] * ndims
        broadcast_shape[self.axis[0]] = input_shape.as_list()[self.axis[0]]

        def _broadcast(v):
            if v is not None and len(v.shape) != ndims and \
                    reduction_axes != list(range(ndims - 1)):
                return array_ops.reshape(v, broadcast_shape)
            return v

        scale, offset = _broadcast(self.gamma), _broadcast(self.beta)
        if training_value is False:
            mean, variance = self.moving_mean, self.moving_variance
        else:
            keep_dims = len(self.axis) > 1
            mean, variance = nn_ops.moments(_cast(inputs, self._param_dtype), reduction_axes,
                                            keep_dims=keep_dims)
            moving_mean, moving_variance = self.moving_mean, self.moving_variance
            mean = _smart_cond(training, lambda: mean,
                               lambda: ops_lib.convert_to_tensor(moving_mean))
            variance = _smart_cond(training, lambda: variance,
                                   lambda: ops_lib.convert_to_tensor(moving_variance))
            new_mean, new_variance = mean, variance

            def mean_update():
                return _smart_cond(training, lambda: self._assign_moving_average(
                    self.moving_mean, new_mean, self.momentum), lambda: self.moving_mean)

            def variance_update():
                return _smart_cond(training, lambda: self._assign_moving_average(
                    self.moving_variance, new_variance, self.momentum),
                    lambda: self.moving_variance)

            self.add_update(mean_update())
            self.add_update(variance_update())
        mean = _cast(mean, inputs.dtype)
        variance = _cast(variance, inputs.dtype)
        if offset is not None:
            offset = _cast(offset, inputs.dtype)
        if scale is not None:
            scale = _cast(scale, inputs.dtype)
        outputs = nn_ops.batch_normalization(inputs, _broadcast(mean), _broadcast(variance),
                                             offset, scale, self.epsilon)
        if in_dtype in (dtypes.float16, dtypes.bfloat16):
            outputs = math_ops.cast(outputs, in_dtype)
        outputs.set_shape(input_shape)
        return outputs


def _cast(x, dtype):
    """``tf.cast``: ``x`` itself (a Variable too) when it already has ``dtype``."""
    if x.dtype.base_dtype == dtypes.as_dtype(dtype).base_dtype:
        return x
    return math_ops.cast(x, dtype)


def batch_normalization(inputs, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                        beta_initializer=init_ops.zeros_initializer(),
                        gamma_initializer=init_ops.ones_initializer(),
                        moving_mean_initializer=init_ops.zeros_initializer(),
                        moving_variance_initializer=init_ops.ones_initializer(),
                        beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                        gamma_constraint=None, training=False, trainable=True, name=None,
                        reuse=None, renorm=False, renorm_clipping=None, renorm_momentum=0.99,
                        fused=None, virtual_batch_size=None, adjustment=None):
    """Batch normalization layer, as ``tf.compat.v1.layers.batch_normalization`` builds it.

    A 4-D (5-D) input normalized over axis 1 or 3 (4) takes the fused path
    (``FusedBatchNormV3``, and when training, ``AssignMovingAvg`` updates
    ``moving -= (moving - batch_stat) * (1 - momentum)`` with the Bessel-corrected batch
    variance); other inputs, or ``fused=False``, the moments path (``moments/`` +
    ``batchnorm/``). The updates are added to UPDATE_OPS: run them, e.g.
    ``with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS))`` around the
    train op.

    Args:
        inputs: A Tensor whose ``axis`` dimension is known.
        axis: The channel axis (int or list), default -1.
        momentum, epsilon: The moving averages' momentum and the variance epsilon.
        center, scale: Use ``beta`` / ``gamma`` variables (else constants 0 / 1).
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer: The initializers (zeros / ones by default).
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: As ``dense``.
        training: Python bool, scalar bool Tensor (v1 ``cond``s choosing the batch or the moving
            statistics, and the update's momentum), or None (``keras_learning_phase``).
        trainable: Add ``gamma``/``beta`` to TRAINABLE_VARIABLES.
        name: The layer's scope (default ``batch_normalization``, made unique).
        reuse: Reuse the variables of a layer of the same ``name``.
        fused: None/True: fused when possible; False: the moments path.
        renorm, renorm_clipping, renorm_momentum, virtual_batch_size, adjustment: Not supported
            (NotImplementedError when set).

    Returns:
        The normalized Tensor, shaped like ``inputs``.
    """
    del renorm_momentum
    if renorm or renorm_clipping is not None or virtual_batch_size is not None or \
            adjustment is not None:
        raise NotImplementedError("gm.layers.batch_normalization does not support renorm, "
                                  "virtual_batch_size or adjustment")
    layer = _BatchNormalization(axis, momentum, epsilon, center, scale, beta_initializer,
                                gamma_initializer, moving_mean_initializer,
                                moving_variance_initializer, beta_regularizer, gamma_regularizer,
                                beta_constraint, gamma_constraint, fused, trainable=trainable,
                                name=name, reuse=reuse)
    return layer(inputs, training=training)
