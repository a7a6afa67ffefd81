"""``gm.nn.rnn_cell``: TF 1.x's RNN cells (``tf.compat.v1.nn.rnn_cell``).

``BasicRNNCell``, ``BasicLSTMCell``, ``LSTMCell`` (peepholes, cell clipping, projection),
``GRUCell`` and ``MultiRNNCell`` build the ops TF's legacy cells build, with TF's variable
names: a cell's variables live in the variable scope it is first called in plus its snake-case
class name (``rnn/lstm_cell/kernel``, ``rnn/lstm_cell/bias``; ``.../gates/kernel`` and
``.../candidate/kernel`` for a GRU; ``rnn/multi_rnn_cell/cell_0/lstm_cell/kernel`` in a
stack), and its ops are named in the name scope of that first call (``rnn/while/lstm_cell/``
inside ``dynamic_rnn``). Calling a cell again reuses its variables.
"""

from __future__ import annotations

import collections
import re

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.framework.tensor_shape import TensorShape
from gmeta.ops import array_ops, constant_op, init_ops, math_ops, nn_ops
from gmeta.ops import variable_scope as vs
from gmeta.ops._nest import flatten as _flatten
from gmeta.ops._nest import pack_sequence_as as _pack

__all__ = ["RNNCell", "LayerRNNCell", "BasicRNNCell", "BasicLSTMCell", "LSTMCell", "GRUCell",
           "MultiRNNCell", "LSTMStateTuple"]

_BIAS_VARIABLE_NAME = "bias"
_WEIGHTS_VARIABLE_NAME = "kernel"


def _snake_case(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()
    return s if s[0] != "_" else "private" + s




def _map(fn, structure):
    return _pack(structure, [fn(x) for x in _flatten(structure)])


def _shape_part(part, what):
    """``(a 1-D int32 shape tensor or None, the static dims or None)`` of one side of
    ``_concat``: a tensor (scalar or vector) or something TensorShape takes."""
    if isinstance(part, ops_lib.Tensor):
        from gmeta.framework import shape_inference

        value = shape_inference.constant_value(part)
        static = None if value is None else value.reshape(-1).tolist()
        if part.shape.ndims == 0:
            part = array_ops.expand_dims(part, 0)
        elif part.shape.ndims != 1:
            raise ValueError(f"{what} tensor must be either a scalar or vector, but received "
                             f"tensor: {part}")
        return part, static
    shape = TensorShape(part)
    static = shape.as_list() if shape.ndims is not None else None
    tensor = constant_op.constant(shape.as_list(), dtype=dtypes.int32) \
        if shape.is_fully_defined() else None
    return tensor, static


def _input_depth(input_shape) -> int:
    """The last dimension of a cell's input, which its weights' shape needs."""
    depth = input_shape.as_list()[-1]
    if depth is None:
        raise ValueError(f"Expected inputs.shape[-1] to be known, received shape: {input_shape}")
    return depth


def _concat(prefix, suffix, static=False):
    """TF's ``rnn_cell_impl._concat``: a size prefix (batch) and suffix as a shape tensor (or a
    list with None for unknown dims when ``static``)."""
    p, p_static = _shape_part(prefix, "Prefix")
    s, s_static = _shape_part(suffix, "suffix")
    if static:
        shape = TensorShape(p_static).concatenate(s_static)
        return shape.as_list() if shape.ndims is not None else None
    if p is None or s is None:
        raise ValueError(f"Prefix or suffix can't be None. Received prefix = {prefix} and "
                         f"suffix = {suffix}")
    return array_ops.concat((p, s), 0)


def _zero_state_tensors(state_size, batch_size, dtype):
    def get_state_shape(s):
        c = _concat(batch_size, s)
        size = array_ops.zeros(c, dtype=dtype)
        size.set_shape(_concat(batch_size, s, static=True))
        return size

    return _map(get_state_shape, state_size)


def _check_supported_dtypes(dtype):
    if dtype is None:
        return
    dtype = dtypes.as_dtype(dtype)
    if not (dtype.is_floating or dtype.is_complex):
        raise ValueError(f"RNN cell only supports floating point inputs, but received dtype: "
                         f"{dtype}")


def _check_rnn_cell_input_dtypes(inputs):
    for t in _flatten(inputs):
        _check_supported_dtypes(t.dtype.base_dtype)


_LSTMStateTupleBase = collections.namedtuple("LSTMStateTuple", ("c", "h"))


def _affine(inputs, state, kernel, bias):
    """``[inputs, state] @ kernel + bias``: the ConcatV2 / MatMul / BiasAdd of every cell."""
    return nn_ops.bias_add(math_ops.matmul(array_ops.concat([inputs, state], 1), kernel), bias)


class LSTMStateTuple(_LSTMStateTupleBase):
    """``(c, h)``: an LSTM's cell state and output."""

    __slots__ = ()

    @property
    def dtype(self):
        c, h = self
        if c.dtype != h.dtype:
            raise TypeError(f"Inconsistent dtypes for internal state: {c.dtype} vs {h.dtype}")
        return c.dtype


class RNNCell:
    """An RNN cell: ``(output, new_state) = cell(inputs, state)`` (TF 1.x's ``RNNCell``)."""

    def __init__(self, trainable=True, name=None, dtype=None, _reuse=None, **kwargs):
        if kwargs:
            raise TypeError(f"unexpected keyword arguments: {sorted(kwargs)}")
        self.trainable = trainable
        self._base_name = name or _snake_case(type(self).__name__)
        self._name = self._base_name
        self._reuse = _reuse
        self._dtype = None if dtype is None else dtypes.as_dtype(dtype).base_dtype
        self._scope = None
        self._current_scope = None
        self._rnncell_scope = None
        self.built = False
        self._trainable_weights: list = []
        self._non_trainable_weights: list = []

    # -- properties -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def dtype(self):
        return self._dtype

    @property
    def state_size(self):
        raise NotImplementedError("Abstract method")

    @property
    def output_size(self):
        raise NotImplementedError("Abstract method")

    @property
    def trainable_weights(self) -> list:
        return list(self._trainable_weights) if self.trainable else []

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            return list(self._trainable_weights) + list(self._non_trainable_weights)
        return list(self._non_trainable_weights)

    @property
    def weights(self) -> list:
        return self.trainable_weights + self.non_trainable_weights

    variables = weights
    trainable_variables = trainable_weights

    # -- calling --------------------------------------------------------------------------------
    def __call__(self, inputs, state, scope=None):
        if scope is not None:
            with vs.variable_scope(scope) as captured:
                return self._layer_call(inputs, state, scope=captured)
        if self._rnncell_scope is None:
            self._rnncell_scope = vs.variable_scope(vs.get_variable_scope())
        with self._rnncell_scope:
            return self._layer_call(inputs, state)

    def _set_scope(self, scope=None):
        if self._scope is None:
            if self._reuse:
                with vs.variable_scope(scope if scope is not None else self._base_name) as s:
                    self._scope = s
            else:
                with vs.variable_scope(scope, default_name=self._base_name) as s:
                    self._scope = s

    def _layer_call(self, inputs, state, scope=None):
        """TF's legacy ``tf.layers`` ``Layer.__call__``: the cell's variable scope (made on the
        first call), its name scope, ``build`` once, then ``call``."""
        self._set_scope(scope)
        reuse = True if self.built else self._reuse
        with vs.variable_scope(self._scope, reuse=reuse, auxiliary_name_scope=False) as s:
            self._current_scope = s
            g = ops_lib.get_default_graph()
            with g.name_scope(s.original_name_scope):
                if not self.built:
                    first = _flatten(inputs)[0]
                    first = ops_lib.convert_to_tensor(first)
                    if self._dtype is None:
                        self._dtype = first.dtype.base_dtype
                    self.build(first.shape)
                    self.built = True
                return self.call(inputs, state)

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, state):
        raise NotImplementedError("Abstract method")

    def add_weight(self, name, shape, dtype=None, initializer=None, trainable=True,
                   partitioner=None):
        """A variable of this cell (``get_variable`` in the cell's variable scope)."""
        var = vs.get_variable(name, shape=shape, dtype=dtype or self._dtype or dtypes.float32,
                              initializer=initializer, trainable=trainable,
                              partitioner=partitioner)
        target = self._trainable_weights if trainable else self._non_trainable_weights
        if all(var is not v for v in target):
            target.append(var)
        return var

    add_variable = add_weight

    # -- states ---------------------------------------------------------------------------------
    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        if inputs is not None:
            inputs = ops_lib.convert_to_tensor(inputs, name="inputs")
            batch_size = inputs.shape.as_list()[0] if inputs.shape.ndims else None
            if batch_size is None:
                batch_size = array_ops.shape(inputs)[0]
            dtype = inputs.dtype.base_dtype
        if batch_size is None or dtype is None:
            raise ValueError(f"batch_size and dtype cannot be None while constructing initial "
                             f"state: batch_size={batch_size}, dtype={dtype}")
        return self.zero_state(batch_size, dtype)

    def zero_state(self, batch_size, dtype):
        """Zero-filled state tensor(s) ``[batch_size, s]`` for each ``s`` of ``state_size``."""
        with ops_lib.name_scope_v1(type(self).__name__ + "ZeroState"):
            return _zero_state_tensors(self.state_size, batch_size, dtypes.as_dtype(dtype))


class LayerRNNCell(RNNCell):
    """A cell that builds its variables in ``build`` (TF's ``LayerRNNCell``)."""

    def __call__(self, inputs, state, scope=None):
        return self._layer_call(inputs, state, scope=scope)


def _activation(activation):
    if activation is None:
        return math_ops.tanh
    if isinstance(activation, str):
        try:
            return {"tanh": math_ops.tanh, "sigmoid": math_ops.sigmoid, "relu": nn_ops.relu,
                    "linear": lambda x: x}[activation]
        except KeyError:
            raise ValueError(f"Unknown activation {activation!r}") from None
    return activation


def _zeros_initializer(dtype):
    return init_ops.zeros_initializer(dtype=dtype) if dtype is not None \
        else init_ops.zeros_initializer()


class BasicRNNCell(LayerRNNCell):
    """``output = new_state = activation(W [inputs, state] + b)``."""

    def __init__(self, num_units, activation=None, reuse=None, name=None, dtype=None, **kwargs):
        super().__init__(_reuse=reuse, name=name, dtype=dtype, **kwargs)
        _check_supported_dtypes(self.dtype)
        self._num_units = num_units
        self._activation = _activation(activation)

    @property
    def state_size(self):
        return self._num_units

    @property
    def output_size(self):
        return self._num_units

    def build(self, input_shape):
        depth = _input_depth(input_shape)
        self._kernel = self.add_weight(_WEIGHTS_VARIABLE_NAME,
                                       shape=[depth + self._num_units, self._num_units])
        self._bias = self.add_weight(_BIAS_VARIABLE_NAME, shape=[self._num_units],
                                     initializer=_zeros_initializer(self.dtype))
        self.built = True

    def call(self, inputs, state):
        _check_rnn_cell_input_dtypes([inputs, state])
        output = self._activation(_affine(inputs, state, self._kernel, self._bias))
        return output, output


class GRUCell(LayerRNNCell):
    """Gated recurrent unit (Cho et al., 2014), TF 1.x's ``GRUCell``."""

    def __init__(self, num_units, activation=None, reuse=None, kernel_initializer=None,
                 bias_initializer=None, name=None, dtype=None, **kwargs):
        super().__init__(_reuse=reuse, name=name, dtype=dtype, **kwargs)
        _check_supported_dtypes(self.dtype)
        self._num_units = num_units
        self._activation = _activation(activation)
        self._kernel_initializer = kernel_initializer
        self._bias_initializer = bias_initializer

    @property
    def state_size(self):
        return self._num_units

    @property
    def output_size(self):
        return self._num_units

    def build(self, input_shape):
        depth = _input_depth(input_shape)
        n = self._num_units
        self._gate_kernel = self.add_weight(f"gates/{_WEIGHTS_VARIABLE_NAME}",
                                            shape=[depth + n, 2 * n],
                                            initializer=self._kernel_initializer)
        self._gate_bias = self.add_weight(
            f"gates/{_BIAS_VARIABLE_NAME}", shape=[2 * n],
            initializer=self._bias_initializer if self._bias_initializer is not None
            else init_ops.constant_initializer(1.0, dtype=self.dtype))
        self._candidate_kernel = self.add_weight(f"candidate/{_WEIGHTS_VARIABLE_NAME}",
                                                 shape=[depth + n, n],
                                                 initializer=self._kernel_initializer)
        self._candidate_bias = self.add_weight(
            f"candidate/{_BIAS_VARIABLE_NAME}", shape=[n],
            initializer=self._bias_initializer if self._bias_initializer is not None
            else _zeros_initializer(self.dtype))
        self.built = True

    def call(self, inputs, state):
        _check_rnn_cell_input_dtypes([inputs, state])
        value = math_ops.sigmoid(_affine(inputs, state, self._gate_kernel, self._gate_bias))
        r, u = array_ops.split(value=value, num_or_size_splits=2, axis=1)
        r_state = r * state
        c = self._activation(_affine(inputs, r_state, self._candidate_kernel,
                                     self._candidate_bias))
        new_h = u * state + (1 - u) * c
        return new_h, new_h


class BasicLSTMCell(LayerRNNCell):
    """The basic LSTM cell (no peepholes, clipping or projection), TF 1.x's
    ``BasicLSTMCell``."""

    def __init__(self, num_units, forget_bias=1.0, state_is_tuple=True, activation=None,
                 reuse=None, name=None, dtype=None, **kwargs):
        super().__init__(_reuse=reuse, name=name, dtype=dtype, **kwargs)
        _check_supported_dtypes(self.dtype)
        self._num_units = num_units
        self._forget_bias = forget_bias
        self._state_is_tuple = state_is_tuple
        self._activation = _activation(activation)

    @property
    def state_size(self):
        return LSTMStateTuple(self._num_units, self._num_units) if self._state_is_tuple \
            else 2 * self._num_units

    @property
    def output_size(self):
        return self._num_units

    def build(self, input_shape):
        depth = _input_depth(input_shape)
        self._kernel = self.add_weight(_WEIGHTS_VARIABLE_NAME,
                                       shape=[depth + self._num_units, 4 * self._num_units])
        self._bias = self.add_weight(_BIAS_VARIABLE_NAME, shape=[4 * self._num_units],
                                     initializer=_zeros_initializer(self.dtype))
        self.built = True

    def call(self, inputs, state):
        _check_rnn_cell_input_dtypes([inputs, state])
        sigmoid = math_ops.sigmoid
        one = constant_op.constant(1, dtype=dtypes.int32)
        if self._state_is_tuple:
            c, h = state
        else:
            c, h = array_ops.split(value=state, num_or_size_splits=2, axis=one)
        gate_inputs = _affine(inputs, h, self._kernel, self._bias)
        i, j, f, o = array_ops.split(value=gate_inputs, num_or_size_splits=4, axis=one)
        forget_bias_tensor = constant_op.constant(self._forget_bias, dtype=f.dtype.base_dtype)
        add, multiply = math_ops.add, math_ops.multiply
        new_c = add(multiply(c, sigmoid(add(f, forget_bias_tensor))),
                    multiply(sigmoid(i), self._activation(j)))
        new_h = multiply(self._activation(new_c), sigmoid(o))
        if self._state_is_tuple:
            new_state = LSTMStateTuple(new_c, new_h)
        else:
            new_state = array_ops.concat([new_c, new_h], 1)
        return new_h, new_state


class LSTMCell(LayerRNNCell):
    """The LSTM cell with optional peepholes, cell clipping and projection (TF 1.x's
    ``LSTMCell``)."""

    def __init__(self, num_units, use_peepholes=False, cell_clip=None, initializer=None,
                 num_proj=None, proj_clip=None, num_unit_shards=None, num_proj_shards=None,
                 forget_bias=1.0, state_is_tuple=True, activation=None, reuse=None, name=None,
                 dtype=None, **kwargs):
        super().__init__(_reuse=reuse, name=name, dtype=dtype, **kwargs)
        _check_supported_dtypes(self.dtype)
        if num_unit_shards is not None or num_proj_shards is not None:
            raise NotImplementedError("num_unit_shards / num_proj_shards (partitioned "
                                      "variables) are not supported by gmeta")
        self._num_units = num_units
        self._use_peepholes = use_peepholes
        self._cell_clip = cell_clip
        self._initializer = initializer
        self._num_proj = num_proj
        self._proj_clip = proj_clip
        self._forget_bias = forget_bias
        self._state_is_tuple = state_is_tuple
        self._activation = _activation(activation)
        if num_proj:
            self._state_size = LSTMStateTuple(num_units, num_proj) if state_is_tuple \
                else num_units + num_proj
            self._output_size = num_proj
        else:
            self._state_size = LSTMStateTuple(num_units, num_units) if state_is_tuple \
                else 2 * num_units
            self._output_size = num_units

    @property
    def state_size(self):
        return self._state_size

    @property
    def output_size(self):
        return self._output_size

    def build(self, input_shape):
        depth = _input_depth(input_shape)
        h_depth = self._num_units if self._num_proj is None else self._num_proj
        self._kernel = self.add_weight(_WEIGHTS_VARIABLE_NAME,
                                       shape=[depth + h_depth, 4 * self._num_units],
                                       initializer=self._initializer)
        self._bias = self.add_weight(_BIAS_VARIABLE_NAME, shape=[4 * self._num_units],
                                     initializer=_zeros_initializer(self.dtype))
        if self._use_peepholes:
            self._w_f_diag = self.add_weight("w_f_diag", shape=[self._num_units],
                                             initializer=self._initializer)
            self._w_i_diag = self.add_weight("w_i_diag", shape=[self._num_units],
                                             initializer=self._initializer)
            self._w_o_diag = self.add_weight("w_o_diag", shape=[self._num_units],
                                             initializer=self._initializer)
        if self._num_proj is not None:
            self._proj_kernel = self.add_weight(f"projection/{_WEIGHTS_VARIABLE_NAME}",
                                                shape=[self._num_units, self._num_proj],
                                                initializer=self._initializer)
        self.built = True

    def call(self, inputs, state):
        _check_rnn_cell_input_dtypes([inputs, state])
        num_proj = self._num_units if self._num_proj is None else self._num_proj
        sigmoid = math_ops.sigmoid
        if self._state_is_tuple:
            c_prev, m_prev = state
        else:
            c_prev = array_ops.slice(state, [0, 0], [-1, self._num_units])
            m_prev = array_ops.slice(state, [0, self._num_units], [-1, num_proj])
        if inputs.shape.ndims != 2 or inputs.shape.as_list()[1] is None:
            raise ValueError(f"Could not infer input size from inputs.get_shape()[-1]."
                             f"Received input shape: {inputs.shape}")
        lstm_matrix = _affine(inputs, m_prev, self._kernel, self._bias)
        i, j, f, o = array_ops.split(value=lstm_matrix, num_or_size_splits=4, axis=1)
        if self._use_peepholes:
            c = sigmoid(f + self._forget_bias + self._w_f_diag * c_prev) * c_prev + \
                sigmoid(i + self._w_i_diag * c_prev) * self._activation(j)
        else:
            c = sigmoid(f + self._forget_bias) * c_prev + sigmoid(i) * self._activation(j)
        if self._cell_clip is not None:
            c = math_ops.clip_by_value(c, -self._cell_clip, self._cell_clip)
        if self._use_peepholes:
            m = sigmoid(o + self._w_o_diag * c) * self._activation(c)
        else:
            m = sigmoid(o) * self._activation(c)
        if self._num_proj is not None:
            m = math_ops.matmul(m, self._proj_kernel)
            if self._proj_clip is not None:
                m = math_ops.clip_by_value(m, -self._proj_clip, self._proj_clip)
        new_state = LSTMStateTuple(c, m) if self._state_is_tuple \
            else array_ops.concat([c, m], 1)
        return m, new_state


class MultiRNNCell(RNNCell):
    """Cells stacked in order: each one's output is the next one's input."""

    def __init__(self, cells, state_is_tuple=True):
        super().__init__()
        if not cells:
            raise ValueError("Must specify at least one cell for MultiRNNCell.")
        if not isinstance(cells, (list, tuple)):
            raise TypeError(f"cells must be a list or tuple, but received: {cells}.")
        self._cells = list(cells)
        self._state_is_tuple = state_is_tuple
        if not state_is_tuple and any(isinstance(c.state_size, (list, tuple))
                                      for c in self._cells):
            raise ValueError("Some cells return tuples of states, but the flag state_is_tuple "
                             "is not set. State sizes are: "
                             f"{[c.state_size for c in self._cells]}")

    @property
    def state_size(self):
        if self._state_is_tuple:
            return tuple(cell.state_size for cell in self._cells)
        return sum(cell.state_size for cell in self._cells)

    @property
    def output_size(self):
        return self._cells[-1].output_size

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        return [w for cell in self._cells for w in cell.trainable_weights]

    @property
    def non_trainable_weights(self) -> list:
        out = [w for cell in self._cells for w in cell.non_trainable_weights]
        if not self.trainable:
            return [w for cell in self._cells for w in cell.trainable_weights] + out
        return out

    def zero_state(self, batch_size, dtype):
        with ops_lib.name_scope_v1(type(self).__name__ + "ZeroState"):
            if self._state_is_tuple:
                return tuple(cell.zero_state(batch_size, dtype) for cell in self._cells)
            return _zero_state_tensors(self.state_size, batch_size, dtypes.as_dtype(dtype))

    def call(self, inputs, state):
        cur_state_pos = 0
        cur_inp = inputs
        new_states = []
        for i, cell in enumerate(self._cells):
            with vs.variable_scope(f"cell_{i}"):
                if self._state_is_tuple:
                    if not isinstance(state, (list, tuple)):
                        raise ValueError(f"Expected state to be a tuple of length "
                                         f"{len(self.state_size)}, but received: {state}")
                    cur_state = state[i]
                else:
                    cur_state = array_ops.slice(state, [0, cur_state_pos],
                                                [-1, cell.state_size])
                    cur_state_pos += cell.state_size
                cur_inp, new_state = cell(cur_inp, cur_state)
                new_states.append(new_state)
        new_states = tuple(new_states) if self._state_is_tuple \
            else array_ops.concat(new_states, 1)
        return cur_inp, new_states
