"""The backprop walk of ``gradients``: TF's ``_GradientsHelper`` for graphs without loops.

The ops between ``xs`` and ``ys`` (reachable forward from ``xs`` through trainable tensors and
backward from ``ys``) are visited in TF's order: a queue seeded with the ``ys`` ops, each op
entering it once every consumer inside that set has sent back its gradients. Several
contributions to one tensor are summed with ``AddN`` (named ``<scope>/AddN``, colocated with the
first contribution) or, for sparse ones, concatenated into one ``IndexedSlices``. Each op's
gradient function runs in the name scope ``<scope>/<op name>_grad``, so gradient graphs have
TF's node names.
"""

from __future__ import annotations

import collections
import contextlib
import weakref

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.framework.op_def_library import apply_op
from gmeta.gradients._indexed_slices import IndexedSlices
from gmeta.gradients._registry import get_gradient_function

_TRAINABLE = frozenset([dtypes.float16, dtypes.float32, dtypes.float64, dtypes.complex64,
                        dtypes.complex128, dtypes.resource, dtypes.variant, dtypes.bfloat16])

# Tensors made as the zero gradient of an output nothing depended on (TF's ``_is_zeros_tensor``
# tag; the softmax cross-entropy gradients skip their second-order term for them).
_ZEROS_TENSORS: weakref.WeakSet = weakref.WeakSet()


class AggregationMethod:
    """How ``gradients`` sums several contributions to one tensor (``tf.AggregationMethod``).

    ``ADD_N`` (the default): one ``AddN`` of all of them. ``EXPERIMENTAL_TREE`` and
    ``EXPERIMENTAL_ACCUMULATE_N``: a chain of two-input ``AddN`` nodes.
    """

    ADD_N = 0
    DEFAULT = ADD_N
    EXPERIMENTAL_TREE = 1
    EXPERIMENTAL_ACCUMULATE_N = 2


def is_trainable(t) -> bool:
    """Whether gradients flow through tensor ``t`` (float, complex, resource, variant)."""
    return t.dtype.base_dtype in _TRAINABLE


def is_zeros_tensor(t) -> bool:
    """Whether ``t`` is the zero gradient ``gradients`` made for an unused output."""
    return isinstance(t, ops_lib.Tensor) and t in _ZEROS_TENSORS


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


@contextlib.contextmanager
def _maybe_colocate_with(g, op, colocate):
    if colocate:
        with g.colocate_with(op):
            yield
    else:
        yield


# -- which ops take part ------------------------------------------------------------------------
def _mark_reached_ops(from_ops) -> set:
    reached: set = set()
    queue = collections.deque(from_ops)
    while queue:
        op = queue.popleft()
        if op in reached:
            continue
        reached.add(op)
        for out in op._outputs:
            if is_trainable(out):
                queue.extend(out.consumers())
    return reached


def _pending_count(to_ops, from_ops, colocate=False):
    """(ys ops reachable from xs ops, op -> number of its consumers between xs and ys, the
    while loops' ControlFlowState or None)."""
    reached = _mark_reached_ops(from_ops)
    reachable_to_ops = {op for op in to_ops if op in reached}
    between: set = set()
    between_list = []
    queue = collections.deque(to_ops)
    while queue:
        op = queue.popleft()
        if op in reached:
            between.add(op)
            between_list.append(op)
            reached.remove(op)
            queue.extend(t.op for t in op._inputs)
    loop_state = None
    if any(op._type in _EXIT_TYPES for op in between_list):  # v1 while loops
        from gmeta.gradients.control_flow_state import maybe_create_control_flow_state

        loop_state = maybe_create_control_flow_state(between_list, between, colocate)
    pending: dict = collections.defaultdict(int)
    for op in between_list:
        for t in op._inputs:
            if t.op in between:
                pending[t.op] += 1
    return reachable_to_ops, pending, loop_state


_EXIT_TYPES = frozenset(["Exit", "RefExit"])


def _stop_ops(from_ops, stop_gradient_ops, pending) -> set:
    """The xs ops with no xs op upstream, plus the stop_gradients ops: not differentiated."""
    stop = {op for op in from_ops if all(pending[t.op] <= 0 for t in op._inputs)}
    stop.update(stop_gradient_ops)
    return stop


# -- default grad_ys ----------------------------------------------------------------------------
def _default_grad_ys(grad_ys, ys, colocate, g):
    from gmeta.ops import array_ops

    if len(grad_ys) != len(ys):
        raise ValueError(f"Length mismatch. Passed {len(grad_ys)} grad_ys for {len(ys)} ys")
    grad_ys = [None if gy is None else ops_lib.convert_to_tensor_or_indexed_slices(
        gy, name=f"grad_y_{i}") for i, gy in enumerate(grad_ys)]
    out = []
    for i, (y, grad_y) in enumerate(zip(ys, grad_ys)):
        with _maybe_colocate_with(g, y.op, colocate):
            dt = y.dtype.base_dtype
            if grad_y is None:
                if dt.is_complex:
                    raise TypeError(f"Gradients of complex tensors ({y}) must set grad_ys "
                                    f"(y.dtype = {dt.name})")
                if not (dt.is_floating or dt.is_integer or dt == dtypes.bool):
                    raise TypeError(f"Cannot differentiate {y.name!r} (ys[{i}]) of dtype "
                                    f"{dt.name}: only numeric tensors have gradients")
                out.append(array_ops.ones(array_ops.shape(y), dtype=dt, name=f"grad_ys_{i}"))
                continue
            gdt = grad_y.dtype.base_dtype
            if dt.is_floating or dt.is_integer:
                if not (gdt.is_floating or gdt.is_integer):
                    raise TypeError(f"Gradient type {gdt.name} generated for real or "
                                    f"integer-valued tensor {y} with type {dt.name} must be "
                                    "real or integer")
            elif dt.is_complex:
                if not gdt.is_complex:
                    raise TypeError(f"Gradient type {gdt.name} generated for complex-valued "
                                    f"tensor {y} with type {dt.name} must be real")
            elif dt == dtypes.variant:
                if gdt != dtypes.variant:
                    raise TypeError(f"Gradient type {gdt.name} generated for variant tensor {y} "
                                    f"with type {dt.name} must be variant")
            elif dt == dtypes.resource:
                if gdt == dtypes.resource:
                    raise TypeError(f"Input gradient {grad_y} for resource tensor {y} should "
                                    "not be a resource")
            else:
                raise TypeError(f"Tensor {y} with type {dt.name} must be numeric to obtain a "
                                "default gradient")
            if isinstance(grad_y, IndexedSlices):
                def _ident(t, suffix, i=i):
                    if isinstance(t, ops_lib.Tensor):
                        return array_ops.identity(t, name=f"grad_ys_{i}_{suffix}")
                    return t

                indices = _ident(grad_y.indices, "indices")
                values = _ident(grad_y.values, "values")
                out.append(IndexedSlices(values, indices, _ident(grad_y.dense_shape, "shape")))
            else:
                out.append(array_ops.identity(grad_y, name=f"grad_ys_{i}"))
    return out


# -- aggregation ----------------------------------------------------------------------------------
def _multi_device_add_n(g, tensors):
    """Sums per device (each ``AddN`` colocated with its first term), then across devices."""
    from gmeta.ops import math_ops

    by_device: dict = collections.defaultdict(list)
    for t in tensors:
        by_device[t.device].append(t)
    summands = []
    for dev in sorted(by_device, key=lambda d: "" if d is None else d):
        group = by_device[dev]
        with g.colocate_with(group[0].op, ignore_existing=True):
            summands.append(math_ops.add_n(group))
    return math_ops.add_n(summands)


def _as_indexed_slices(x):
    from gmeta.ops import array_ops, math_ops

    if isinstance(x, IndexedSlices):
        return x
    x_shape = array_ops._shape_internal(x, optimize=True)
    return IndexedSlices(x, math_ops.range(0, x_shape[0]), x_shape)


def _aggregate_indexed_slices(grads):
    """TF's ``AggregateIndexedSlicesGradients``: AddN if any term is dense, else one
    IndexedSlices of the concatenated values and indices."""
    from gmeta.ops import array_ops, math_ops

    if len(grads) < 1:
        return None
    if len(grads) == 1:
        return grads[0]
    grads = [x for x in grads if x is not None]
    if any(isinstance(x, ops_lib.Tensor) for x in grads):
        # The sparse terms convert to dense inside the AddN's scope, as in TF's add_n.
        return apply_op("AddN", inputs=grads)
    grads = [_as_indexed_slices(x) for x in grads]
    int32 = [x for x in grads if x.indices.dtype.base_dtype == dtypes.int32]
    if int32 and len(int32) != len(grads):
        grads = [IndexedSlices(x.values, math_ops.cast(x.indices, dtypes.int64), x.dense_shape)
                 if x.indices.dtype.base_dtype == dtypes.int32 else x for x in grads]
    return IndexedSlices(array_ops.concat([x.values for x in grads], axis=0),
                         array_ops.concat([x.indices for x in grads], axis=0),
                         grads[0].dense_shape)


def _aggregated_grads(g, grads, op, aggregation_method, loop_state=None):
    from gmeta.ops import math_ops

    if aggregation_method is None:
        aggregation_method = AggregationMethod.DEFAULT
    valid = (AggregationMethod.ADD_N, AggregationMethod.EXPERIMENTAL_TREE,
             AggregationMethod.EXPERIMENTAL_ACCUMULATE_N)
    if aggregation_method not in valid:
        raise ValueError(f"Invalid `aggregation_method` specified {aggregation_method}. "
                         f"Accepted values are {list(valid)}.")
    out_grads = _get_grads(grads, op)
    for i, out_grad in enumerate(out_grads):
        if loop_state is not None and isinstance(out_grad, (ops_lib.Tensor, IndexedSlices)):
            continue  # a loop Switch's gradient, set when it was visited first
        if not all(isinstance(x, (ops_lib.Tensor, IndexedSlices)) for x in out_grad
                   if x is not None):
            raise TypeError(f"Invalid gradient {out_grad} [index = {i}]. Gradients have to be "
                            "either all Tensors or all IndexedSlices")
        if not out_grad:
            out_grads[i] = None
        elif len(out_grad) < 2:
            out_grads[i] = out_grad[0]
        elif all(isinstance(x, ops_lib.Tensor) for x in out_grad if x is not None):
            if aggregation_method in (AggregationMethod.EXPERIMENTAL_TREE,
                                      AggregationMethod.EXPERIMENTAL_ACCUMULATE_N):
                with g.name_scope(op.name + "_gradient_sum"):
                    running = out_grad[0]
                    for x in out_grad[1:]:
                        running = math_ops.add_n([running, x])
                    out_grads[i] = running
            else:
                out_grads[i] = _multi_device_add_n(g, out_grad)
        else:
            out_grads[i] = _aggregate_indexed_slices(out_grad)
    return out_grads


def _get_grads(grads, op):
    if op in grads:
        return grads[op]
    return [[] for _ in op._outputs]


def _set_grad(grads, t, grad):
    op_grads = grads.get(t.op)
    if not op_grads:
        op_grads = [[] for _ in t.op._outputs]
        grads[t.op] = op_grads
    t_grads = op_grads[t.value_index]
    if isinstance(t_grads, list):
        t_grads.append(grad)
    else:  # a loop Switch visited again, from the loop body
        op_grads[t.value_index] = grad


def _has_any_not_none_grads(grads, op) -> bool:
    for out_grad in _get_grads(grads, op):
        if isinstance(out_grad, (ops_lib.Tensor, IndexedSlices)):
            return True
        if out_grad and isinstance(out_grad, list) and any(x is not None for x in out_grad):
            return True
    return False


def _update_pending_and_enqueue_ready(grads, op, queue, pending, loop_state):
    """TF's ``_UpdatePendingAndEnqueueReady``: loop exits wait until all exits of their loop
    are ready; a loop Switch is ready again as soon as the body sends its gradient."""
    from gmeta.ops import while_v1 as cf

    for t in op._inputs:
        x = t.op
        pending[x] -= 1
        ready = pending[x] == 0
        if loop_state is not None and not ready:
            ready = pending[x] > 0 and cf.is_loop_switch(x)
        if not ready:
            continue
        if loop_state is not None and cf.is_loop_exit(x):
            grad_state = loop_state.get_grad_state(x, before=False)
            grad_state.deferred_exits.append(t)
            grad_state.pending_exits_count -= 1
            if grad_state.pending_exits_count == 0:
                has_not_none_grad = False
                for y in grad_state.deferred_exits:
                    if _has_any_not_none_grads(grads, y.op):
                        has_not_none_grad = True
                        queue.append(y.op)
                    else:
                        grad_state.unused_exits.append(y)
                if has_not_none_grad:
                    for y in grad_state.unused_exits:
                        if is_trainable(y):
                            _set_grad(grads, y, loop_state.zeros_like_for_exit(y))
                        queue.append(y.op)
                else:
                    for y in grad_state.unused_exits:
                        queue.append(y.op)
        else:
            queue.append(x)


def _zeros_like(t):
    from gmeta.ops import array_ops

    return array_ops.zeros_like(t, optimize=False)


def _get_grad(grads, t, unconnected_zero: bool):
    op_grads = grads.get(t.op)
    if not op_grads:
        return _zeros_like(t) if unconnected_zero else None
    t_grad = op_grads[t.value_index]
    if isinstance(t_grad, list):  # never aggregated (its op was not visited): none flowed
        t_grad = None
    if t_grad is None and unconnected_zero:
        return _zeros_like(t)
    return t_grad


# -- gating ---------------------------------------------------------------------------------------
def _with_dependencies(g, gate, t):
    from gmeta.ops import array_ops

    with ops_lib.name_scope_v1(None, "control_dependency", [gate, t]) as scope:
        with g.colocate_with(t.op):
            with g.control_dependencies([gate]):
                if isinstance(t, IndexedSlices):
                    return IndexedSlices(array_ops.identity(t.values, name=scope), t.indices,
                                         t.dense_shape)
                return array_ops.identity(t, name=scope)


def _tuple(g, tensors):
    """TF's ``control_flow_ops.tuple``: each tensor through an Identity gated on all of them."""
    from gmeta.ops import control_flow_ops

    with ops_lib.name_scope_v1(None, "tuple", [t for t in tensors if t is not None]):
        gating = sorted({t.op for t in tensors if t is not None}, key=lambda op: op._id)
        gate = control_flow_ops.group(*gating)
        return [None if t is None else _with_dependencies(g, gate, t) for t in tensors]


# -- the walk -------------------------------------------------------------------------------------
def _unconnected_is_zero(unconnected_gradients) -> bool:
    value = getattr(unconnected_gradients, "value", unconnected_gradients)
    if value in ("none", None):
        return False
    if value == "zero":
        return True
    raise ValueError(f"Unknown value for unconnected_gradients: '{unconnected_gradients}'")


def _missing_gradient_error(op) -> LookupError:
    return LookupError(
        f"No gradient defined for operation '{op.name}' (op type: {op.type}). Every op that "
        "gradients flow through needs a registered gradient function: register one with "
        f"@gm.RegisterGradient({op.type!r}) (a function (op, *output_grads) -> one gradient per "
        f"input), declare the op not differentiable with gm.no_gradient({op.type!r}), or stop "
        "gradients before it with gm.stop_gradient(...) to treat its output as a constant.")


def gradients(ys, xs, grad_ys=None, name="gradients", colocate_gradients_with_ops=False,
              gate_gradients=False, aggregation_method=None, stop_gradients=None,
              unconnected_gradients="none"):
    """Symbolic derivatives of ``sum(ys)`` with respect to each of ``xs`` (``tf.gradients``).

    Builds the same gradient subgraph TensorFlow 1.x builds (the same ops, names and inputs),
    under the name scope ``name``.

    Args:
        ys: a Tensor or list of Tensors to differentiate.
        xs: a Tensor, Variable or list of them to differentiate with respect to.
        grad_ys: optional initial gradients, one per ``ys`` (None entries: ones of y's shape).
        name: the name scope of the gradient ops.
        colocate_gradients_with_ops: place each op's gradients with the op.
        gate_gradients: pass each op's input gradients through a ``tuple`` so none is used
            before all are computed.
        aggregation_method: an :class:`AggregationMethod` value.
        stop_gradients: Tensors (or a Tensor) held constant: no gradient flows through them.
        unconnected_gradients: ``"none"`` (default) or ``"zero"``: what unconnected xs get.

    Returns:
        One entry per ``xs``: a Tensor, an :class:`IndexedSlices` (from gathers) or None where
        ``x`` does not affect ``ys`` (or no gradient flows to it: integer tensors, ops declared
        not differentiable).

    Raises:
        LookupError: an op on the path has no registered gradient function.
        TypeError: a ``ys`` tensor is not numeric, or a ``grad_ys`` entry has the wrong type.
        ValueError: lengths of ``ys``/``grad_ys`` differ, or a gradient's shape does not fit.
    """
    zero_unconnected = _unconnected_is_zero(unconnected_gradients)
    ys = _as_list(ys)
    xs = [getattr(x, "handle", x) if getattr(x, "_is_resource_variable", False) else x
          for x in _as_list(xs)]
    stop_gradients = [] if stop_gradients is None else _as_list(stop_gradients)
    grad_ys = [None] * len(ys) if grad_ys is None else _as_list(grad_ys)
    values = [v for v in list(ys) + list(xs) + list(stop_gradients) + list(grad_ys)
              if v is not None]
    with ops_lib.name_scope_v1(name, "gradients", values):
        g = ops_lib.get_default_graph()
        g.unique_name("uid")  # TF reserves this name for the call's gradient uid
        ys = [ops_lib.convert_to_tensor_or_indexed_slices(y, name=f"y_{i}")
              for i, y in enumerate(ys)]
        xs = [ops_lib.convert_to_tensor(x, name=f"x_{i}", as_ref=True)
              if not isinstance(x, (ops_lib.Tensor, IndexedSlices)) else x
              for i, x in enumerate(xs)]
        grad_ys = _default_grad_ys(grad_ys, ys, colocate_gradients_with_ops, g)

        to_ops = [t.op for t in ys]
        from_ops = [t.op for t in xs]
        stop_gradient_ops = [ops_lib.convert_to_tensor(t).op if not isinstance(
            t, ops_lib.Tensor) else t.op for t in stop_gradients]
        if g.get_collection_ref("while_context"):
            from gmeta.ops.while_v1 import restore_contexts

            restore_contexts(g)  # an imported graph's loops, for their gradients
        reachable_to_ops, pending, loop_state = _pending_count(to_ops, from_ops,
                                                               colocate_gradients_with_ops)

        grads: dict = {}
        for y, grad_y in zip(ys, grad_ys):
            _set_grad(grads, y, grad_y)

        queue = collections.deque()
        to_ops_set: set = set()
        for op in to_ops:
            if pending[op] == 0 and op not in to_ops_set and op in reachable_to_ops:
                to_ops_set.add(op)
                queue.append(op)

        if loop_state is not None:
            for y in loop_state.process_unused_loop_exits(pending, to_ops_set):
                if is_trainable(y):
                    _set_grad(grads, y, loop_state.zeros_like_for_exit(y))
                    queue.append(y.op)

        stop_ops = _stop_ops(from_ops, stop_gradient_ops, pending)
        while queue:
            op = queue.popleft()
            with _maybe_colocate_with(g, op, colocate_gradients_with_ops):
                if loop_state is not None:
                    loop_state.enter_grad_while_context(op, before=True)
                out_grads = _aggregated_grads(g, grads, op, aggregation_method, loop_state)
                if loop_state is not None:
                    loop_state.exit_grad_while_context(op, before=True)
                grad_fn = None
                has_out_grads = any(x is not None for x in out_grads)
                if has_out_grads and op not in stop_ops:
                    try:
                        grad_fn = get_gradient_function(op)
                    except LookupError:
                        raise _missing_gradient_error(op) from None
                if loop_state is not None:
                    loop_state.enter_grad_while_context(op, before=False)
                    _check_not_initial_loop_value(g, op)
                if grad_fn is not None and has_out_grads:
                    for i, out_grad in enumerate(out_grads):
                        if out_grad is None and is_trainable(op._outputs[i]) and \
                                op._outputs[i].dtype.base_dtype != dtypes.resource:
                            if loop_state is not None:
                                out_grads[i] = loop_state.zeros_like_v1_while_loop(op, i)
                                if out_grads[i] is None:
                                    continue
                            else:
                                out_grads[i] = _zeros_like(op._outputs[i])
                            _ZEROS_TENSORS.add(out_grads[i])
                    with g.name_scope(op.name + "_grad"):
                        in_grads = _as_list(grad_fn(op, *out_grads))
                        if len(in_grads) != len(op._inputs):
                            raise ValueError(f"Num gradients {len(in_grads)} generated for op "
                                             f"{op.node_def} do not match num inputs "
                                             f"{len(op._inputs)}")
                        if gate_gradients and sum(x is not None for x in in_grads) > 1:
                            with g.device(None):
                                with g.colocate_with(None, ignore_existing=True):
                                    in_grads = _tuple(g, in_grads)
                else:
                    in_grads = [None] * len(op._inputs)
                for i, (t_in, in_grad) in enumerate(zip(op._inputs, in_grads)):
                    if in_grad is None:
                        continue
                    if isinstance(in_grad, ops_lib.Tensor) and \
                            t_in.dtype.base_dtype != dtypes.resource:
                        try:
                            in_grad.set_shape(t_in.shape)
                        except ValueError:
                            raise ValueError(
                                "Incompatible shapes between op input and calculated input "
                                f"gradient. Forward operation: {op.name}. Input index: {i}. "
                                f"Original input shape: {t_in.shape}. Calculated input "
                                f"gradient shape: {in_grad.shape}") from None
                    _set_grad(grads, t_in, in_grad)
                if loop_state is not None:
                    loop_state.exit_grad_while_context(op, before=False)
            if loop_state is not None:
                _update_pending_and_enqueue_ready(grads, op, queue, pending, loop_state)
            else:
                for t in op._inputs:
                    pending[t.op] -= 1
                    if pending[t.op] == 0:
                        queue.append(t.op)
        if loop_state is not None:
            loop_state.post_processing()
    return [_get_grad(grads, x, zero_unconnected) for x in xs]


def _check_not_initial_loop_value(g, op):
    """TF's rule: no gradient with respect to a loop variable's value from outside the loop,
    when ``gradients`` is called inside that loop's body."""
    from gmeta.ops import while_v1 as cf

    ctx = cf.get_context(op)
    if cf.is_switch(op) and isinstance(ctx, cf.WhileContext) and \
            ctx is g._get_control_flow_context():
        raise ValueError(f"Cannot compute gradient inside while loop with respect to op "
                         f"'{op.inputs[0].op.name}'. We do not support taking the gradient "
                         "wrt or through the initial value of a loop variable. Gradients can "
                         "be computed through loop invariants or wrt the input parameters to "
                         "the loop body.")
