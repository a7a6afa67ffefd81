"""Gradients of the v1 control-flow ops (TF's ``control_flow_grad.py``).

In a loop, each forward op becomes its mirror in the gradient loop: ``Exit`` -> ``Enter``
(``b_exit``), the loop ``Switch`` -> ``Merge`` (``b_switch``; its back edge is added when the
Switch is visited the second time, from the body), ``Merge`` -> ``Switch`` on the gradient loop's
pivot, ``NextIteration`` -> the gradient itself, ``Enter`` -> ``Exit`` (or, for a loop
invariant, an accumulator loop summing the gradient of every iteration). The gradient of a
cond's ``Switch``/``Merge`` is a ``Merge``/``Switch`` on the same predicate.
"""

from __future__ import annotations

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.gradients._indexed_slices import IndexedSlices
from gmeta.gradients._registry import RegisterGradient, no_gradient
from gmeta.ops import while_v1 as cf


def _current():
    return ops_lib.get_default_graph()._get_control_flow_context()


@RegisterGradient("Switch")
@RegisterGradient("RefSwitch")
def _switch_grad(op, *grad):
    op_ctxt = cf.get_context(op)
    grad_ctxt = _current()
    if isinstance(op_ctxt, cf.WhileContext):
        merge_grad = grad_ctxt.grad_state.switch_map.get(op)
        if merge_grad is not None:
            # Second visit, from the body: the gradient loop's back edge.
            if grad[1] is not None:
                cf._add_next_and_back_edge(merge_grad, grad[1], enforce_shape_invariant=False)
            return None, None
        if grad[0] is not None:
            # First visit, from the Exit: the gradient loop's Merge.
            merge_grad = cf.merge([grad[0], grad[0]], name="b_switch")[0]
            grad_ctxt.grad_state.switch_map[op] = merge_grad
            return merge_grad, None
        return None, None
    if op_ctxt is not None and hasattr(op_ctxt, "pred"):  # a cond branch
        zero_grad = grad[1 - op_ctxt.branch]
        if zero_grad is None:
            if op._inputs[0].dtype.base_dtype == dtypes.resource:
                return cf.merge([grad[op_ctxt.branch]] * 2, name="cond_resource_grad")[0], None
            return None, None
        return cf.merge(list(grad), name="cond_grad")[0], None
    false_grad = cf.switch(grad[0], op._inputs[1])[0]
    true_grad = cf.switch(grad[1], op._inputs[1])[1]
    return cf.merge([false_grad, true_grad])[0], None


@RegisterGradient("Merge")
@RegisterGradient("RefMerge")
def _merge_grad(op, grad, _):
    from gmeta.ops import math_ops

    input_op = op._inputs[0].op
    op_ctxt = cf.get_output_context(input_op)
    grad_ctxt = _current()
    if isinstance(op_ctxt, cf.WhileContext):
        return cf.switch_ref_or_tensor(grad, grad_ctxt.pivot)
    if op_ctxt is not None and hasattr(op_ctxt, "pred"):
        pred = op_ctxt.pred
        grad_while = cf.while_of(grad_ctxt)
        if grad_while is not None and grad_while.grad_state is not None:
            grad_state = grad_while.grad_state
            real_pred = grad_state.history_map.get(pred.name)
            if real_pred is None:
                gctx = grad_state.grad_context
                gctx.Exit()
                history_pred = grad_state.add_forward_accumulator(pred)
                gctx.Enter()
                real_pred = grad_state.add_backprop_accumulated_value(history_pred, pred)
                grad_state.history_map[pred.name] = real_pred
            pred = real_pred
        return cf.switch_ref_or_tensor(grad, pred, name="cond_grad")
    n = len(op._inputs)
    cond = [math_ops.equal(op._outputs[1], i) for i in range(n)]
    return [cf.switch_ref_or_tensor(grad, cond[i])[1] for i in range(n)]


@RegisterGradient("Exit")
@RegisterGradient("RefExit")
def _exit_grad(op, grad):
    op_ctxt = cf.get_context(op)
    grad_ctxt = _current()
    if not grad_ctxt.back_prop:
        return None
    if op_ctxt.grad_state is not None:
        raise TypeError("Second-order gradient for while loops not supported.")
    if isinstance(grad, ops_lib.Tensor):
        cf.add_name(grad_ctxt, grad.name)
    elif isinstance(grad, IndexedSlices):
        cf.add_name(grad_ctxt, grad.values.name)
        cf.add_name(grad_ctxt, grad.indices.name)
        if grad.dense_shape is not None:
            cf.add_name(grad_ctxt, grad.dense_shape.name)
    else:
        raise TypeError(f"Type {type(grad)} not supported, must be either IndexedSlices or "
                        "Tensor.")
    grad_ctxt.Enter()
    if isinstance(grad, IndexedSlices):
        result = IndexedSlices(*[None if t is None else cf._enter(
            t, grad_ctxt.name, is_constant=False,
            parallel_iterations=grad_ctxt.parallel_iterations, name="b_exit")
            for t in (grad.values, grad.indices, grad.dense_shape)])
        grad_ctxt.loop_enters.extend(t for t in (result.values, result.indices,
                                                 result.dense_shape) if t is not None)
    else:
        result = cf._enter(grad, grad_ctxt.name, is_constant=False,
                           parallel_iterations=grad_ctxt.parallel_iterations, name="b_exit")
        grad_ctxt.loop_enters.append(result)
    grad_ctxt.Exit()
    return result


@RegisterGradient("NextIteration")
@RegisterGradient("RefNextIteration")
def _next_iteration_grad(_, grad):
    return grad


@RegisterGradient("Enter")
@RegisterGradient("RefEnter")
def _enter_grad(op, grad):
    grad_ctxt = _current()
    if grad_ctxt is None or not isinstance(grad_ctxt, cf.WhileContext):
        return grad
    if not grad_ctxt.back_prop or grad_ctxt.grad_state is None:
        return grad
    if op._attr("is_constant", False):
        if isinstance(grad, ops_lib.Tensor):
            return grad_ctxt.add_backprop_accumulator(op, grad)
        if isinstance(grad, IndexedSlices):
            return grad_ctxt.add_backprop_indexed_slices_accumulator(op, grad)
        raise TypeError(f"Type {type(grad)} not supported, must be Tensor or IndexedSlices")
    result = cf.exit(grad)
    grad_ctxt.loop_exits.append(result)
    grad_ctxt.exit_result([result])
    return result


@RegisterGradient("LoopCond")
def _loop_cond_grad(op, *_):
    return None


for _op_type in ("ControlTrigger", "StackV2", "StackPushV2", "StackPopV2", "StackCloseV2"):
    no_gradient(_op_type)
