"""Simple while-loop frames run as straight-line code, one node of the loop plan each.

The frame/iteration executor (gmeta/_loop_exec.py) pays its dataflow bookkeeping (pending
counts, dead flags, a ready queue) on every node of every iteration. Most loops do not need
it: a ``dynamic_rnn`` body, or the gradient loop TF builds for it, is one iteration after the
other, each the same acyclic graph. Such a frame is compiled here into three lists of plan
steps, as lean as a plan without loops (executor.compile_plan):

- *pre*: the ``Merge`` values of the iteration and everything computed from them and the loop
  invariants before the ``Switch``es: the condition up to ``LoopCond``;
- *body*: what the ``Switch``es' true outputs feed, up to the ``NextIteration``s, run while
  the condition holds; the ``NextIteration`` values become the next iteration's ``Merge``
  values;
- *exit*: what the false outputs feed, up to the ``Exit``s, run once when the condition fails.

In the loop plan the whole frame is one node: its inputs are the frame's ``Enter`` inputs, its
outputs the ``Exit`` values. It runs once all its inputs have arrived (TF's executor may start
an iteration before a loop invariant arrives; the values are the same), and is dead when an
input is dead (a loop inside an untaken ``cond`` branch).

A frame is *simple* when it holds no other frame, every ``Merge`` joins one non-constant
``Enter`` with one ``NextIteration``, every ``Switch`` is on the frame's one ``LoopCond``, and
no node mixes what the true and the false outputs feed. Anything else (nested loops, a
``cond`` inside the body, a fetch or feed inside the frame) stays with the dataflow executor,
which gives the same results; set ``GMETA_DYNAMIC_LOOPS=1`` to run every frame that way.
"""

from __future__ import annotations

import os

from gmeta import _device_steps, _plan_memory, _trace, errors

ENTER_TYPES = frozenset(["Enter", "RefEnter"])
EXIT_TYPES = frozenset(["Exit", "RefExit"])
NEXT_TYPES = frozenset(["NextIteration", "RefNextIteration"])
SWITCH_TYPES = frozenset(["Switch", "RefSwitch"])
MERGE_TYPES = frozenset(["Merge", "RefMerge"])
_PASS_TYPES = frozenset(["LoopCond"]) | NEXT_TYPES | EXIT_TYPES  # forward their input
_SKIPPED = frozenset(["NoOp", "ControlTrigger"])  # nothing to run once ordering is decided

#: Whether simple frames run as straight-line steps (False: every frame through the dataflow
#: executor, as with GMETA_DYNAMIC_LOOPS=1).
ENABLED = os.environ.get("GMETA_DYNAMIC_LOOPS", "") not in ("1", "true", "yes")

_PRE, _BODY, _EXIT = 0, 1, 2


def frames_of(ops, fed) -> dict | None:
    """The static frame of each op of ``ops`` (a pruned plan): ``()`` for the root frame,
    ``(..., frame_name)`` inside loops; an ``Enter`` belongs to the frame it enters, an
    ``Exit`` to the frame it leaves. None when the frames cannot be worked out (an op whose
    inputs come from different frames: a malformed graph the dataflow executor reports)."""
    needed = set(ops)
    frame_of: dict = {}

    def out_frame(p):
        f = frame_of.get(p)
        if f is None:
            return None
        return f[:-1] if p._type in EXIT_TYPES else f

    todo = list(ops)
    while todo:
        rest = []
        for op in todo:
            t = op._type
            if t in ENTER_TYPES:
                x = op._inputs[0] if op._inputs else None
                if x is None or x in fed or x._op not in needed:
                    parent = ()
                else:
                    parent = out_frame(x._op)
                    if parent is None:
                        rest.append(op)
                        continue
                frame_of[op] = parent + (op._attr("frame_name", b"").decode(),)
                continue
            found = None
            unknown = False
            merge = t in MERGE_TYPES
            producers = [x._op for x in op._inputs
                         if x not in fed and not (merge and x._op._type in NEXT_TYPES)]
            for p in producers + op._control_inputs:
                if p not in needed:
                    continue
                f = out_frame(p)
                if f is None:
                    unknown = True
                elif found is None:
                    found = f
                elif f != found:
                    return None
            if unknown:
                rest.append(op)
                continue
            frame_of[op] = () if found is None else found
        if len(rest) == len(todo):
            return None
        todo = rest
    return frame_of


class StaticFrame:
    """One collapsed frame: its ops, its ``Enter``s (inputs) and ``Exit``s (outputs), and the
    runner the loop plan calls with the ``Enter`` inputs' values."""

    __slots__ = ("name", "ops", "enters", "exits", "ctrl_inputs", "runner", "first")

    def __repr__(self):
        return f"<StaticFrame {self.name!r}: {len(self.ops)} ops>"


def collapse(ops, fed, fetches, targets, placement, device_type, xp, state, stats):
    """The simple frames among ``ops`` (see the module doc), compiled; [] when none."""
    if not ENABLED:
        return []
    frame_of = frames_of(ops, fed)
    if frame_of is None:
        return []
    keys = set(frame_of.values())
    parents = {k[:-1] for k in keys if k}
    members: dict = {}
    for op in ops:
        k = frame_of[op]
        if k and k not in parents:
            members.setdefault(k, []).append(op)
    if not members:
        return []
    consumers: dict = {}  # op -> ops reading it (data or control)
    for op in ops:
        for x in op._inputs:
            consumers.setdefault(x._op, []).append(op)
        for c in op._control_inputs:
            consumers.setdefault(c, []).append(op)
    fetched = {t._op for t in fetches}
    target_set = set(targets)
    out = []
    for key, frame_ops in members.items():
        sf = _build(key, frame_ops, fed, fetched, target_set, consumers, placement,
                    device_type, xp, state, stats)
        if sf is not None:
            out.append(sf)
    return out


def _build(key, frame_ops, fed, fetched, targets, consumers, placement, device_type, xp, state,
           stats):
    members = set(frame_ops)
    enters = [op for op in frame_ops if op._type in ENTER_TYPES]
    exits = [op for op in frame_ops if op._type in EXIT_TYPES]
    conds = [op for op in frame_ops if op._type == "LoopCond"]
    if not enters or len(conds) != 1:
        return None
    loop_cond = conds[0]
    pred_tensor = loop_cond._outputs[0]
    ctrl_inputs = []
    for op in frame_ops:
        if op in targets or (op in fetched and op._type not in EXIT_TYPES):
            return None
        is_enter = op._type in ENTER_TYPES
        if not is_enter:
            for x in op._inputs:
                if x in fed or x._op not in members:
                    return None
            for c in op._control_inputs:
                if c not in members:
                    return None
        else:
            for c in op._control_inputs:
                if c not in ctrl_inputs:
                    ctrl_inputs.append(c)
        for user in consumers.get(op, ()):
            if user not in members and op._type not in EXIT_TYPES:
                return None
    # -- structure: merges, switches, enters, next iterations -----------------------------------
    merge_pairs = {}  # Merge -> (its Enter, its NextIteration)
    for op in frame_ops:
        t = op._type
        if t in MERGE_TYPES:
            if len(op._inputs) != 2 or op._control_inputs:
                return None
            a, b = op._inputs[0]._op, op._inputs[1]._op
            if a._type in NEXT_TYPES:
                a, b = b, a
            if a._type not in ENTER_TYPES or b._type not in NEXT_TYPES or \
                    a._attr("is_constant", False):
                return None
            if any(u for u in consumers.get(op, ()) if any(
                    x is op._outputs[1] for x in u._inputs)):
                return None  # the value_index output is read
            merge_pairs[op] = (a, b)
        elif t in SWITCH_TYPES:
            if op._inputs[1] is not pred_tensor:
                return None
        elif t in ENTER_TYPES and not op._attr("is_constant", False):
            if any(u._type not in MERGE_TYPES for u in consumers.get(op, ())):
                return None
        elif t in NEXT_TYPES:
            if any(u._type not in MERGE_TYPES for u in consumers.get(op, ())):
                return None
    # -- one iteration as a DAG, ordered ----------------------------------------------------------
    deps: dict = {}
    for op in frame_ops:
        if op._type in ENTER_TYPES:
            continue
        d = []
        for x in op._inputs:
            p = x._op
            if p._type in ENTER_TYPES or (op in merge_pairs and p._type in NEXT_TYPES):
                continue
            d.append(p)
        d.extend(c for c in op._control_inputs if c._type not in ENTER_TYPES)
        deps[op] = d
    order = _topo(deps)
    if order is None:
        return None
    # -- phases: what the true and the false outputs of the switches feed -----------------------
    phase: dict = {}
    for op in order:
        taint = set()
        for x in op._inputs:
            p = x._op
            if p._type in SWITCH_TYPES:
                taint.add(_EXIT if x._value_index == 0 else _BODY)
            elif p in phase:
                if phase[p] != _PRE:
                    taint.add(phase[p])
        for c in op._control_inputs:
            if c in phase and c._type not in SWITCH_TYPES and phase[c] != _PRE:
                taint.add(phase[c])
        if len(taint) > 1:
            return None
        phase[op] = taint.pop() if taint else _PRE
        t = op._type
        if (t in MERGE_TYPES or t in SWITCH_TYPES or t == "LoopCond") and phase[op] != _PRE:
            return None
        if t in NEXT_TYPES and phase[op] != _BODY:
            return None
        if t in EXIT_TYPES and phase[op] != _EXIT:
            return None
    for op in order:  # a ControlTrigger is never dead: TF runs what it alone triggers
        if op._type == "ControlTrigger":
            for u in consumers.get(op, ()):
                if not any(phase.get(x._op) == _BODY or (x._op._type in SWITCH_TYPES and
                                                         x._value_index == 1)
                           for x in u._inputs if x._op is not op):
                    return None
    return _compile(key, frame_ops, enters, exits, ctrl_inputs, order, phase, merge_pairs,
                    pred_tensor, placement, device_type, xp, state, stats)


def _topo(deps) -> list | None:
    from gmeta.executor import topo_order

    if any(p not in deps for d in deps.values() for p in d):
        return None
    order, _ = topo_order(deps, lambda o: o._id)
    return order if len(order) == len(deps) else None


def _compile(key, frame_ops, enters, exits, ctrl_inputs, order, phase, merge_pairs, pred_tensor,
             placement, device_type, xp, state, stats):
    from gmeta import executor

    n_slots = 0
    slot_of: dict = {}
    where: dict = {}  # slot -> LocalDevice (placement only)
    template: dict = {}
    steps = ([], [], [])
    kernels = ({}, {}, {})  # per phase: step index -> (device type, xp, GPU or None, closure)
    copies = ({}, {}, {})  # per phase: (slot, device name) -> slot of the copy

    def new_slot():
        nonlocal n_slots
        n_slots += 1
        return n_slots - 1

    def moved(s, t, op, dev, ph):
        """Slot ``s`` (tensor ``t``) on ``dev``: a copy step in phase ``ph`` when needed."""
        src = where.get(s, dev)
        if src.name == dev.name:
            return s
        ck = (s, dev.name)
        c = copies[_PRE].get(ck)
        if c is None:
            c = copies[ph].get(ck)
        if c is None:
            c = copies[ph][ck] = new_slot()
            steps[ph].append((_device_steps.copier(src, dev, stats, t), (s,), c, op))
            stats.edges.append((t.name, op.name, src.label(), dev.label()))
            where[c] = dev
        return c

    def input_slot(op, k, t, is_ref, dev, ph, host_args=(), metadata=False):
        s = slot_of[t]
        if t._dtype.is_ref_dtype and not is_ref:
            read = new_slot()
            steps[ph].append((executor._deref(op), (s,), read, op))
            if placement is not None:
                where[read] = where.get(s, dev)
            s = read
        if placement is not None:
            dst = _device_steps.copy_destination(t, is_ref, where.get(s, dev), dev,
                                             placement.inventory.cpu, metadata, k in host_args)
            if dst is not None:
                s = moved(s, t, op, dst, ph)
        return s

    # Enters: the runner's arguments, already on the Enter's device (the loop plan copies them)
    enter_slots = []
    for e in enters:
        s = slot_of[e._outputs[0]] = new_slot()
        enter_slots.append(s)
        if placement is not None:
            where[s] = placement.device(e)
    # Merges: one slot each, set before the first iteration and after each body
    merge_init = []
    for m, (e, _) in merge_pairs.items():
        s = slot_of[m._outputs[0]] = new_slot()
        dev = placement.device(m) if placement is not None else None
        if placement is not None:
            where[s] = dev
        src = slot_of[e._outputs[0]]
        merge_init.append((s, src, _conversion(e._outputs[0], src, dev, where, stats, m,
                                               executor)))
    for op in order:
        t = op._type
        if t in MERGE_TYPES:
            continue
        ph = phase[op]
        dev = placement.device(op) if placement is not None else None
        if placement is not None:
            device_type, xp = dev.device_type, dev.xp
        is_ref = executor._input_is_ref(op)
        if t in SWITCH_TYPES:  # both outputs are its data input (one of them dead)
            s = input_slot(op, 0, op._inputs[0], is_ref[0], dev, ph)
            slot_of[op._outputs[0]] = slot_of[op._outputs[1]] = s
            continue
        if t in _PASS_TYPES:
            s = input_slot(op, 0, op._inputs[0], is_ref[0], dev, ph)
            slot_of[op._outputs[0]] = s
            continue
        if t in _SKIPPED and not op._outputs:
            continue
        fn = executor.bind_kernel(op, device_type, xp, state, dev)
        if dev is not None and dev.real_gpu:
            fn = _device_steps.on_device(fn, dev)
        host_args = executor._host_memory_inputs(op, device_type) \
            if dev is not None and dev.is_gpu else ()
        metadata = t in executor._METADATA_ONLY
        ins = [input_slot(op, k, x, is_ref[k], dev, ph, host_args, metadata)
               for k, x in enumerate(op._inputs)]
        if t in executor._ALIASED and len(ins) == 1 and len(op._outputs) == 1:
            slot_of[op._outputs[0]] = ins[0]
            continue
        outs = []
        for o in op._outputs:
            s = slot_of[o] = new_slot()
            if placement is not None:
                where[s] = dev
            outs.append(s)
        if not ins and t in executor._PREFILLED:
            template[outs[0]] = fn()
            continue
        out = outs[0] if executor._single_output(op) else tuple(outs)
        kernels[ph][len(steps[ph])] = (device_type, xp,
                                       dev if dev is not None and dev.real_gpu else None, fn)
        steps[ph].append((_trace.traced(fn, op, dev, xp), tuple(ins), out, op))
    # NextIteration values -> Merges (after the body)
    merge_next = []
    for m, (_, n) in merge_pairs.items():
        s = slot_of[n._outputs[0]]
        dev = placement.device(m) if placement is not None else None
        merge_next.append((slot_of[m._outputs[0]], s,
                           _conversion(n._outputs[0], s, dev, where, stats, m, executor)))
    exit_slots = [slot_of[x._outputs[0]] for x in exits]
    pred = slot_of[pred_tensor]
    if executor.INPLACE:  # kernels write into inputs dying with them (gmeta/_plan_memory.py)
        protected = set(template) | set(enter_slots) | set(exit_slots) | {pred}
        protected.update(m for m, _, _ in merge_init)
        protected.update(s for _, s, _ in merge_next)  # read again after the body
        _plan_frame_memory(steps, kernels, protected, n_slots, state, executor)
    next_op = next(iter(merge_pairs.values()))[1] if merge_pairs else exits[0]
    graph = next_op._graph

    sf = StaticFrame()
    sf.name = key[-1]
    sf.ops = frame_ops
    sf.enters = enters
    sf.exits = exits
    sf.ctrl_inputs = ctrl_inputs
    sf.first = min(frame_ops, key=lambda o: o._id)
    sf.runner = _runner(sf.name, [template.get(i) for i in range(n_slots)], enter_slots,
                        merge_init, merge_next, tuple(steps[_PRE]), tuple(steps[_BODY]),
                        tuple(steps[_EXIT]), pred, exit_slots, next_op, graph)
    return sf


def _plan_frame_memory(steps, kernels, protected, n_slots, state, executor) -> None:
    """``_plan_memory.plan_memory`` over one iteration's steps (condition, body, then exit, the
    order they run in), each phase's list rebound in place."""
    combined, index = [], {}
    for ph in (_PRE, _BODY, _EXIT):
        for i, info in kernels[ph].items():
            index[len(combined) + i] = info
        combined.extend(steps[ph])
    _plan_memory.plan_memory(combined, index, protected, n_slots, state)
    start = 0
    for ph in (_PRE, _BODY, _EXIT):
        n = len(steps[ph])
        steps[ph][:] = combined[start:start + n]
        start += n


def _conversion(t, s, dev, where, stats, consumer, executor):
    """The copy a value in slot ``s`` needs to reach ``dev`` (a Merge's device), or None."""
    if dev is None:
        return None
    src = where.get(s, dev)
    if _device_steps.copy_destination(t, t._dtype.is_ref_dtype, src, dev) is None:
        return None
    stats.edges.append((t.name, consumer.name, src.label(), dev.label()))
    return _device_steps.copier(src, dev, stats, t)


def _runner(name, template, enter_slots, merge_init, merge_next, pre, body, exit_steps, pred,
            exit_slots, next_op, graph):
    from gmeta import _loop_exec
    from gmeta.executor import run_steps as _run_steps

    def run(*enter_values):
        vals = template.copy()
        for s, v in zip(enter_slots, enter_values):
            vals[s] = v
        for m, s, cv in merge_init:
            vals[m] = vals[s] if cv is None else cv(vals[s])
        it = 0
        cap = _loop_exec.MAX_ITERATIONS
        while True:
            _run_steps(pre, vals)
            if not vals[pred]:
                break
            _run_steps(body, vals)
            if it >= cap:
                raise errors.InvalidArgumentError(None, next_op, _loop_exec._runaway_message(
                    name, it, cap, graph))
            it += 1
            new = [vals[s] if cv is None else cv(vals[s]) for _, s, cv in merge_next]
            for (m, _, _), v in zip(merge_next, new):
                vals[m] = v
        _run_steps(exit_steps, vals)
        return [vals[s] for s in exit_slots]

    run.steps = (pre, body, exit_steps)  # for inspection (tests)
    return run
