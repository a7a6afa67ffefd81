"""TF's ``control_flow_util`` for gmeta's v1 conds and loops: which context an op is in.

Ops made inside a ``gm.cond`` branch or a ``gm.while_loop`` are recorded against their context
(cond_v1's ``_CONTEXT_OF``); these helpers answer TF's questions about them (``get_context``,
``get_while_context``, ``get_output_context``, ``is_loop_exit``, ``is_loop_switch``, ...), edit
inputs in place (``update_input``), and bring the ``while_context`` collection of an imported
graph back to live contexts (:func:`restore_contexts`, called by ``gradients``).
"""

from __future__ import annotations

import contextlib

from gmeta.framework import ops as ops_lib
from gmeta.ops.cond_v1 import _CONTEXT_OF, CondContext

WHILE_CONTEXT = "while_context"


def get_context(op):
    """The control-flow context ``op`` was made in (or put in), None at top level.

    gmeta's cond makes a branch's input ``Switch`` outside every context; it belongs to the
    branch that reads it through its external values (TF puts it in that CondContext)."""
    ctx = _CONTEXT_OF.get(op)
    if ctx is None and op._type in ("Switch", "RefSwitch"):
        ctx = _cond_branch_of_switch(op)
        if ctx is not None:
            _CONTEXT_OF[op] = ctx
    return ctx


def _cond_branch_of_switch(op):
    outs = set(op._outputs)
    for t in op._outputs:
        for c in t.consumers():
            cc = _CONTEXT_OF.get(c)
            if isinstance(cc, CondContext) and any(v in outs for v in cc._external.values()):
                return cc
    return None


def set_context(op, ctx) -> None:
    if ctx is None:
        _CONTEXT_OF.pop(op, None)
    else:
        _CONTEXT_OF[op] = ctx


def is_switch(op) -> bool:
    return op.type in ("Switch", "RefSwitch")


def is_merge(op) -> bool:
    return op.type in ("Merge", "RefMerge")


def is_loop_enter(op) -> bool:
    return op.type in ("Enter", "RefEnter")


def is_loop_exit(op) -> bool:
    return op.type in ("Exit", "RefExit")


def is_loop_constant_enter(op) -> bool:
    return is_loop_enter(op) and bool(op._attr("is_constant", False))


def is_while_context(ctx) -> bool:
    return getattr(ctx, "is_while_context", False)


def is_cond_context(ctx) -> bool:
    return ctx is not None and not is_while_context(ctx)


def while_of(ctx):
    """``ctx`` if it is a WhileContext, else its nearest enclosing one (None if none)."""
    while ctx is not None:
        if is_while_context(ctx):
            return ctx
        ctx = ctx.outer
    return None


def get_while_context(op):
    return while_of(get_context(op))


def get_output_context(op):
    """The context of ``op``'s outputs: an Exit's outputs live in its loop's outer context."""
    ctx = get_context(op)
    if ctx is not None and is_loop_exit(op):
        ctx = ctx.outer
    return ctx


def is_containing_context(ctx, maybe_containing) -> bool:
    while ctx is not maybe_containing:
        if ctx is None:
            return False
        ctx = ctx.outer
    return True


def is_cond_switch(op) -> bool:
    if not is_switch(op) or not op._outputs:
        return False
    result = True
    for o in op._outputs:
        for c in o.consumers():
            ctxt = get_context(c)
            if is_loop_enter(c) and ctxt is not None:
                ctxt = ctxt.outer
            result = result and is_cond_context(ctxt)
    return result


def is_loop_switch(op) -> bool:
    if is_switch(op):
        ctx = get_context(op)
        return is_while_context(ctx) and not is_cond_switch(op)
    return False


def get_loop_constant_enter(value):
    """The constant Enter ``value`` comes from through Switch/Identity ops, else None."""
    op = value.op
    while op.type in ("Switch", "RefSwitch", "Identity", "RefIdentity"):
        op = op._inputs[0].op
    return op if is_loop_constant_enter(op) else None


def control_pivot(ctx):
    """The tensor input-less ops of ``ctx`` are gated on (TF's ``GetControlPivot``)."""
    if is_while_context(ctx):
        return ctx.pivot_for_body if ctx.pivot_for_body is not None else ctx.pivot_for_pred
    return getattr(ctx, "pivot", None)


def add_name(ctx, name) -> None:
    ctx._values.add(name)


def enter_context(ctx) -> None:
    """Makes ``ctx`` (a loop's or a cond branch's context) the graph's current one."""
    if ctx is None:
        return
    if hasattr(ctx, "Enter"):
        ctx.Enter()
    else:  # gmeta's CondContext
        ctx.__enter__()


def exit_context(ctx) -> None:
    if ctx is None:
        return
    if hasattr(ctx, "Exit"):
        ctx.Exit()
    else:
        ctx.__exit__(None, None, None)


@contextlib.contextmanager
def no_control_dependencies(g):
    """TF's ``control_dependencies(None)``: no control inputs *and* no control-flow context
    (ops made in the block are not added to the current loop or cond)."""
    saved = g._get_control_flow_context()
    g._set_control_flow_context(None)
    try:
        with g.control_dependencies(None):
            yield
    finally:
        g._set_control_flow_context(saved)


# -- graph surgery --------------------------------------------------------------------------------
def update_input(op, index, tensor) -> None:
    """Replaces ``op``'s input ``index`` by ``tensor`` (TF's ``Operation._update_input``)."""
    g = op._graph
    old = op._inputs[index]
    users = g._consumers.get(old)
    if users and op in users:
        users.remove(op)
    op._inputs[index] = tensor
    g._consumers.setdefault(tensor, []).append(op)
    g._version += 1


def remove_all_control_inputs(op) -> None:
    for c in op._control_inputs:
        if op in c._control_outputs:
            c._control_outputs.remove(op)
    op._control_inputs = []
    op._graph._version += 1


def remove_external_control_edges(ctx, op):
    """Drops ``op``'s control inputs from outside ``ctx``'s loop; returns (kept, dropped)."""
    while_ctxt = while_of(ctx)
    if while_ctxt is None:
        return list(op._control_inputs), []
    internal, external = [], []
    for x in op._control_inputs:
        c = get_output_context(x)
        if c is not None and while_of(c) is while_ctxt:
            internal.append(x)
        else:
            external.append(x)
    if len(internal) != len(op._control_inputs):
        remove_all_control_inputs(op)
        op._add_control_inputs(internal)
    return internal, external


# -- imported contexts ----------------------------------------------------------------------------
class _ImportedCondContext:
    """A ``CondContextDef`` read back from an imported graph (what gradients need of it)."""

    def __init__(self, d, import_scope):
        from gmeta.framework.meta_graph import prepend_name_scope

        g = ops_lib.get_default_graph()
        self._graph = g
        self.outer = g._get_control_flow_context()
        self.nested: list = []
        if self.outer is not None:
            self.outer.nested.append(self)
        self.name = prepend_name_scope(d.context_name, import_scope)
        self.pred = g.as_graph_element(prepend_name_scope(d.pred_name, import_scope))
        self.pivot = g.as_graph_element(prepend_name_scope(d.pivot_name, import_scope))
        self.branch = d.branch
        self._values: set = set()
        self._external: dict = {}
        self._context_stack: list = []
        init_values_from_proto(self, d.values_def, import_scope)

    def Enter(self):  # noqa: N802
        g = self._graph
        self._context_stack.append(g._get_control_flow_context())
        g._set_control_flow_context(self)

    def Exit(self):  # noqa: N802
        self._graph._set_control_flow_context(self._context_stack.pop())

    def add_value(self, val):
        actual = self._external.get(val.name)
        return val if actual is None else actual

    def add_op(self, op):
        set_context(op, self)
        for x in op._outputs:
            self._values.add(x.name)

    def to_proto(self, export_scope=None):
        from gmeta.ops.cond_v1 import cond_context_def

        return cond_context_def(self)


def init_values_from_proto(ctx, values_def, import_scope):
    """Sets ``ctx``'s seen and external values from a ``ValuesDef``, and its ops' context."""
    from gmeta.framework.meta_graph import prepend_name_scope

    g = ctx._graph
    ctx._values = {prepend_name_scope(v, import_scope) for v in values_def.values}
    ctx._external = {}
    for k, v in values_def.external_values.items():
        ctx._external[prepend_name_scope(k, import_scope)] = g.as_graph_element(
            prepend_name_scope(v, import_scope))
    op_names = {v.split(":")[0] for v in ctx._values - set(ctx._external)}
    for name in op_names:
        set_context(g.as_graph_element(name), ctx)


def from_control_flow_context_def(d, import_scope=None):
    """A live context for a ``ControlFlowContextDef`` (nested ones included)."""
    if d.HasField("while_ctxt"):
        from gmeta.ops.while_v1 import WhileContext

        return WhileContext.from_proto(d.while_ctxt, import_scope)
    ctx = _ImportedCondContext(d.cond_ctxt, import_scope)
    ctx.Enter()
    for nested in d.cond_ctxt.nested_contexts:
        from_control_flow_context_def(nested, import_scope)
    ctx.Exit()
    return ctx


def restore_contexts(graph) -> None:
    """Turns the ``while_context`` collection's imported protos into live WhileContexts (once
    per graph), so gradients of imported loops can be built."""
    from gmeta.framework.meta_graph import ProtoCollectionItem
    from gmeta.ops.while_v1 import WhileContext

    items = graph.get_collection_ref(WHILE_CONTEXT)
    if not any(isinstance(it, ProtoCollectionItem) for it in items):
        return
    saved = graph._get_control_flow_context()
    graph._set_control_flow_context(None)
    try:
        with graph.as_default():
            for i, it in enumerate(items):
                if isinstance(it, ProtoCollectionItem):
                    items[i] = WhileContext.from_proto(it.proto)
    finally:
        graph._set_control_flow_context(saved)
