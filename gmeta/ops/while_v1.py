"""TF 1.x ``tf.while_loop`` (v1 control flow): ``WhileContext`` and the loop graph TF builds.

``while_loop`` emits TensorFlow's nodes, names and inputs: an ``Enter`` per loop variable into
the frame ``<scope>/while/while_context``, ``Merge(Enter, NextIteration)``, the condition and
``LoopCond``, ``Switch``, ``Identity`` (the body's inputs), the body, ``NextIteration`` and
``Exit``. A :class:`WhileContext` sees every op made while it is active (the graph's
control-flow context hook) and, as TF's does, routes every outside tensor an op reads through a
constant ``Enter`` made once, gates input-less ops on the loop's pivot, and records the values
it has seen; top-level loops go into the ``while_context`` collection (``WhileContextDef``).

Imported graphs get their ``WhileContext`` objects back from that collection the first time
something needs them (:func:`restore_contexts`, called by ``gradients``): the collection's
items are replaced by the live contexts, which export the same protos.

TF's ``control_flow_util`` helpers are in ``control_flow_util.py``; gradients of loops are in
``gmeta/gradients/control_flow_grad.py``, ``control_flow_state.py`` and ``while_grad_loops.py``.
"""

from __future__ import annotations

from gmeta._loop_exec import set_max_loop_iterations  # noqa: F401 - gm.set_max_loop_iterations
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework import shape_inference as _si
from gmeta.framework.tensor_shape import TensorShape, as_shape
from gmeta.ops import _nest
from gmeta.ops.control_flow_util import (  # noqa: F401 - TF's control_flow_util, re-exported
    WHILE_CONTEXT, add_name, control_pivot, enter_context, exit_context, get_context,
    get_loop_constant_enter, get_output_context, get_while_context, init_values_from_proto,
    is_cond_context, is_cond_switch, is_loop_constant_enter, is_loop_enter, is_loop_exit,
    is_loop_switch, is_merge, is_switch, no_control_dependencies, remove_external_control_edges,
    restore_contexts, set_context, update_input, while_of,
)

__all__ = ["while_loop", "set_max_loop_iterations"]


# -- the primitive ops ----------------------------------------------------------------------------
def _enter(tensor, frame_name, is_constant=False, parallel_iterations=10, use_ref=True,
           use_input_shape=True, name=None):
    tensor = ops_lib.convert_to_tensor(tensor, as_ref=True)
    op_type = "RefEnter" if tensor.dtype.is_ref_dtype and use_ref else "Enter"
    result = op_def_library.apply_op(op_type, data=tensor, frame_name=frame_name,
                                     is_constant=is_constant,
                                     parallel_iterations=parallel_iterations,
                                     name=name or op_type)
    if use_input_shape:
        result.set_shape(tensor.shape)
    return result


def exit(tensor, name=None):  # noqa: A001 - TF's name
    """``Exit``: ``tensor`` made available to the loop's outer frame."""
    tensor = ops_lib.convert_to_tensor(tensor, as_ref=True)
    op_type = "RefExit" if tensor.dtype.is_ref_dtype else "Exit"
    return op_def_library.apply_op(op_type, data=tensor, name=name or op_type)


def _next_iteration(tensor, name=None):
    tensor = ops_lib.convert_to_tensor(tensor, as_ref=True)
    op_type = "RefNextIteration" if tensor.dtype.is_ref_dtype else "NextIteration"
    return op_def_library.apply_op(op_type, data=tensor, name=name or op_type)


def _identity(tensor, name=None):
    tensor = ops_lib.convert_to_tensor(tensor, as_ref=True)
    op_type = "RefIdentity" if tensor.dtype.is_ref_dtype else "Identity"
    return op_def_library.apply_op(op_type, input=tensor, name=name or op_type)


def loop_cond(pred, name=None):
    return op_def_library.apply_op("LoopCond", input=pred, name=name or "LoopCond")


def control_trigger(name=None):
    return op_def_library.apply_op("ControlTrigger", name=name or "ControlTrigger")


def switch(data, pred, name=None):
    """``Switch``: (output_false, output_true), ``data`` on the one ``pred`` selects."""
    with ops_lib.name_scope_v1(name, "Switch", [data, pred]) as scope:
        data = ops_lib.convert_to_tensor(data, as_ref=True)
        pred = ops_lib.convert_to_tensor(pred)
        return op_def_library.apply_op("Switch", data=data, pred=pred, name=scope)


def switch_ref_or_tensor(data, pred, name="Switch"):
    """TF's ``_SwitchRefOrTensor``: a (Ref)Switch colocated with ``data``."""
    data = ops_lib.convert_to_tensor(data)
    g = data.graph
    with g.colocate_with(data.op, ignore_existing=True):
        if data.dtype.is_ref_dtype:
            with ops_lib.name_scope_v1(name, "RefSwitch", [data, pred]) as scope:
                return op_def_library.apply_op("RefSwitch", data=data, pred=pred, name=scope)
        return switch(data, pred, name=name)


def merge(inputs, name=None):
    """``Merge``: (the available input, its index)."""
    with ops_lib.name_scope_v1(name, "Merge", inputs) as scope:
        inputs = [ops_lib.convert_to_tensor(t, as_ref=True) for t in inputs]
        op_type = "RefMerge" if all(t.dtype.is_ref_dtype for t in inputs) else "Merge"
        return op_def_library.apply_op(op_type, inputs=inputs, name=scope)


def _shape_less_than_or_equal(shape1, shape2) -> bool:
    if shape2.ndims is None:
        return True
    if shape1.ndims != shape2.ndims:
        return False
    return all(d2 is None or d1 == d2 for d1, d2 in zip(shape1.as_list(), shape2.as_list()))


def _add_next_and_back_edge(m, v, enforce_shape_invariant=True):
    v = ops_lib.convert_to_tensor(v)
    v = _next_iteration(v)
    if enforce_shape_invariant and not _shape_less_than_or_equal(v.shape, m.shape):
        enter = m.op._inputs[0].op
        input_t = enter._inputs[0]
        raise ValueError(
            f"Input tensor '{input_t.name}' enters the loop with shape {input_t.shape}, but has "
            f"shape {v.shape} after one iteration. To allow the shape to vary across "
            "iterations, use the `shape_invariants` argument of tf.while_loop to specify a "
            "less-specific shape.")
    update_input(m.op, 1, v)
    return v


# -- TensorArray flows as loop variables ----------------------------------------------------------
def _is_tensor_array(x) -> bool:
    from gmeta.ops.tensor_array_ops import TensorArray

    return isinstance(x, TensorArray)


def _to_flow(x):
    return x.flow if _is_tensor_array(x) else x


def _from_flow(orig, flow):
    if _is_tensor_array(orig):
        from gmeta.ops.tensor_array_ops import build_ta_with_new_flow

        return build_ta_with_new_flow(orig, flow)
    return flow


# -- WhileContext ---------------------------------------------------------------------------------
class WhileContext:
    """The context of one v1 while loop (TF's ``WhileContext``).

    Attributes named as gmeta's :class:`~gmeta.ops.cond_v1.CondContext` (``outer``, ``nested``,
    ``_values``, ``_external``), so conds and loops nest in each other.
    """

    is_while_context = True

    def __init__(self, maximum_iterations=None, parallel_iterations=10, back_prop=True,
                 swap_memory=False, name="while_context", grad_state=None, context_def=None,
                 import_scope=None):
        g = ops_lib.get_default_graph()
        self._graph = g
        self.outer = g._get_control_flow_context()
        self.nested: list = []
        if self.outer is not None:  # a loop in a cond branch is nested in its CondContextDef
            self.outer.nested.append(self)
        self._context_stack: list = []
        self._values: set = set()
        self._external: dict = {}
        self.grad_state = grad_state
        if context_def is not None:
            self._init_from_proto(context_def, import_scope)
            return
        if not isinstance(parallel_iterations, int) or parallel_iterations <= 0:
            raise ValueError(f"'parallel_iterations' must be a positive integer: "
                             f"{parallel_iterations}")
        self.name = g.unique_name(name)
        self.maximum_iterations = maximum_iterations
        self.parallel_iterations = parallel_iterations
        self.back_prop = back_prop
        self.swap_memory = swap_memory
        self.pivot_for_pred = None
        self.pivot_for_body = None
        self.pivot = None
        self.loop_exits: list = []
        self.loop_enters: list = []

    def _init_from_proto(self, d, import_scope):
        from gmeta.framework.meta_graph import prepend_name_scope

        g = self._graph

        def el(name):
            return g.as_graph_element(prepend_name_scope(name, import_scope))

        self.name = prepend_name_scope(d.context_name, import_scope)
        self.maximum_iterations = el(d.maximum_iterations_name) \
            if d.maximum_iterations_name else None
        self.parallel_iterations = d.parallel_iterations
        self.back_prop = d.back_prop
        self.swap_memory = d.swap_memory
        self.pivot_for_pred = el(d.pivot_for_pred_name)
        self.pivot_for_body = el(d.pivot_for_body_name)
        self.pivot = el(d.pivot_name)
        self.loop_exits = [el(n) for n in d.loop_exit_names]
        self.loop_enters = [el(n) for n in d.loop_enter_names]
        init_values_from_proto(self, d.values_def, import_scope)

    # -- entering and leaving -------------------------------------------------------------------
    def Enter(self):  # noqa: N802 - TF's method names, used by the gradient code as in TF
        g = self._graph
        self._context_stack.append((g._get_control_flow_context(), g._control_stack))
        g._set_control_flow_context(self)

    def Exit(self):  # noqa: N802
        self._graph._set_control_flow_context(self._context_stack.pop()[0])

    def __enter__(self):
        self.Enter()
        return self

    def __exit__(self, *exc):
        self.Exit()

    def exit_result(self, result):
        if self.outer is not None:
            for x in result:
                add_name(self.outer, x.name)

    # -- protos ---------------------------------------------------------------------------------
    def to_proto(self, export_scope=None):
        """This loop as TF's ``WhileContextDef`` (None when outside ``export_scope``)."""
        from gmeta.framework.meta_graph import strip_name_scope
        from gmeta.proto import WhileContextDef

        if export_scope and not self.name.startswith(export_scope):
            return None

        def strip(n):
            return strip_name_scope(n, export_scope)

        d = WhileContextDef()
        d.context_name = strip(self.name)
        d.parallel_iterations = self.parallel_iterations
        if self.maximum_iterations is not None:
            d.maximum_iterations_name = strip(self.maximum_iterations.name)
        d.back_prop = self.back_prop
        d.swap_memory = self.swap_memory
        d.pivot_for_pred_name = strip(self.pivot_for_pred.name)
        d.pivot_for_body_name = strip(self.pivot_for_body.name)
        d.pivot_name = strip(self.pivot.name)
        d.loop_exit_names.extend(strip(t.name) for t in self.loop_exits)
        d.loop_enter_names.extend(strip(t.name) for t in self.loop_enters)
        d.values_def.values.extend(strip(v) for v in sorted(self._values))
        for k, v in self._external.items():
            d.values_def.external_values[strip(k)] = strip(v.name)
        for n in self.nested:
            sub = d.nested_contexts.add()
            if isinstance(n, WhileContext):
                sub.while_ctxt.CopyFrom(n.to_proto(export_scope))
            else:
                sub.cond_ctxt.CopyFrom(n.to_proto())
        return d

    @staticmethod
    def from_proto(context_def, import_scope=None):
        from gmeta.ops.control_flow_util import from_control_flow_context_def

        ret = WhileContext(context_def=context_def, import_scope=import_scope)
        ret.Enter()
        for nested in context_def.nested_contexts:
            from_control_flow_context_def(nested, import_scope)
        ret.Exit()
        return ret

    def __repr__(self):
        return f"<WhileContext {self.name!r}>"

    # -- values and ops -------------------------------------------------------------------------
    def add_value(self, val):
        """``val`` as this loop sees it: itself, or a constant Enter of it made once."""
        result = val
        new_value = val.name not in self._values and get_context(val.op) is not self
        if new_value:
            self._values.add(val.name)
            grad_ctxt = while_of(self._graph._get_control_flow_context())
            if grad_ctxt is not None and grad_ctxt.grad_state is not None:
                forward_ctxt = get_while_context(val.op)
                if is_loop_exit(val.op):
                    forward_ctxt = while_of(forward_ctxt.outer) if forward_ctxt else None
                if forward_ctxt is grad_ctxt.grad_state.forward_context:
                    real_val = grad_ctxt.grad_state.get_real_value(val)
                    self._external[val.name] = real_val
                    return real_val
            if self.outer is not None:
                result = self.outer.add_value(val)
            g = self._graph
            with no_control_dependencies(g):
                enter = _enter(result, self.name, is_constant=True,
                               parallel_iterations=self.parallel_iterations)
            self._fix_control_inputs_and_context([enter])
            self._values.add(enter.name)
            self._external[val.name] = enter
            result = enter
        else:
            actual = self._external.get(val.name)
            if actual is not None:
                result = actual
        return result

    def add_op(self, op):
        """Puts ``op`` (just made) in this loop (TF's ``WhileContext.AddOp``).

        Ops made in a ``control_dependencies(None)`` block opened after this context was
        entered (variables and their initializers: TF's ``init_scope``) stay outside the loop:
        TF's ``control_dependencies(None)`` clears the control-flow context too."""
        if self._context_stack and self._graph._control_stack is not self._context_stack[-1][1]:
            return
        if op.type in ("Shape", "Size", "Rank") and op._inputs:
            grad_ctxt = while_of(self._graph._get_control_flow_context())
            if grad_ctxt is not None and grad_ctxt.grad_state is not None:
                if get_while_context(op._inputs[0].op) is \
                        grad_ctxt.grad_state.forward_context:
                    input_ctxt = get_context(op._inputs[0].op)
                    set_context(op, input_ctxt)
                    input_ctxt._add_op_internal(op)
                    return
        set_context(op, self)
        self._add_op_internal(op)

    def _add_op_internal(self, op):
        if not op._inputs:
            control_inputs, external_inputs = remove_external_control_edges(self, op)
            if not control_inputs:
                op._add_control_input(control_pivot(self).op)
            for x in op._outputs:
                self._values.add(x.name)
        else:
            for index, x in enumerate(list(op._inputs)):
                real_x = self.add_value(x)
                if real_x is not x:
                    update_input(op, index, real_x)
            _, external_inputs = remove_external_control_edges(self, op)
            self._maybe_add_control_dependency(op)
            for x in op._outputs:
                self._values.add(x.name)
        if external_inputs:
            g = self._graph
            with no_control_dependencies(g):
                self.Enter()
                external_inputs = [_identity(x._outputs[0]).op for x in external_inputs
                                   if x._outputs]
                self.Exit()
            op._add_control_inputs(external_inputs)

    def _maybe_add_control_dependency(self, op):
        if op._control_inputs:
            return
        if all(is_loop_constant_enter(x.op) for x in op._inputs):
            op._add_control_input(control_pivot(self).op)

    def _fix_control_inputs_and_context(self, enters):
        g = self._graph
        for x in enters:
            inp_op = x.op._inputs[0].op
            control_inputs = g._control_inputs_for({inp_op})
            outer_control_inputs = []
            for op in control_inputs:
                keep = True
                op_ctxt = get_output_context(op)
                outer_ctxt = self.outer
                outer_while = while_of(outer_ctxt)
                while outer_ctxt is not op_ctxt:
                    if outer_ctxt is None or outer_ctxt is outer_while:
                        keep = False
                        break
                    outer_ctxt = outer_ctxt.outer
                if keep:
                    outer_control_inputs.append(op)
            set_context(x.op, self)
            x.op._add_control_inputs(outer_control_inputs)
            for ctl in g._control_stack:
                ctl.seen.add(x.op)

    # -- building the loop ----------------------------------------------------------------------
    def _build_loop(self, pred, body, loop_vars, flat_orig_loop_vars, flat_loop_vars,
                    shape_invariants):
        self._values = {x.name for x in flat_loop_vars}
        if self.outer is not None:
            real_vars = [self.outer.add_value(x) for x in flat_loop_vars]
        else:
            real_vars = flat_loop_vars
        g = self._graph
        enter_vars = []
        with no_control_dependencies(g):
            for real_var, invariant in zip(real_vars, shape_invariants):
                enter_var = _enter(real_var, self.name, is_constant=False,
                                   parallel_iterations=self.parallel_iterations,
                                   use_input_shape=False)
                if _shape_less_than_or_equal(real_var.shape, invariant):
                    enter_var.set_shape(invariant)
                else:
                    raise ValueError(
                        f"The shape invariant specified for {real_var.name} is not compatible "
                        "with the initial shape of the loop variable. It enters the loop with "
                        f"shape {real_var.shape}, but the specified shape invariant is "
                        f"{invariant}.")
                enter_vars.append(enter_var)
        outer = self.outer
        pivot = None
        while outer is not None and pivot is None:
            pivot = control_pivot(outer)
            outer = outer.outer
        if pivot is not None:
            for var in enter_vars:
                if is_loop_constant_enter(var.op._inputs[0].op):
                    var.op._add_control_input(pivot.op)
        self._fix_control_inputs_and_context(enter_vars)
        self._values = {x.name for x in enter_vars}
        self.loop_enters = enter_vars

        merge_vars = [merge([x, x])[0] for x in enter_vars]
        self.pivot_for_pred = merge_vars[0]
        packed = _nest.pack_sequence_as(loop_vars, [_from_flow(o, m) for o, m in
                                           zip(flat_orig_loop_vars, merge_vars)])
        c = ops_lib.convert_to_tensor(pred(*packed))
        self.pivot = loop_cond(c, name="LoopCond")
        switch_vars = [switch_ref_or_tensor(x, self.pivot) for x in merge_vars]

        vars_for_body = [_identity(x[1]) for x in switch_vars]
        self.pivot_for_body = vars_for_body[0]
        packed = _nest.pack_sequence_as(loop_vars, [_from_flow(o, v) for o, v in
                                           zip(flat_orig_loop_vars, vars_for_body)])
        body_result = body(*packed)
        if not isinstance(body_result, (list, tuple)):
            body_result = [body_result]
        flat_result = _nest.flatten(list(body_result))
        if len(flat_result) != len(merge_vars):
            raise ValueError("Number of inputs and outputs of 'body' must match 'loop_vars'. "
                             f"Got {len(merge_vars)} for the number of inputs/outputs, and "
                             f"{len(flat_result)} for 'loop_vars'.")
        result = [ops_lib.convert_to_tensor(_to_flow(v)) for v in flat_result]
        for m, v in zip(merge_vars, result):
            if m.dtype.base_dtype != v.dtype.base_dtype:
                raise TypeError(f"The loop variable entering as {m.op._inputs[0].name} has "
                                f"dtype {m.dtype.base_dtype.name} but the body returns "
                                f"{v.dtype.base_dtype.name} for it")
            _add_next_and_back_edge(m, v)
        exit_vars = [exit(x[0]) for x in switch_vars]
        self.loop_exits = exit_vars
        self.exit_result(exit_vars)
        return body_result, flat_result, exit_vars

    def build_loop(self, pred, body, loop_vars, shape_invariants, return_same_structure):
        loop_vars = list(loop_vars)
        flat_orig = _nest.flatten(loop_vars)
        flat_loop_vars = [ops_lib.convert_to_tensor(_to_flow(x)) for x in flat_orig]
        if shape_invariants is None:
            invariants = [x.shape for x in flat_loop_vars]
        else:
            invariants = [as_shape(s) for s in _flatten_shapes(shape_invariants)]
            if len(invariants) != len(flat_loop_vars):
                raise ValueError("shape_invariants must have the structure of loop_vars: got "
                                 f"{len(invariants)} shapes for {len(flat_loop_vars)} tensors")
        try:
            self.Enter()
            body_result, flat_result, exit_vars = self._build_loop(
                pred, body, loop_vars, flat_orig, flat_loop_vars, invariants)
        finally:
            self.Exit()
        exits = [_from_flow(o, e) for o, e in zip(flat_result, exit_vars)]
        packed = _nest.pack_sequence_as(list(body_result), exits)
        if return_same_structure:
            return packed
        return packed[0] if len(exit_vars) == 1 else packed

    # -- the loops gradients add (gmeta/gradients/while_grad_loops.py) --------------------------
    def add_forward_loop_counter(self, outer_grad_state):
        from gmeta.gradients import while_grad_loops

        return while_grad_loops.add_forward_loop_counter(self, outer_grad_state)

    def add_backprop_loop_counter(self, count, outer_grad_state):
        from gmeta.gradients import while_grad_loops

        return while_grad_loops.add_backprop_loop_counter(self, count, outer_grad_state)

    def add_backprop_accumulator(self, op, grad):
        from gmeta.gradients import while_grad_loops

        return while_grad_loops.add_backprop_accumulator(self, op, grad)

    def add_backprop_indexed_slices_accumulator(self, op, grad):
        from gmeta.gradients import while_grad_loops

        return while_grad_loops.add_backprop_indexed_slices_accumulator(self, op, grad)


def _flatten_shapes(shapes):
    if isinstance(shapes, TensorShape) or shapes is None:
        return [shapes]
    if isinstance(shapes, (list, tuple)) and shapes and all(
            isinstance(d, (int, type(None))) or hasattr(d, "value") for d in shapes):
        return [shapes]  # one shape written as a list of dims
    if isinstance(shapes, (list, tuple)):
        out = []
        for s in shapes:
            out.extend(_flatten_shapes(s))
        return out
    if isinstance(shapes, dict):
        out = []
        for k in sorted(shapes):
            out.extend(_flatten_shapes(shapes[k]))
        return out
    return [shapes]


# -- tf.while_loop --------------------------------------------------------------------------------
def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10,
               back_prop=True, swap_memory=False, name=None, maximum_iterations=None,
               return_same_structure=False):
    """Repeats ``body`` while ``cond`` is true (TF 1.x ``tf.while_loop``, control flow v1).

    ``cond`` and ``body`` are called once, to build the loop's graph; the loop runs when a
    Session runs it (gmeta's frame/iteration executor).

    Args:
        cond: Callable of the loop variables returning a scalar bool tensor.
        body: Callable of the loop variables returning new values of the same structure.
        loop_vars: A (nested) tuple/list of tensors and ``TensorArray``\\ s.
        shape_invariants: Shapes the loop variables keep across iterations (default: their
            initial shapes).
        parallel_iterations: How many iterations may run at once (recorded in the graph).
        back_prop: False disables gradients through the loop.
        swap_memory: Recorded for the gradient stacks (no effect in gmeta).
        name: Name scope (default ``while``).
        maximum_iterations: Optional scalar int tensor: the loop stops after that many
            iterations (an extra counter loop variable, as TF adds).
        return_same_structure: Return ``loop_vars``' structure even for one variable.

    Returns:
        The loop variables' values after the loop (``Exit`` outputs).

    Raises:
        TypeError: ``cond`` or ``body`` is not callable; a loop variable changes dtype.
        ValueError: empty ``loop_vars``; a shape invariant is violated.
    """
    if not callable(cond):
        raise TypeError("'cond' must be callable.")
    if not callable(body):
        raise TypeError("'body' must be callable.")
    if parallel_iterations < 1:
        raise TypeError("'parallel_iterations' must be a positive integer.")
    with ops_lib.name_scope_v1(name, "while", _flat_tensors(loop_vars)):
        if not loop_vars:
            raise ValueError("'loop_vars' must be provided.")
        try_to_pack = len(loop_vars) == 1 and not return_same_structure
        if maximum_iterations is not None:
            from gmeta.ops import constant_op, math_ops

            maximum_iterations = ops_lib.convert_to_tensor(maximum_iterations,
                                                           name="maximum_iterations")
            if maximum_iterations.shape.ndims != 0:
                raise ValueError("'maximum_iterations' must be a scalar. Received shape: "
                                 f"{maximum_iterations.shape}")
            counter = constant_op.constant(0, dtype=maximum_iterations.dtype,
                                           name="iteration_counter")
            orig_cond, orig_body = cond, body
            if try_to_pack:
                loop_vars = (counter, loop_vars[0])

                def cond(i, lv):
                    return math_ops.logical_and(i < maximum_iterations, orig_cond(lv))

                def body(i, lv):
                    return (i + 1, orig_body(lv))
            else:
                loop_vars = (counter, loop_vars)

                def cond(i, lv):
                    return math_ops.logical_and(i < maximum_iterations, orig_cond(*lv))

                def body(i, lv):
                    return (i + 1, orig_body(*lv))
            try_to_pack = False
            if shape_invariants is not None:
                shape_invariants = (TensorShape([]), shape_invariants)
        ctx = WhileContext(maximum_iterations=maximum_iterations,
                           parallel_iterations=parallel_iterations, back_prop=back_prop,
                           swap_memory=swap_memory)
        if ctx.outer is None:
            ops_lib.add_to_collection(WHILE_CONTEXT, ctx)
        result = ctx.build_loop(cond, body, loop_vars, shape_invariants, return_same_structure)
        if maximum_iterations is not None:
            return result[1]
        return result


def _flat_tensors(loop_vars):
    return [v for v in _nest.flatten(list(loop_vars) if isinstance(
        loop_vars, (list, tuple)) else [loop_vars]) if isinstance(v, ops_lib.Tensor)]


# -- static shapes (TF's shape functions) ---------------------------------------------------------
@_si.register("Enter", "RefEnter")
def _enter_shape(op):
    if op._attr("is_constant", False):
        return [op._inputs[0].shape]
    return [TensorShape(None)]


@_si.register("Exit", "RefExit", "NextIteration", "RefNextIteration", "LoopCond")
def _unchanged_shape(op):
    return [op._inputs[0].shape]
