"""``gm.nn.dynamic_rnn``: an RNN cell unrolled by a v1 ``while_loop`` (TF 1.x's graph).

As TF does: the inputs are transposed to time-major, unstacked into a ``TensorArray``, each
iteration reads step ``t``, calls the cell and writes its output to another TensorArray, which is
stacked (and transposed back) after the loop. ``maximum_iterations`` is the number of time steps,
so the loop carries TF's extra iteration counter; with ``sequence_length`` finished sequences
output zeros and keep their state (``Select``), as in TF's ``_rnn_step`` without conditionals.
"""

from __future__ import annotations

from gmeta import dtypes
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework.tensor_shape import TensorShape
from gmeta.ops import array_ops, constant_op, math_ops
from gmeta.ops import variable_scope as vs
from gmeta.ops import while_v1
from gmeta.ops._nest import flatten as _flatten
from gmeta.ops._nest import pack_sequence_as as _pack
from gmeta.ops.rnn_cell_impl import _concat
from gmeta.ops.tensor_array_ops import TensorArray

__all__ = ["dynamic_rnn"]


def _transpose_batch_time(x):
    """``x`` with its first two axes swapped (static shape kept)."""
    static = x.shape
    if static.ndims is not None and static.ndims < 2:
        return x
    x_rank = array_ops.rank(x)
    x_t = array_ops.transpose(x, array_ops.concat(([1, 0], math_ops.range(2, x_rank)), axis=0))
    if static.ndims is not None:
        dims = static.as_list()
        x_t.set_shape(TensorShape([dims[1], dims[0]] + dims[2:]))
    return x_t


def _best_effort_input_batch_size(flat_input):
    for input_ in flat_input:
        shape = input_.shape
        if shape.ndims is None:
            continue
        if shape.ndims < 2:
            raise ValueError(f"Input tensor should have rank >= 2. Received input={input_} of "
                             f"rank {shape.ndims}")
        batch_size = shape.as_list()[1]
        if batch_size is not None:
            return batch_size
    return array_ops.shape(flat_input[0])[1]


def _infer_state_dtype(explicit_dtype, state):
    if explicit_dtype is not None:
        return dtypes.as_dtype(explicit_dtype)
    flat = _flatten(state)
    if not flat:
        raise ValueError(f"Unable to infer dtype from argument state={state}.")
    first = flat[0].dtype.base_dtype
    if any(x.dtype.base_dtype != first for x in flat):
        raise ValueError(f"Argument state={state} has tensors of different inferred dtypes.")
    return first


def _should_cache() -> bool:
    """No caching device inside a loop (TF: reads must see the weights of each iteration)."""
    ctx = ops_lib.get_default_graph()._get_control_flow_context()
    return while_v1.while_of(ctx) is None


def _rnn_step(time, sequence_length, zero_output, state, call_cell):
    """TF's ``_rnn_step`` with ``skip_conditionals=True``: past a sequence's length, its output
    is zero and its state is carried through."""
    flat_state = _flatten(state)
    flat_zero_output = _flatten(zero_output)
    copy_cond = time >= sequence_length
    g = ops_lib.get_default_graph()

    def copy_one_through(output, new_output):
        if isinstance(output, TensorArray) or output.shape.ndims == 0:
            return new_output
        with g.colocate_with(new_output.op):
            return array_ops.where(copy_cond, output, new_output)

    new_output, new_state = call_cell()
    flat_new_output = [copy_one_through(z, o) for z, o in
                       zip(flat_zero_output, _flatten(new_output))]
    flat_new_state = [copy_one_through(s, n) for s, n in zip(flat_state, _flatten(new_state))]
    for out, zero in zip(flat_new_output, flat_zero_output):
        out.set_shape(zero.shape)
    for sub, old in zip(flat_new_state, flat_state):
        if not isinstance(sub, TensorArray):
            sub.set_shape(old.shape)
    return _pack(zero_output, flat_new_output), _pack(state, flat_new_state)


def _dynamic_rnn_loop(cell, inputs, initial_state, parallel_iterations, swap_memory,
                      sequence_length=None, dtype=None):
    state = initial_state
    flat_input = _flatten(inputs)
    flat_output_size = _flatten(cell.output_size)
    input_shape = array_ops.shape(flat_input[0])
    time_steps = input_shape[0]
    batch_size = _best_effort_input_batch_size(flat_input)
    inputs_got_shape = tuple(x.shape for x in flat_input)
    for s in inputs_got_shape:
        if s.ndims is None or s.ndims < 3:
            raise ValueError(f"Shape {s} must have rank at least 3")
    const_time_steps, const_batch_size = inputs_got_shape[0].as_list()[:2]
    for i, shape in enumerate(inputs_got_shape):
        if not TensorShape(shape.as_list()[2:]).is_fully_defined():
            raise ValueError("Input size (depth of inputs) must be accessible via shape "
                             f"inference, but saw value None for input={flat_input[i]}.")
        if shape.as_list()[0] != const_time_steps:
            raise ValueError("Time steps is not the same for all the elements in the input in a "
                             f"batch. Received time steps={shape.as_list()[0]} for "
                             f"input={flat_input[i]}.")
        if shape.as_list()[1] != const_batch_size:
            raise ValueError("Batch_size is not the same for all the elements in the input. "
                             f"Received batch size={shape.as_list()[1]} for "
                             f"input={flat_input[i]}.")

    state_dtype = _infer_state_dtype(dtype, state)

    def create_zero_arrays(size):
        return array_ops.zeros(_concat(batch_size, size), state_dtype)

    flat_zero_output = tuple(create_zero_arrays(s) for s in flat_output_size)
    zero_output = _pack(cell.output_size, flat_zero_output)

    if sequence_length is not None:
        min_sequence_length = math_ops.reduce_min(sequence_length)  # noqa: F841 - TF's node
        max_sequence_length = math_ops.reduce_max(sequence_length)
    else:
        max_sequence_length = time_steps

    time = constant_op.constant(0, dtype=dtypes.int32, name="time")
    g = ops_lib.get_default_graph()
    with g.name_scope("dynamic_rnn") as scope:
        base_name = scope

    def create_ta(name, element_shape, dtype):
        return TensorArray(dtype=dtype, size=time_steps, element_shape=element_shape,
                           tensor_array_name=base_name + name)

    output_ta = tuple(
        create_ta(f"output_{i}",
                  element_shape=TensorShape([const_batch_size]).concatenate(
                      _shape_of_size(out_size)),
                  dtype=state_dtype)
        for i, out_size in enumerate(flat_output_size))
    input_ta = tuple(create_ta(f"input_{i}", element_shape=TensorShape(x.shape.as_list()[1:]),
                               dtype=x.dtype.base_dtype)
                     for i, x in enumerate(flat_input))
    input_ta = tuple(ta.unstack(x) for ta, x in zip(input_ta, flat_input))

    def time_step(time, output_ta_t, state):
        input_t = tuple(ta.read(time) for ta in input_ta)
        for input_, shape in zip(input_t, inputs_got_shape):
            input_.set_shape(TensorShape(shape.as_list()[1:]))
        input_t = _pack(inputs, list(input_t))

        def call_cell():
            return cell(input_t, state)

        if sequence_length is not None:
            output, new_state = _rnn_step(time, sequence_length, zero_output, state, call_cell)
        else:
            output, new_state = call_cell()
        output = _flatten(output)
        output_ta_t = tuple(ta.write(time, out) for ta, out in zip(output_ta_t, output))
        return (time + 1, output_ta_t, new_state)

    loop_bound = math_ops.minimum(time_steps, math_ops.maximum(1, max_sequence_length))
    _, output_final_ta, final_state = while_v1.while_loop(
        cond=lambda time, *_: time < loop_bound, body=time_step,
        loop_vars=(time, output_ta, state), parallel_iterations=parallel_iterations,
        maximum_iterations=time_steps, swap_memory=swap_memory)

    final_outputs = tuple(ta.stack() for ta in output_final_ta)
    for output, output_size in zip(final_outputs, flat_output_size):
        output.set_shape(_concat([const_time_steps, const_batch_size], output_size,
                                 static=True))
    final_outputs = _pack(cell.output_size, list(final_outputs))
    return final_outputs, final_state


def _shape_of_size(size):
    if isinstance(size, ops_lib.Tensor):
        from gmeta.framework import shape_inference

        v = shape_inference.constant_value(size)
        return TensorShape(None if v is None else v.reshape(-1).tolist())
    return TensorShape(size)


def dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None, dtype=None,
                parallel_iterations=None, swap_memory=False, time_major=False, scope=None):
    """Runs ``cell`` over the time axis of ``inputs`` (TF 1.x ``tf.nn.dynamic_rnn``).

    Args:
        cell: An RNN cell (``gm.nn.rnn_cell.*``).
        inputs: ``[batch, time, ...]`` (``[time, batch, ...]`` with ``time_major``), or a nested
            tuple of such tensors.
        sequence_length: Optional int32 ``[batch]``: past it, outputs are zero and the state is
            carried through.
        initial_state: The initial state (default: the cell's zero state; needs ``dtype``).
        dtype: The state's dtype when ``initial_state`` is not given.
        parallel_iterations: Recorded in the loop (default 32).
        swap_memory: Recorded for the gradient stacks.
        time_major: Whether ``inputs`` and outputs are time-major.
        scope: Variable scope (default ``rnn``).

    Returns:
        ``(outputs, final_state)``.

    Raises:
        ValueError: no ``initial_state`` and no ``dtype``; inputs whose depth is unknown or
            whose time/batch sizes disagree.
    """
    with vs.variable_scope(scope or "rnn") as varscope:
        if _should_cache() and varscope.caching_device is None:
            varscope.set_caching_device(lambda op: op.device)
        flat_input = _flatten(inputs)
        if not time_major:
            flat_input = [ops_lib.convert_to_tensor(x) for x in flat_input]
            flat_input = tuple(_transpose_batch_time(x) for x in flat_input)
        parallel_iterations = parallel_iterations or 32
        if sequence_length is not None:
            sequence_length = math_ops.cast(sequence_length, dtypes.int32)
            if sequence_length.shape.ndims not in (None, 1):
                raise ValueError("Argument sequence_length must be a vector of length "
                                 f"batch_size. Received sequence_length={sequence_length} of "
                                 f"shape: {sequence_length.shape}")
            sequence_length = array_ops.identity(sequence_length, name="sequence_length")
        batch_size = _best_effort_input_batch_size(flat_input)
        if initial_state is not None:
            state = initial_state
        else:
            if not dtype:
                raise ValueError("If no initial_state is provided, argument `dtype` must be "
                                 "specified")
            state = cell.get_initial_state(inputs=None, batch_size=batch_size, dtype=dtype)
        if sequence_length is not None:
            g = ops_lib.get_default_graph()
            with g.control_dependencies([_assert_has_shape(sequence_length, [batch_size])]):
                sequence_length = array_ops.identity(sequence_length, name="CheckSeqLen")
        inputs = _pack(inputs, list(flat_input))
        outputs, final_state = _dynamic_rnn_loop(cell, inputs, state, parallel_iterations,
                                                 swap_memory, sequence_length=sequence_length,
                                                 dtype=dtype)
        if not time_major:
            outputs = _pack(outputs, [_transpose_batch_time(x) for x in _flatten(outputs)])
        return outputs, final_state


def _assert_has_shape(x, shape):
    """TF's ``Assert(reduce_all(shape(x) == shape), [...])`` (string and int32 data: no cond)."""
    x_shape = array_ops.shape(x)
    packed_shape = array_ops.stack(shape)
    cond = math_ops.reduce_all(math_ops.equal(x_shape, packed_shape))
    data = [f"Expected shape for Tensor {x.name} is ", packed_shape, " but saw shape: ", x_shape]
    with ops_lib.name_scope_v1(None, "Assert"):
        for d in data:  # TF's Assert converts the data once (these nodes stay unused)
            if isinstance(d, str):
                constant_op.constant(d)
        return op_def_library.apply_op("Assert", condition=cond, data=data, summarize=3,
                                       name="Assert")
