"""The loops ``gradients`` adds to v1 while loops (TF's ``WhileContext.AddForwardLoopCounter``,
``AddBackpropLoopCounter``, ``AddBackpropAccumulator`` and ``AddBackpropIndexedSlicesAccumulator``).

Each takes the WhileContext (``self``, as in TF) and builds TF's nodes: the forward iteration
counter ``f_count``, the gradient loop's countdown ``b_count`` (its pivot), and the ``b_acc``
loops summing the per-iteration gradients of loop invariants.
"""

from __future__ import annotations

from gmeta.ops.control_flow_util import (
    add_name, enter_context, exit_context, is_while_context, update_input,
)
from gmeta.ops.while_v1 import (  # noqa: A004 - TF's exit
    _enter, _next_iteration, exit, loop_cond, merge, switch,
)


def add_forward_loop_counter(self, outer_grad_state):
    from gmeta.ops import constant_op, math_ops

    n = constant_op.constant(0, name="f_count")
    if outer_grad_state is not None:
        outer_add_op = outer_grad_state.forward_index.op._inputs[0].op
        n.op._add_control_input(outer_add_op)
    self.Enter()
    add_name(self, n.name)
    enter_n = _enter(n, self.name, is_constant=False,
                     parallel_iterations=self.parallel_iterations, name="f_count")
    self.loop_enters.append(enter_n)
    merge_n = merge([enter_n, enter_n])[0]
    switch_n = switch(merge_n, self.pivot)
    index = math_ops.add(switch_n[1], 1)
    next_n = _next_iteration(index)
    update_input(merge_n.op, 1, next_n)
    total_iterations = exit(switch_n[0], name="f_count")
    self.loop_exits.append(total_iterations)
    self.exit_result([total_iterations])
    self.Exit()
    return total_iterations, next_n


def add_backprop_loop_counter(self, count, outer_grad_state):
    from gmeta.ops import constant_op, math_ops

    one = constant_op.constant(1, name="b_count")
    self.Enter()
    add_name(self, count.name)
    enter_count = _enter(count, self.name, is_constant=False,
                         parallel_iterations=self.parallel_iterations, name="b_count")
    self.loop_enters.append(enter_count)
    merge_count = merge([enter_count, enter_count])[0]
    self.pivot_for_pred = merge_count
    pred = math_ops.greater_equal(merge_count, one)
    self.pivot = loop_cond(pred, name="b_count")
    switch_count = switch(merge_count, self.pivot)
    index = math_ops.subtract(switch_count[1], one)
    self.pivot_for_body = index
    next_count = _next_iteration(index)
    update_input(merge_count.op, 1, next_count)
    final_zero = exit(switch_count[0], name="b_count")
    self.loop_exits.append(final_zero)
    if outer_grad_state is not None:
        outer_grad_state.grad_sync._add_control_input(final_zero.op)
    self.exit_result([final_zero])
    self.Exit()
    return next_count


def add_backprop_accumulator(self, op, grad):
    """Sums ``grad`` (an iteration's gradient of the loop invariant ``op``, an Enter) over
    the gradient loop's iterations."""
    from gmeta.ops import array_ops, constant_op, math_ops

    self.Exit()
    shape = grad.shape
    outer = self.outer
    if shape.is_fully_defined():
        enter_context(outer)
        acc = constant_op.constant(0, grad.dtype.base_dtype, shape=shape.as_list(),
                                   name="b_acc")
        exit_context(outer)
    else:
        value = op._inputs[0]
        if is_while_context(outer) and outer.grad_state is not None:
            forward_ctxt = self.grad_state.forward_context
            enter_context(forward_ctxt.outer)
            zeros_shape = array_ops._shape_internal(value, optimize=False)
            exit_context(forward_ctxt.outer)
            outer_grad_state = self.grad_state.outer_grad_state
            history_zeros_shape = outer_grad_state.add_forward_accumulator(zeros_shape)
            outer.Enter()
            real_shape = outer_grad_state.add_backprop_accumulated_value(
                history_zeros_shape, zeros_shape)
            acc = array_ops.zeros(real_shape, grad.dtype.base_dtype)
            outer.Exit()
        else:
            enter_context(outer)
            zeros_shape = array_ops._shape_internal(value, optimize=False)
            acc = array_ops.zeros(zeros_shape, grad.dtype.base_dtype)
            exit_context(outer)
    self.Enter()
    add_name(self, acc.name)
    enter_acc = _enter(acc, self.name, is_constant=False,
                       parallel_iterations=self.parallel_iterations, name="b_acc")
    self.loop_enters.append(enter_acc)
    merge_acc = merge([enter_acc, enter_acc], name="b_acc")[0]
    switch_acc_false, switch_acc_true = switch(merge_acc, self.pivot)
    add_acc = math_ops.add(switch_acc_true, grad)
    next_acc = _next_iteration(add_acc)
    update_input(merge_acc.op, 1, next_acc)
    result_acc = exit(switch_acc_false, name="b_acc")
    self.loop_exits.append(result_acc)
    self.exit_result([result_acc])
    return result_acc


def add_backprop_indexed_slices_accumulator(self, op, grad):
    """``add_backprop_accumulator`` for IndexedSlices gradients: concatenates the slices."""
    from gmeta.gradients._indexed_slices import IndexedSlices
    from gmeta.ops import array_ops, constant_op, math_ops

    values, indices, dense_shape = grad.values, grad.indices, grad.dense_shape
    self.Exit()
    outer = self.outer
    enter_context(outer)
    if values.shape.is_fully_defined():
        values_shape = [1] + values.shape.as_list()[1:]
        values_acc = constant_op.constant(0, values.dtype.base_dtype, shape=values_shape,
                                          name="b_acc")
    else:
        values_shape = array_ops._shape_internal(op._inputs[0], optimize=False)[1:]
        values_shape = array_ops.concat([[1], values_shape], 0)
        values_acc = array_ops.zeros(values_shape, dtype=values.dtype.base_dtype)
    indices_acc = constant_op.constant([0], indices.dtype.base_dtype)
    shape_acc = None
    if dense_shape is not None:
        if dense_shape.shape.is_fully_defined():
            shape_acc = constant_op.constant(0, dense_shape.dtype.base_dtype,
                                             shape=dense_shape.shape.as_list())
        else:
            shape_acc = array_ops.zeros_like(array_ops._shape_internal(
                op._inputs[0], optimize=False, out_type=dense_shape.dtype), optimize=False)
    exit_context(outer)
    self.Enter()
    add_name(self, values_acc.name)
    add_name(self, indices_acc.name)
    init_acc = [indices_acc, values_acc]
    if shape_acc is not None:
        add_name(self, shape_acc.name)
        init_acc.append(shape_acc)
    enter_acc = [_enter(x, self.name, is_constant=False,
                        parallel_iterations=self.parallel_iterations,
                        use_input_shape=False, name="b_acc") for x in init_acc]
    enter_acc[0].set_shape([None])
    if values_acc.shape.ndims is not None:
        enter_acc[1].set_shape([None] + values_acc.shape.as_list()[1:])
    self.loop_enters.extend(enter_acc)
    merge_acc = [merge([x, x], name="b_acc")[0] for x in enter_acc]
    switch_acc = [switch(x, self.pivot) for x in merge_acc]
    acc = [array_ops.concat([xa[1], xv], 0)
           for xa, xv in zip(switch_acc[:2], [indices, values])]
    if shape_acc is not None:
        acc.append(math_ops.maximum(dense_shape, switch_acc[2][1]))
    next_acc = [_next_iteration(x) for x in acc]
    for xm, xn in zip(merge_acc, next_acc):
        update_input(xm.op, 1, xn)
    exit_acc = [exit(x[0], name="b_acc") for x in switch_acc]
    self.loop_exits.extend(exit_acc)
    self.exit_result(exit_acc)
    return IndexedSlices(indices=exit_acc[0], values=exit_acc[1],
                         dense_shape=exit_acc[2] if shape_acc is not None else None)
