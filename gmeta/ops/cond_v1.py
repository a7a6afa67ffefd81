"""TF 1.x ``tf.cond`` (v1 control flow: ``Switch``/``Merge``) and ``tf.case``.

``cond`` builds TF's exact graph: ``cond/Switch(pred, pred)``, the pivots ``cond/switch_t`` and
``cond/switch_f``, ``cond/pred_id``, each branch in a :class:`CondContext` that routes every
outside tensor a branch op reads through its own ``Switch`` (named in the name scope current
when the reading op was made, as TF does), and ``cond/Merge``. Top-level conds record their two
``CondContextDef`` protos in the ``cond_context`` collection.

The contexts see every op created while they are active through a hook on the graph's op
registration, installed on the first ``cond`` call.
"""

from __future__ import annotations

from gmeta import _cond_exec  # noqa: F401  (registers the Switch/Merge kernels)
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework.meta_graph import ProtoCollectionItem
from gmeta.ops._nest import flatten as _flatten
from gmeta.ops._nest import pack_sequence_as as _pack

__all__ = ["cond", "case"]

def _current(g):
    return g._get_control_flow_context()


def _set_current(g, ctx):
    g._set_control_flow_context(ctx)


def _switch_ref_or_tensor(data, pred, name="Switch"):
    g = data.graph
    with g.colocate_with(data.op, ignore_existing=True):
        op_type = "RefSwitch" if data.dtype.is_ref_dtype else "Switch"
        return op_def_library.apply_op(op_type, data=data, pred=pred, name=name)


class CondContext:
    """One branch of a v1 cond: the values it has seen and the Switches it made for outside ones.
    """

    def __init__(self, pred, pivot, branch):
        g = pred.graph
        self._graph = g
        self.name = g.unique_name("cond_text")
        self.pred = pred
        self.pivot = pivot
        self.branch = branch
        self.outer = _current(g)
        self.nested = []
        if self.outer is not None:
            self.outer.nested.append(self)
        self._values = {pred.name, pivot.name}
        self._external = {pred.name: pred}
        self._saved = None

    def __enter__(self):
        self._saved = _current(self._graph)
        _set_current(self._graph, self)
        return self

    def __exit__(self, *exc):
        _set_current(self._graph, self._saved)

    def _mark_seen(self, names):
        ctx = self
        while ctx is not None:
            ctx._values.update(names)
            ctx = ctx.outer

    def _switch_outside_context(self, val):
        g = self._graph
        saved = _current(g)
        _set_current(g, None)
        try:
            with g.control_dependencies(None):
                return _switch_ref_or_tensor(val, self.pred)[self.branch]
        finally:
            _set_current(g, saved)

    def add_value(self, val):
        """``val`` as seen inside this branch: itself, or a Switch of it made once."""
        if val.name in self._values:
            result = self._external.get(val.name)
            return val if result is None else result
        result = val
        self._values.add(val.name)
        if self.outer is not None:
            result = self.outer.add_value(val)
            self._values.add(result.name)
            self._external[result.name] = result
        result = self._switch_outside_context(result)
        self._mark_seen([result.name])
        self._external[val.name] = result
        return result

    def add_op(self, op):
        """Routes ``op``'s outside inputs through Switches (or gates it on the pivot)."""
        if not op._inputs:
            if not any(_in_context(c, self) for c in op._control_inputs):
                op._add_control_input(self.pivot.op)
        else:
            for i, x in enumerate(list(op._inputs)):
                real = self.add_value(x)
                if real is not x:
                    from gmeta.ops.control_flow_util import update_input  # imports this module

                    update_input(op, i, real)
        self._mark_seen([t.name for t in op._outputs])
        _CONTEXT_OF[op] = self

    def _process_output(self, val):
        real = val
        if val.name not in self._values:
            self._values.add(val.name)
            if self.outer is not None:
                real = self.outer.add_value(val)
                self._values.add(real.name)
                self._external[real.name] = real
            real = _switch_ref_or_tensor(real, self.pred)[self.branch]
            self._external[val.name] = real
        else:
            ext = self._external.get(val.name)
            if ext is not None:
                real = ext
        return real

    def _build_tensor(self, v):
        from gmeta.ops import control_flow_ops

        if isinstance(v, ops_lib.Operation):
            return control_flow_ops.with_dependencies([v], self.pivot)
        return self._process_output(ops_lib.convert_to_tensor(v))

    def build_branch(self, fn):
        """Runs ``fn`` in this context; returns (its result, the tensors to merge)."""
        from gmeta.ops import control_flow_ops

        original = fn()
        if original is None:
            return control_flow_ops.no_op(), None
        if isinstance(original, ops_lib.Operation):
            return original, self._build_tensor(original)
        flat = _flatten(original)
        return original, [self._build_tensor(v) for v in flat]

    def exit_result(self, result):
        if self.outer is not None and result is not None:
            for x in result:
                self.outer._values.add(x.name)

    def to_proto(self, export_scope=None):
        """This branch as TF's ``CondContextDef``."""
        return cond_context_def(self)


def cond_context_def(ctx):
    """TF's ``CondContextDef`` of a cond branch context (built here or imported), with the
    contexts nested in it: conds and while loops."""
    from gmeta.ops.control_flow_util import is_while_context
    from gmeta.proto import CondContextDef

    d = CondContextDef()
    d.context_name = ctx.name
    d.pred_name = ctx.pred.name
    d.pivot_name = ctx.pivot.name
    d.branch = ctx.branch
    d.values_def.values.extend(sorted(ctx._values))
    for k, v in ctx._external.items():
        d.values_def.external_values[k] = v.name
    for n in ctx.nested:
        sub = d.nested_contexts.add()
        if is_while_context(n):
            sub.while_ctxt.CopyFrom(n.to_proto())
        else:
            sub.cond_ctxt.CopyFrom(n.to_proto())
    return d


# The context each op was created in (weak: ops die with their graph).
import weakref  # noqa: E402

_CONTEXT_OF: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _in_context(op, ctx) -> bool:
    c = _CONTEXT_OF.get(op)
    while c is not None:
        if c is ctx:
            return True
        c = c.outer
    return False




def _merge(inputs):
    with ops_lib.name_scope_v1(None, "Merge", inputs) as scope:
        op_type = "RefMerge" if all(t.dtype.is_ref_dtype for t in inputs) else "Merge"
        return op_def_library.apply_op(op_type, inputs=list(inputs), name=scope)


def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """``true_fn()`` if ``pred`` else ``false_fn()``, chosen at run time (TF 1.x ``tf.cond``).

    Only the branch taken runs: ops of the other branch receive dead tensors and are skipped.

    Args:
        pred: A scalar bool tensor.
        true_fn: Callable returning the result when ``pred`` is true.
        false_fn: Callable returning a result of the same structure and dtypes otherwise.
        strict: When False, a single-element list/tuple result is unpacked.
        name: Name scope for the ops (default ``cond``).
        fn1: Deprecated alias of ``true_fn``.
        fn2: Deprecated alias of ``false_fn``.

    Returns:
        The merged result, with ``true_fn()``'s structure.

    Raises:
        TypeError: ``pred`` is a Python bool, or a branch is not callable.
        ValueError: the branches return different structures or dtypes, or nothing.
    """
    true_fn = true_fn if true_fn is not None else fn1
    false_fn = false_fn if false_fn is not None else fn2
    if not callable(true_fn):
        raise TypeError("true_fn must be callable.")
    if not callable(false_fn):
        raise TypeError("false_fn must be callable.")
    if isinstance(pred, bool):
        raise TypeError("pred must not be a Python bool")
    with ops_lib.name_scope_v1(name, "cond", [pred]):
        with ops_lib.name_scope_v1(None, "Switch", [pred, pred]) as scope:
            pred = ops_lib.convert_to_tensor(pred, name="pred")
            p_2, p_1 = op_def_library.apply_op("Switch", data=pred, pred=pred, name=scope)
        pivot_1 = op_def_library.apply_op("Identity", input=p_1, name="switch_t")
        pivot_2 = op_def_library.apply_op("Identity", input=p_2, name="switch_f")
        pred = op_def_library.apply_op("Identity", input=pred, name="pred_id")

        ctx_t = CondContext(pred, pivot_1, branch=1)
        with ctx_t:
            orig_t, res_t = ctx_t.build_branch(true_fn)
            if orig_t is None:
                raise ValueError("'true_fn' must have a return value.")
            ctx_t.exit_result(res_t if isinstance(res_t, list) else None)
        ctx_f = CondContext(pred, pivot_2, branch=0)
        with ctx_f:
            orig_f, res_f = ctx_f.build_branch(false_fn)
            if orig_f is None:
                raise ValueError("'false_fn' must have a return value.")
            ctx_f.exit_result(res_f if isinstance(res_f, list) else None)

        flat_t = res_t if isinstance(res_t, list) else [res_t]
        flat_f = res_f if isinstance(res_f, list) else [res_f]
        if len(flat_t) != len(flat_f) or _structure(orig_t) != _structure(orig_f):
            raise ValueError("true_fn and false_fn arguments to tf.cond must have the same number,"
                             f" type, and overall structure of return values.\n\ntrue_fn output: "
                             f"{orig_t}\nfalse_fn output: {orig_f}")
        for i, (x, y) in enumerate(zip(flat_t, flat_f)):
            if x.dtype.base_dtype != y.dtype.base_dtype:
                raise ValueError(f"Outputs of true_fn and false_fn must have the same type: "
                                 f"{x.dtype.name}, {y.dtype.name} (output {i})")
        merges = [_merge([f, t])[0] for f, t in zip(flat_f, flat_t)]

        if ctx_t.outer is None:
            g = pred.graph
            g.add_to_collection("cond_context", ProtoCollectionItem(ctx_t.to_proto()))
            g.add_to_collection("cond_context", ProtoCollectionItem(ctx_f.to_proto()))

        if isinstance(orig_t, ops_lib.Operation):
            result = merges[0]
        else:
            result = _pack(orig_t, merges)
        if not strict and isinstance(result, (list, tuple)) and len(result) == 1 \
                and not hasattr(result, "_fields"):
            result = result[0]
        return result


def _structure(x):
    if isinstance(x, (list, tuple)):
        return (type(x).__name__ if hasattr(x, "_fields") else "seq", [_structure(v) for v in x])
    if isinstance(x, dict):
        return ("dict", {k: _structure(v) for k, v in x.items()})
    return None


def case(pred_fn_pairs, default=None, exclusive=False, strict=False, name="case"):
    """The result of the first ``fn`` whose ``pred`` is true, else ``default()`` (TF 1.x).

    Built as TF does: a chain of nested ``cond``s, last pair innermost.
    """
    if isinstance(pred_fn_pairs, dict):
        pred_fn_pairs = list(pred_fn_pairs.items())
    pairs = list(pred_fn_pairs)
    for pf in pairs:
        if not isinstance(pf, tuple) or len(pf) != 2:
            raise TypeError("Each entry in pred_fn_pairs must be a 2-tuple")
        if not callable(pf[1]):
            raise TypeError(f"fn for pred {pf[0]} must be callable.")
    if exclusive:
        raise NotImplementedError("tf.case(exclusive=True) is not supported by gmeta yet")
    if default is None:
        if not pairs:
            raise ValueError("pred_fn_pairs is empty and no default was given")
        pairs, default = pairs[:-1], pairs[-1][1]
    with ops_lib.name_scope_v1(name, "case", [p for p, _ in pairs]):
        fn = default
        for pred, f in reversed(pairs):
            fn = _make_cond_fn(pred, f, fn, strict)
        return fn()


def _make_cond_fn(pred, true_fn, false_fn, strict):
    return lambda: cond(pred, true_fn=true_fn, false_fn=false_fn, strict=strict)


# -- static shapes (TF's Switch / Merge shape functions) -----------------------------------------
from gmeta.framework import shape_inference as _si  # noqa: E402
from gmeta.framework.tensor_shape import TensorShape as _TensorShape  # noqa: E402


@_si.register("Switch", "RefSwitch")
def _switch_shape(op):
    return [op.inputs[0].shape, op.inputs[0].shape]


@_si.register("Merge", "RefMerge")
def _merge_shape(op):
    shapes = [t.shape for t in op.inputs]
    out = shapes[0]
    for s in shapes[1:]:
        if out.ndims is None or s.ndims is None or out.ndims != s.ndims:
            out = _TensorShape(None)
            break
        out = _TensorShape([a if a == b else None for a, b in zip(out.as_list(), s.as_list())])
    return [out, []]
