"""Plans: a pruned, ordered list of kernel closures with precomputed argument slots.

A plan is compiled once per (fetches, feeds, graph version) and reused (design invariant 4).
Running it does no name lookups and no attr decoding: it is a loop over
``(closure, input slots, output slot(s), op)`` tuples writing into one list of values.

Lean plans (no v1 cond) plan their memory from the plan's liveness when they are compiled:
kernels that declare an ``inplace`` variant write into an input buffer dying with them that the
plan owns, and large values are dropped after their last reader by steps with no inputs that
store None (gmeta/_plan_memory.py). GMETA_NO_INPLACE=1 / GMETA_NO_RELEASE=1 (or the
module flags ``INPLACE`` / ``RELEASE``) turn either off.
"""

from __future__ import annotations

import os

import numpy as np

from gmeta import _cond_exec, _loop_exec, _trace, dtypes, errors
from gmeta._device_steps import TransferStats, building_on, copier, copy_destination, on_device
from gmeta._plan_memory import large, plan_memory, with_releases
from gmeta.kernels import KernelContext, devices_with_kernel, lookup
from gmeta.kernels.state import VarRef, read_ref

# Ops whose output may be (a view of) their first input: a fetched value produced through them
# from a variable's storage is copied, so the caller can never mutate a variable by accident.
_FORWARDING = frozenset(["Identity", "StopGradient", "Snapshot", "Reshape", "ExpandDims",
                         "Squeeze", "PlaceholderWithDefault", "IdentityN", "PreventGradient",
                         "Transpose", "StridedSlice", "Slice", "Unpack", "Split", "SplitV"])


# Steps a lean plan (no v1 cond) does without: ops whose output is their input, and ops whose
# output is fixed when the plan is compiled (a constant, a variable's reference).
_ALIASED = frozenset(["Identity", "StopGradient", "PreventGradient", "Snapshot"])
_PREFILLED = frozenset(["Const", "VariableV2", "Variable"])

# Ops that read only their inputs' shapes: their inputs are never copied across devices.
_METADATA_ONLY = frozenset(["Shape", "ShapeN", "Size", "Rank"])

# Memory planning of lean plans, from the plan's liveness; both flags are read when a plan is
# compiled. INPLACE (``plan_memory``): a kernel that declares an ``inplace`` variant
# (gmeta/kernels/__init__.py) writes its result into an input that dies with it when the plan
# owns that input's buffer; GMETA_NO_INPLACE=1 turns it off. RELEASE (``with_releases``): a
# value of at least _plan_memory.RELEASE_MIN_ELEMENTS elements is dropped after the last step
# reading it, instead of at the end of the run; GMETA_NO_RELEASE=1 turns it off.
INPLACE = os.environ.get("GMETA_NO_INPLACE", "") in ("", "0")
# PRUNE_CONDS (``_static_conds``): a v1 cond whose predicate is known when the plan is compiled
# runs only its taken branch, in a lean plan; GMETA_NO_COND_PRUNING=1 turns it off.
PRUNE_CONDS = os.environ.get("GMETA_NO_COND_PRUNING", "") in ("", "0")
RELEASE = os.environ.get("GMETA_NO_RELEASE", "") in ("", "0")


def _host_memory_inputs(op, device_type) -> frozenset:
    """The input indices of ``op`` that its kernel on ``device_type`` takes in host memory (the
    ``host_memory`` arg names of its ``@kernel`` registration, as TF's kernels declare them:
    shape-like int arguments, read with ``tolist``): on a GPU node they stay where they are
    instead of being copied to the device."""
    kdef = lookup(op._type, device_type)
    names = kdef.host_memory if kdef is not None else ()
    if not names:
        return frozenset()
    return frozenset(i for i, arg in enumerate(_input_args(op)) if arg.name in names)


class SessionState:
    """Per-Session resources shared by all of its plans: variables, random streams."""

    def __init__(self):
        self.variables: dict = {}
        self.random: dict = {}


def _input_args(op) -> list:
    """The OpDef input arg each of ``op``'s inputs belongs to (list args expanded); None past
    what the OpDef declares, or for an op without one."""
    n = len(op._inputs)
    op_def = op._op_def
    if op_def is None:
        return [None] * n
    args = []
    for arg in op_def.input_arg:
        if arg.number_attr:
            count = op._attr(arg.number_attr, 0)
        elif arg.type_list_attr:
            count = len(op._attr(arg.type_list_attr, []) or [])
        else:
            count = 1
        args.extend([arg] * count)
    return (args + [None] * n)[:n]


def _input_is_ref(op) -> list:
    return [arg is not None and arg.is_ref for arg in _input_args(op)]


def _single_output(op) -> bool:
    """Whether the op's kernel returns its one output bare (not in a sequence): exactly one
    output that is not a list-typed output arg (``N * T`` or a type list)."""
    if len(op._outputs) != 1:
        return False
    op_def = op._op_def
    if op_def is None:
        return True
    args = op_def.output_arg
    return len(args) == 1 and not args[0].number_attr and not args[0].type_list_attr


def _find_cycle(ops, deps) -> list:
    """Names along one cycle among ``ops`` (those Kahn's algorithm could not order)."""
    remaining = set(ops)
    start = next(iter(ops))
    path, seen = [start], {start: 0}
    node = start
    while True:
        nxt = next((d for d in deps[node] if d in remaining), None)
        if nxt is None:
            return [op.name for op in path]
        if nxt in seen:
            return [op.name for op in path[seen[nxt]:]] + [nxt.name]
        seen[nxt] = len(path)
        path.append(nxt)
        node = nxt


def _wrap_error(e: Exception, op, args) -> errors.OpError:
    if type(e).__name__ == "OutOfMemoryError":  # cupy.cuda.memory.OutOfMemoryError
        return errors.ResourceExhaustedError(
            None, op, f"OOM when running node '{op.name}' (op {op.type}) on its GPU: {e}. "
                      "Reduce the batch size, place some nodes on another device "
                      "(gm.device / device_map) or on the CPU.")
    if isinstance(e, errors.OpError):
        if e.op is None or e.op is op:
            msg = e.message
            if op.name not in msg:
                msg = f"{msg} (node '{op.name}', op {op.type})"
            return type(e)(e.node_def, op, msg)
        return e
    shapes = ", ".join(f"{getattr(a, 'dtype', type(a).__name__)}{list(getattr(a, 'shape', ()))}"
                       for a in args)
    return errors.InvalidArgumentError(
        None, op, f"{type(e).__name__} in kernel of node '{op.name}' (op {op.type}) with inputs "
                  f"({shapes}): {e}")


def _fp_state():
    """numpy 2's floating-point error state (a context variable), to set without building an
    ``np.errstate`` per run (a third of a tiny step); None where numpy keeps that state
    otherwise (1.x)."""
    try:
        from numpy._core._ufunc_config import _extobj_contextvar as var
    except ImportError:
        return None
    return var


_FP_STATE = _fp_state()
_fp_ignoring = (None, None)  # (a caller's state, that state with every error ignored)


def _ignore_fp_errors():
    """Sets the caller's floating-point state with every error ignored, as entering
    ``np.errstate(all="ignore")`` does (its buffer size and error callback kept); the token
    to reset it with."""
    global _fp_ignoring
    current = _FP_STATE.get()
    seen, ignoring = _fp_ignoring
    if seen is not current:
        with np.errstate(all="ignore"):
            ignoring = _FP_STATE.get()
        _fp_ignoring = (current, ignoring)
    return _FP_STATE.set(ignoring)


class Plan:
    """A compiled, reusable execution of one (fetches, feeds) signature."""

    __slots__ = ("steps", "n_slots", "feed_slots", "fetch_slots", "copy_fetch", "feeds",
                 "fetches", "targets", "ops", "transfers", "template")

    def run(self, feed_values) -> list:
        vals = self.template.copy()  # values known when the plan was compiled (constants)
        for slot, value in zip(self.feed_slots, feed_values):
            vals[slot] = value
        if _FP_STATE is None:
            with np.errstate(all="ignore"):
                run_steps(self.steps, vals)
        else:
            token = _ignore_fp_errors()
            try:
                run_steps(self.steps, vals)
            finally:
                _FP_STATE.reset(token)
        out = [vals[i] for i in self.fetch_slots]
        for i in self.copy_fetch:
            out[i] = out[i].copy()
        return out


def run_steps(steps, vals) -> None:
    """Runs plan steps ``(kernel, input slots, output slot or slots, op)`` over ``vals``; a
    failing kernel's error leaves naming its node (``_wrap_error``)."""
    ins = op = None
    try:
        for fn, ins, out, op in steps:  # noqa: B007  (op names a failing step)
            n = len(ins)
            if n == 1:
                r = fn(vals[ins[0]])
            elif n == 2:
                r = fn(vals[ins[0]], vals[ins[1]])
            elif n == 0:
                r = fn()
            else:
                r = fn(*[vals[i] for i in ins])
            if out.__class__ is int:
                vals[out] = r
            elif out:
                for o, v in zip(out, r):
                    vals[o] = v
    except Exception as e:  # every kernel error leaves with its node named
        args = [vals[i] for i in ins] if ins else ()
        raise _wrap_error(e, op, args) from (None if isinstance(e, errors.OpError) else e)


def topo_order(deps, key):
    """``(order, waiting)``: the keys of ``deps`` (node -> the nodes it waits for, each a key
    too) each after what it waits for, the ready ones taken in ``key`` order at first and then
    as they become ready (Kahn's); ``order`` is short when there is a cycle, whose nodes keep a
    nonzero count in ``waiting``."""
    users: dict = {n: [] for n in deps}
    for n, d in deps.items():
        for p in d:
            users[p].append(n)
    indeg = {n: len(d) for n, d in deps.items()}
    ready = sorted((n for n, k in indeg.items() if k == 0), key=key, reverse=True)
    order = []
    while ready:
        n = ready.pop()
        order.append(n)
        for u in users[n]:
            indeg[u] -= 1
            if indeg[u] == 0:
                ready.append(u)
    return order, indeg


def bind_kernel(op, device_type, xp, state, device=None):
    """The closure of ``op``'s kernel on ``device_type`` (its factory run once, inside
    ``device``'s CUDA context when that is a real GPU).

    Raises:
        NotFoundError: no kernel for the op type there (naming the devices that have one, or
            the nearest op gmeta can run).
        InvalidArgumentError: the node's attrs do not fit its kernel.
    """
    kdef = lookup(op.type, device_type)
    if kdef is None:
        have = devices_with_kernel(op.type)
        if have:
            where = f"kernels exist for: {', '.join(have)}"
        else:
            from gmeta.check import alternative_for

            alt = alternative_for(op.type)
            where = "gmeta has no kernel for this op type on any device" + \
                (f"; nearest supported op: {alt}" if alt else "") + \
                " (gm.check(meta_graph) lists every such op of a file)"
        raise errors.NotFoundError(
            None, op, f"No kernel for op '{op.type}' (node '{op.name}') on {device_type}; "
                      f"{where}")
    try:
        with building_on(device):
            return kdef.factory(KernelContext(op, xp, device_type, state))
    except errors.OpError:
        raise
    except (ValueError, TypeError, KeyError) as e:
        raise errors.InvalidArgumentError(
            None, op, f"Cannot build kernel for node '{op.name}' (op {op.type}): {e}") from e


def compile_plan(graph, fetches, targets, feeds, state, device_type="CPU", xp=np,
                 placement=None) -> Plan:
    """Prunes ``graph`` to what ``fetches``/``targets`` need given ``feeds``, orders it and binds
    one kernel per node: on ``device_type`` with ``xp``, or, given a ``placement``
    (gmeta.devices.placement), on each node's assigned device, with a copy step wherever a value
    crosses devices (one per value and destination device; feeds start on the host).

    Raises:
        InvalidArgumentError: a cycle among the needed nodes, or an unfed placeholder.
        NotFoundError: a needed op type with no kernel.
    """
    fed = set(feeds)
    # -- prune ----------------------------------------------------------------------------------
    needed: dict = {}
    stack = [t.op for t in fetches if t not in fed] + list(targets)
    while stack:
        op = stack.pop()
        if op in needed:
            continue
        needed[op] = True
        for t in op._inputs:
            if t not in fed:
                stack.append(t._op)
        stack.extend(op._control_inputs)
    if _loop_exec.has_loops(needed):  # v1 while loops: frames and iterations (_loop_exec.py)
        return _loop_exec.compile_loop_plan(needed, fetches, targets, feeds, state, device_type,
                                            xp, placement)

    # -- order (Kahn, stable in creation order) ---------------------------------------------------
    deps = {}
    for op in needed:
        d = {t._op for t in op._inputs if t not in fed}
        d.update(op._control_inputs)
        deps[op] = d
    order, indeg = topo_order(deps, lambda o: o._id)
    if len(order) != len(needed):
        stuck = [op for op in needed if indeg[op] > 0]
        cycle = _find_cycle(stuck, deps)
        raise errors.InvalidArgumentError(
            None, stuck[0], f"Graph contains a cycle of {len(cycle) - 1} nodes and cannot run: "
                            f"{' -> '.join(cycle)} (made through inputs or control "
                            "dependencies)")

    # v1 conds whose predicate is known now (a constant, an unfed placeholder_with_default): the
    # branch not taken is pruned and Switch/Merge become their live input (a lean plan again)
    aliases: dict = {}  # Switch / Merge output -> the tensor it forwards
    if PRUNE_CONDS and any(o._type in _cond_exec.SWITCH_TYPES for o in order):
        static = _static_conds(order, fed, fetches, targets)
        if static is not None:
            order, aliases = static

    # -- slots and steps --------------------------------------------------------------------------
    slot_of: dict = {}
    n_slots = 0

    def new_slot() -> int:  # a tensor's value, or a variable read made for one consumer
        nonlocal n_slots
        n_slots += 1
        return n_slots - 1

    def slot(t):
        if aliases:
            t = aliases.get(t, t)
        s = slot_of.get(t)
        if s is None:
            s = slot_of[t] = new_slot()
        return s

    feed_slots = [slot(t) for t in feeds]
    aliasing = set()  # slots that may hold a variable's storage (or a constant's value)
    steps = []
    # Without v1 cond's dead tensors, a plan needs no step for constants (their values are
    # filled in at compile time), no-ops, or identities (the output shares the input's slot).
    lean = not any(o.type in _cond_exec.SWITCH_TYPES for o in order)
    template: dict = {}
    stats = TransferStats()
    where: dict = {}  # slot -> LocalDevice holding its value (placement only)
    copies: dict = {}  # (slot, destination device name) -> slot of the copy
    kernels: dict = {}  # step index -> (device type, xp, device to enter or None, closure)
    multi_gpu = False
    if placement is not None:
        cpu = placement.inventory.cpu
        for s in feed_slots:
            where[s] = cpu
        real = {placement.device(op).ordinal for op in order if placement.device(op).real_gpu}
        multi_gpu = len(real) > 1 or (real and real != {0})

    def moved(s, t, op, dev):
        """The slot holding slot ``s`` (tensor ``t``) on device ``dev``, copying if needed."""
        src = where.get(s, dev)
        if src.name == dev.name:
            return s
        key = (s, dev.name)
        c = copies.get(key)
        if c is None:
            c = copies[key] = new_slot()
            where[c] = dev
            if lean and s in template:  # a constant (or folded value): copied once, now
                template[c] = copier(src, dev, TransferStats())(template[s])
                aliasing.add(c)
            else:
                steps.append((copier(src, dev, stats, t), (s,), c, op))
                stats.edges.append((t.name, op.name, src.label(), dev.label()))
        return c

    for op in order:
        if placement is not None:
            dev = placement.device(op)
            device_type, xp = dev.device_type, dev.xp
        wrap = placement is not None and dev.real_gpu and multi_gpu
        fn = raw = bind_kernel(op, device_type, xp, state, dev if wrap else None)
        if wrap:
            fn = on_device(fn, dev)
        ins = []
        host_args = ()
        if placement is not None and dev.is_gpu:
            host_args = _host_memory_inputs(op, device_type)
        metadata_only = op._type in _METADATA_ONLY
        for i, (t, is_ref) in enumerate(zip(op._inputs, _input_is_ref(op))):
            if aliases:
                t = aliases.get(t, t)
            s = slot(t)
            if t.dtype.is_ref_dtype and not is_ref and t not in fed:
                read = new_slot()  # the value is read right before this consumer runs
                steps.append((_deref(op), (s,), read, op))
                if placement is not None:
                    where[read] = where.get(s, dev)
                aliasing.add(read)
                s = read
            if placement is not None:
                dst = copy_destination(t, is_ref, where.get(s, dev), dev, cpu, metadata_only,
                                        i in host_args)
                if dst is not None:
                    s = moved(s, t, op, dst)
            ins.append(s)
        if lean:
            if op._type in _ALIASED and len(ins) == 1 and len(op._outputs) == 1 and \
                    op._outputs[0] not in slot_of:
                slot_of[op._outputs[0]] = ins[0]
                continue
            if op._type == "NoOp":
                continue
        outs = [slot(t) for t in op._outputs]
        if placement is not None:
            for o in outs:
                where[o] = dev
        if lean and not ins and op._type in _PREFILLED:
            template[outs[0]] = fn()
            if op._type == "Const":
                aliasing.add(outs[0])  # a fetched constant is copied: callers may mutate it
            continue
        if op.type in _FORWARDING and ins and ins[0] in aliasing:
            aliasing.update(outs)
        out = outs[0] if _single_output(op) else tuple(outs)
        if lean and ins and all(i in template for i in ins) and _foldable(op):
            folded = _fold(fn, [template[i] for i in ins], outs, out)
            if folded is not None:  # computed now, once: its value is part of the plan
                template.update(folded)
                aliasing.update(outs)  # fetched folded values are copied, like constants
                continue
        if lean and INPLACE:
            kernels[len(steps)] = (device_type, xp, dev if wrap else None, raw)
        steps.append((_trace.traced(fn, op, dev if placement is not None else None, xp),
                      tuple(ins), out, op))

    fetch_slots = [slot(t) for t in fetches]
    # slots whose values outlive a run or may be a variable's storage: never written, dropped
    protected = set(feed_slots) | set(fetch_slots) | set(template) | aliasing
    if kernels:
        plan_memory(steps, kernels, protected, n_slots, state)
    if lean and RELEASE:
        tensor_of = {s: t for t, s in slot_of.items()}
        for (s, _), c in copies.items():
            if s in tensor_of:
                tensor_of[c] = tensor_of[s]
        big = {s for s, t in tensor_of.items()
               if s not in protected and not t._dtype.is_ref_dtype and large(t)}
        steps = with_releases(steps, big)

    plan = Plan()
    plan.transfers = stats
    plan.template = [template.get(i) for i in range(n_slots)]
    plan.fetch_slots = fetch_slots
    plan.steps = steps
    plan.n_slots = n_slots
    plan.feed_slots = feed_slots
    plan.copy_fetch = [i for i, s in enumerate(plan.fetch_slots) if s in aliasing]
    plan.feeds = list(feeds)
    plan.fetches = list(fetches)
    plan.targets = list(targets)
    plan.ops = order
    if any(o.type in _cond_exec.SWITCH_TYPES for o in order):  # v1 cond: dead tensors
        return _cond_exec.dead_aware(plan)
    return plan


def _static_bool(t, fed, aliases):
    """The value of boolean scalar ``t`` when it is known without running anything (a Const,
    through Identity, an unfed PlaceholderWithDefault, LogicalNot); None otherwise."""
    flip = False
    while True:
        t = aliases.get(t, t)  # through the Switches of enclosing conds already resolved
        if t in fed:
            return None
        op = t._op
        kind = op._type
        if kind == "Const":
            v = op._attr("value")
            if getattr(v, "size", 0) != 1 or v.dtype != np.bool_:
                return None
            return bool(v.reshape(())) != flip
        if kind == "LogicalNot":
            flip = not flip
        elif kind not in ("Identity", "PlaceholderWithDefault", "StopGradient", "Snapshot"):
            return None
        t = op._inputs[0]


def _static_conds(order, fed, fetches, targets):
    """``(order, aliases)`` with the branches that cannot be taken pruned from ``order`` (every
    ``Switch`` predicate known now: :func:`_static_bool`), Switch and Merge removed and their
    outputs aliased to the tensor they forward; None to keep the dead-tensor plan (a predicate
    known only when the plan runs, a fetched or targeted dead value, a Merge's value_index read,
    control edges from or into a Switch or Merge)."""
    aliases: dict = {}
    dead: set = set()  # dead tensors
    dead_ops: set = set()
    removed: set = set()  # Switch / Merge ops
    for op in order:
        kind = op._type
        ins = [aliases.get(x, x) for x in op._inputs]
        if kind in _cond_exec.SWITCH_TYPES or kind in ("Merge", "RefMerge"):
            if op._control_inputs or op._control_outputs:
                return None
            removed.add(op)
            if kind in _cond_exec.SWITCH_TYPES:
                if ins[0] in dead:
                    dead.update(op._outputs)
                    continue
                taken = _static_bool(ins[1], fed, aliases)
                if taken is None:
                    return None
                aliases[op._outputs[int(taken)]] = ins[0]
                dead.add(op._outputs[1 - int(taken)])
            else:
                if any(c for c in op._outputs[1].consumers()) or op._outputs[1] in fetches:
                    return None  # value_index: which input arrived
                live = [x for x in ins if x not in dead]
                if len(live) > 1:
                    return None
                if live:
                    aliases[op._outputs[0]] = live[0]
                else:
                    dead.update(op._outputs)
            continue
        if kind == "ControlTrigger" or (kind in ("Enter", "RefEnter", "Exit", "RefExit")):
            return None
        if any(x in dead for x in ins) or any(c in dead_ops for c in op._control_inputs):
            dead_ops.add(op)
            dead.update(op._outputs)
    for op in targets:
        if op in dead_ops or op in removed:
            return None
    for t in fetches:
        if aliases.get(t, t) in dead:
            return None
    return [op for op in order if op not in dead_ops and op not in removed], aliases


_FOLD_MAX_BYTES = 1 << 24  # folded values are kept with the plan: no more than 16 MiB each


def _foldable(op) -> bool:
    """A node whose value depends on its inputs alone (not stateful, no ref or resource
    inputs, no ref outputs): with constant inputs it can be computed when the plan is built."""
    op_def = op._op_def
    if op_def is None or op_def.is_stateful:
        return False
    for t in op._inputs:
        dt = t._dtype
        if dt.is_ref_dtype or dt is dtypes.resource or dt is dtypes.variant:
            return False
    return not any(t._dtype.is_ref_dtype for t in op._outputs)


def _fold(fn, args, outs, out):
    """``{slot: value}`` of a kernel run on constant ``args``, or None to keep it a step (the
    kernel failed: the run will raise, naming the node, as it would without folding; or a value
    too big to keep)."""
    try:
        with np.errstate(all="ignore"):
            r = fn(*args)
    except Exception:
        return None
    values = [r] if out.__class__ is int else list(r or ())
    if len(values) != len(outs) or any(getattr(v, "nbytes", 0) > _FOLD_MAX_BYTES
                                       for v in values):
        return None
    return dict(zip(outs, values))


def _deref(consumer):
    def run(ref):
        if ref.__class__ is VarRef:
            value = ref.value
            return value if value is not None else read_ref(ref, consumer)  # (raises)
        return ref

    run._passthrough = True
    return run


