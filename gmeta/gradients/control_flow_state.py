"""The state of v1 while loops during ``gradients`` (TF's ``control_flow_state.py``).

For each forward loop between ``xs`` and ``ys``, a :class:`GradLoopState` builds the gradient
loop: a counter added to the forward loop (``f_count``) tells how many iterations ran, the
gradient loop runs that many times counting down (``b_count``), and every forward value the
gradient needs is saved per iteration on a stack (``StackV2`` ``f_acc``: ``StackPushV2`` in the
forward loop, ``StackPopV2`` in the gradient loop, kept in iteration order by control edges and
``ControlTrigger`` syncs). The node names, inputs and control edges are TensorFlow's.
"""

from __future__ import annotations

from gmeta import dtypes
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.ops import while_v1 as cf


def _stack_v2(max_size, elem_type, name):
    return op_def_library.apply_op("StackV2", max_size=max_size, elem_type=elem_type,
                                   stack_name="", name=name)


def _stack_push_v2(handle, elem, swap_memory):
    return op_def_library.apply_op("StackPushV2", handle=handle, elem=elem,
                                   swap_memory=swap_memory)


def _stack_pop_v2(handle, elem_type):
    return op_def_library.apply_op("StackPopV2", handle=handle, elem_type=elem_type)


class GradLoopState:
    """One forward loop and its gradient loop (TF's ``_GradLoopState``)."""

    def __init__(self, forward_ctxt, outer_grad_state):
        self.outer_grad_state = outer_grad_state
        self.forward_context = None
        self.forward_index = None
        self._forward_sync = None
        self.grad_context = None
        self.grad_index = None
        self._grad_sync = None
        self.history_map: dict = {}
        self.switch_map: dict = {}
        self.unused_exits: list = []
        self.deferred_exits: list = []
        self.forward_loop_exits = list(forward_ctxt.loop_exits)
        self.pending_exits_count = len(forward_ctxt.loop_exits)

        if outer_grad_state is not None:
            outer_forward_ctxt = outer_grad_state.forward_context
        else:
            outer_forward_ctxt = forward_ctxt.outer
        g = forward_ctxt._graph
        with g.as_default():
            cf.enter_context(outer_forward_ctxt)
            cnt, forward_index = forward_ctxt.add_forward_loop_counter(outer_grad_state)
            cf.exit_context(outer_forward_ctxt)
        self.forward_context = forward_ctxt
        self.forward_index = forward_index

        if outer_grad_state is not None:
            cf.add_name(outer_forward_ctxt, cnt.name)
            history_cnt = outer_grad_state.add_forward_accumulator(cnt)
            outer_grad_ctxt = outer_grad_state.grad_context
            outer_grad_ctxt.Enter()
            self.grad_context = self._new_grad_context(forward_ctxt)
            real_cnt = outer_grad_state.add_backprop_accumulated_value(history_cnt, cnt)
            self.grad_index = self.grad_context.add_backprop_loop_counter(
                real_cnt, outer_grad_state)
            outer_grad_ctxt.Exit()
        else:
            cf.enter_context(outer_forward_ctxt)
            self.grad_context = self._new_grad_context(forward_ctxt)
            self.grad_index = self.grad_context.add_backprop_loop_counter(cnt, outer_grad_state)
            cf.exit_context(outer_forward_ctxt)

    def _new_grad_context(self, forward_ctxt):
        return cf.WhileContext(maximum_iterations=forward_ctxt.maximum_iterations,
                               parallel_iterations=forward_ctxt.parallel_iterations,
                               back_prop=forward_ctxt.back_prop,
                               swap_memory=forward_ctxt.swap_memory, name=forward_ctxt.name,
                               grad_state=self)

    @property
    def forward_sync(self):
        """A ControlTrigger keeping the forward loop's stack pushes in iteration order."""
        if self._forward_sync is None:
            g = self.forward_index.graph
            with cf.no_control_dependencies(g):
                self._forward_sync = cf.control_trigger(name="f_sync")
            cf.set_context(self._forward_sync, self.forward_context)
            self.forward_index.op._add_control_input(self._forward_sync)
        return self._forward_sync

    @property
    def grad_sync(self):
        """A ControlTrigger keeping the gradient loop's stack pops in iteration order."""
        if self._grad_sync is None:
            g = self.grad_index.graph
            with cf.no_control_dependencies(g):
                self._grad_sync = cf.control_trigger(name="b_sync")
            cf.set_context(self._grad_sync, self.grad_context)
            self.grad_index.op._add_control_input(self._grad_sync)
        return self._grad_sync

    def add_forward_accumulator(self, value, dead_branch=False):
        """A stack in the forward loop holding ``value`` of every iteration (its push added)."""
        from gmeta.ops import constant_op

        g = self.forward_index.graph
        with g.as_default():
            curr_ctxt = g._get_control_flow_context()
            with cf.no_control_dependencies(g):
                cf.enter_context(curr_ctxt)
                with g.colocate_with(value.op):
                    max_size = constant_op.constant(-1, dtypes.int32)
                    acc = _stack_v2(max_size, value.dtype.base_dtype, name="f_acc")
                cf.exit_context(curr_ctxt)
                enter_acc = self.forward_context.add_value(acc)
                swap_enabled = self.forward_context.swap_memory
                value_ctxt = cf.get_output_context(value.op)
                if value_ctxt is self.forward_context:
                    self.forward_context.Enter()
                    push = _stack_push_v2(enter_acc, value, swap_enabled)
                    self.forward_context.Exit()
                    self.forward_index.op._add_control_input(push.op)
                else:
                    if not cf.is_cond_context(value_ctxt):
                        raise TypeError(f"value_ctxt is not a CondContext: {value_ctxt}")
                    if dead_branch:
                        cf.enter_context(value_ctxt.outer)
                        push = _stack_push_v2(enter_acc, value, swap_enabled)
                        cf.exit_context(value_ctxt.outer)
                        cf.set_context(push.op, value_ctxt)
                    else:
                        cf.enter_context(value_ctxt)
                        push = _stack_push_v2(enter_acc, value, swap_enabled)
                        cf.exit_context(value_ctxt)
                    self.forward_sync._add_control_input(push.op)
                add_op = self.forward_index.op._inputs[0].op
                push.op._add_control_input(add_op)
                return acc

    def add_backprop_accumulated_value(self, history_value, value, dead_branch=False):
        """The pop, in the gradient loop, of ``value``'s stack ``history_value``."""
        history_ctxt = cf.get_context(history_value.op)
        cond_ctxt = None
        value_ctxt = cf.get_context(value.op)
        while value_ctxt is not None and value_ctxt is not history_ctxt:
            if cf.is_cond_context(value_ctxt):
                cond_ctxt = value_ctxt
                break
            value_ctxt = value_ctxt.outer
        g = history_value.graph
        with cf.no_control_dependencies(g):
            self.grad_context.Enter()
            if cond_ctxt is not None:
                grad_state = self
                pred = None
                while pred is None and grad_state is not None:
                    pred = grad_state.history_map.get(cond_ctxt.pred.name)
                    grad_state = grad_state.outer_grad_state
                if pred is None:
                    pred = cond_ctxt.pred
                branch = (1 - cond_ctxt.branch) if dead_branch else cond_ctxt.branch
                history_value = cf.switch_ref_or_tensor(history_value, pred)[branch]
            pop = _stack_pop_v2(history_value, value.dtype.base_dtype)
            pop.set_shape(value.shape)
            self.grad_context.Exit()
        if self.grad_context.parallel_iterations > 1:
            self.grad_sync._add_control_input(pop.op)
        return pop

    def get_real_value(self, value):
        """``value`` (a forward-loop tensor) as the gradient loop gets it: from a stack, or
        entered directly when it is a loop invariant or a constant."""
        from gmeta.framework import shape_inference
        from gmeta.ops import constant_op

        real_value = self.history_map.get(value.name)
        if real_value is None:
            cur_value = value
            cur_grad_state = self
            history_value = None
            while True:
                enter_op = cf.get_loop_constant_enter(cur_value)
                if enter_op is not None:
                    cur_value = enter_op._inputs[0]
                    cur_grad_state = cur_grad_state.outer_grad_state
                    if cur_grad_state is None:
                        real_value = self.grad_context.add_value(cur_value)
                        break
                elif cur_value.op.type == "Const":
                    real_value = constant_op.constant(
                        shape_inference.constant_value(cur_value),
                        dtype=cur_value.dtype.base_dtype)
                    break
                else:
                    self.grad_context.Exit()
                    history_value = cur_grad_state.add_forward_accumulator(cur_value)
                    self.grad_context.Enter()
                    break
            if real_value is None:
                real_value = cur_grad_state.add_backprop_accumulated_value(history_value,
                                                                           cur_value)
                if cur_grad_state is not self:
                    real_value = self.grad_context.add_value(real_value)
            self.history_map[value.name] = real_value
        return real_value


class ControlFlowState:
    """The grad states of all the loops of one ``gradients`` call (TF's
    ``_ControlFlowState``)."""

    def __init__(self):
        self._map: dict = {}  # forward WhileContext -> GradLoopState

    def get_grad_state(self, op, before):
        if before and cf.is_loop_exit(op):
            forward_ctxt = cf.get_context(op)
            forward_ctxt = cf.while_of(forward_ctxt.outer) if forward_ctxt else None
        else:
            forward_ctxt = cf.get_while_context(op)
        if forward_ctxt is not None:
            return self._map.get(forward_ctxt)
        return None

    def process_unused_loop_exits(self, pending_count, to_ops_set):
        """The exits nothing between xs and ys used that must get a zero gradient now."""
        loop_exits = []
        for grad_state in self._map.values():
            for y in grad_state.forward_loop_exits:
                if pending_count[y.op] == 0:
                    grad_state.pending_exits_count -= 1
                    if y.op not in to_ops_set:
                        grad_state.unused_exits.append(y)
                    if grad_state.pending_exits_count == 0:
                        loop_exits.extend(grad_state.unused_exits)
            for y in grad_state.forward_context.loop_enters:
                if pending_count[y.op] == 0:
                    pending_count[y.op] = 1
        return loop_exits

    def enter_grad_while_context(self, op, before):
        grad_state = self.get_grad_state(op, before)
        if grad_state is not None:
            grad_state.grad_context.Enter()

    def exit_grad_while_context(self, op, before):
        grad_state = self.get_grad_state(op, before)
        if grad_state is not None:
            grad_state.grad_context.Exit()

    def add_while_context(self, op, between_op_list, between_ops):
        """Makes the grad state of the loop of ``op`` (an Exit)."""
        forward_ctxt = cf.get_while_context(op)
        grad_state = self._map.get(forward_ctxt)
        if grad_state is None:
            outer_forward_ctxt = cf.while_of(forward_ctxt.outer)
            outer_grad_state = None
            if outer_forward_ctxt is not None:
                outer_grad_state = self._map.get(outer_forward_ctxt)
            grad_state = GradLoopState(forward_ctxt, outer_grad_state)
            self._map[forward_ctxt] = grad_state
            for loop_exit in grad_state.forward_loop_exits:
                if loop_exit.op not in between_ops:
                    between_ops.add(loop_exit.op)
                    between_op_list.append(loop_exit.op)

    def zeros_like_for_exit(self, val):
        """The zero gradient of an unused loop exit ``val``."""
        from gmeta.ops import array_ops

        val_shape = val.shape
        forward_ctxt = cf.get_context(val.op)
        outer_forward_ctxt = cf.while_of(forward_ctxt.outer)
        outer_grad_state = self._map.get(outer_forward_ctxt) if outer_forward_ctxt else None
        dt = val.dtype.base_dtype
        if outer_grad_state is not None:
            if val_shape.is_fully_defined():
                outer_grad_state.grad_context.Enter()
                result = array_ops.zeros(val_shape.as_list(), dt)
                outer_grad_state.grad_context.Exit()
            else:
                cf.enter_context(forward_ctxt.outer)
                shape = array_ops._shape_internal(val, optimize=False)
                cf.exit_context(forward_ctxt.outer)
                history_shape = outer_grad_state.add_forward_accumulator(shape)
                outer_grad_ctxt = outer_grad_state.grad_context
                outer_grad_ctxt.Enter()
                real_shape = outer_grad_state.add_backprop_accumulated_value(history_shape,
                                                                             shape)
                result = array_ops.zeros(real_shape, dt)
                outer_grad_ctxt.Exit()
        elif val_shape.is_fully_defined():
            result = array_ops.zeros(val_shape.as_list(), dt)
        else:
            result = array_ops.zeros_like(val, optimize=False)
        return result

    def zeros_like_v1_while_loop(self, op, index):
        """The zero gradient of ``op.outputs[index]`` when ``op`` may be in a loop."""
        from gmeta.ops import array_ops, constant_op

        if cf.is_loop_switch(op):
            return None
        dead_branch = cf.is_switch(op)
        forward_ctxt = cf.get_while_context(op)
        grad_state = self._map.get(forward_ctxt) if forward_ctxt is not None else None
        if grad_state is None:
            return zeros_like(op, index)
        op_ctxt = cf.get_context(op)
        val = op._outputs[index]
        shape = val.shape
        if shape.is_fully_defined():
            result = constant_op.constant(0, shape=shape.as_list(), dtype=val.dtype.base_dtype)
            if dead_branch:
                pred = grad_state.history_map.get(op_ctxt.pred.name)
                branch = op_ctxt.branch
                result = cf.switch_ref_or_tensor(result, pred)[1 - branch]
        else:
            if dead_branch:
                pred = op_ctxt.pred
                branch = op_ctxt.branch
                cf.enter_context(op_ctxt.outer)
                val = cf.switch_ref_or_tensor(op._inputs[0], pred)[1 - branch]
                zeros_shape = array_ops._shape_internal(val, optimize=False)
                cf.exit_context(op_ctxt.outer)
                cf.set_context(val.op, op_ctxt)
                cf.set_context(zeros_shape.op, op_ctxt)
            else:
                cf.enter_context(op_ctxt)
                zeros_shape = array_ops._shape_internal(val, optimize=False)
                cf.exit_context(op_ctxt)
            grad_state.grad_context.Exit()
            history_zeros_shape = grad_state.add_forward_accumulator(zeros_shape,
                                                                     dead_branch=dead_branch)
            grad_state.grad_context.Enter()
            shape = grad_state.add_backprop_accumulated_value(history_zeros_shape, zeros_shape,
                                                              dead_branch)
            result = array_ops.zeros(shape, val.dtype.base_dtype)
        return result

    def post_processing(self):
        """Loop variables whose next value does not depend on their previous one get zero
        gradients for iterations after the first."""
        from gmeta.ops import array_ops, constant_op

        for grad_state in self._map.values():
            for b_merge in grad_state.switch_map.values():
                if b_merge.op._inputs[0] is b_merge.op._inputs[1]:
                    dtype = b_merge.op._inputs[0].dtype.base_dtype
                    shape = b_merge.op._inputs[0].shape
                    if shape.is_fully_defined():
                        grad_state.grad_context.Enter()
                        grad_val = constant_op.constant(0, dtype=dtype, shape=shape.as_list())
                        next_grad_val = cf._next_iteration(grad_val)
                        grad_state.grad_context.Exit()
                    else:
                        outer_grad_ctxt = grad_state.grad_context.outer
                        cf.enter_context(outer_grad_ctxt)
                        enter_grad = b_merge.op._inputs[0].op._inputs[0]
                        grad_shape = array_ops._shape_internal(enter_grad, optimize=False)
                        grad_val = array_ops.zeros(grad_shape)
                        cf.exit_context(outer_grad_ctxt)
                        grad_state.grad_context.Enter()
                        next_grad_val = cf._next_iteration(grad_val)
                        grad_state.grad_context.Exit()
                    cf.update_input(b_merge.op, 1, next_grad_val)


def maybe_create_control_flow_state(between_op_list, between_ops, colocate_gradients_with_ops):
    """A :class:`ControlFlowState` when loop exits are among the ops, else None."""
    loop_state = None
    for op in between_op_list:  # grows with the exits add_while_context adds
        if cf.is_loop_exit(op):
            if loop_state is None:
                loop_state = ControlFlowState()
            if colocate_gradients_with_ops:
                with op.graph.colocate_with(op):
                    loop_state.add_while_context(op, between_op_list, between_ops)
            else:
                loop_state.add_while_context(op, between_op_list, between_ops)
    return loop_state


def zeros_like(op, index):
    """TF's ``ZerosLike(op, index)`` (v1 cond switches: zeros only on the branch taken)."""
    from gmeta.ops import array_ops

    val = op._outputs[index]
    op_ctxt = cf.get_context(op)
    if cf.is_switch(op) and op_ctxt is not None and hasattr(op_ctxt, "pred"):
        pred, branch = op_ctxt.pred, op_ctxt.branch
        switch_val = cf.switch(op._inputs[0], pred)[1 - branch]
        pivot = array_ops.identity(switch_val)
        zeros_shape = array_ops._shape_internal(switch_val, optimize=False)
        with ops_lib.get_default_graph().control_dependencies([pivot]):
            return array_ops.zeros(zeros_shape, dtype=val.dtype.base_dtype)
    return array_ops.zeros_like(val, optimize=False)
