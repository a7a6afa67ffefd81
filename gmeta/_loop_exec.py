"""Frames and iterations: the runtime of v1 while loops (TF's dataflow executor, in Python).

A plan whose pruned ops contain ``Enter``/``Exit``/``NextIteration`` cannot be ordered once:
its nodes run as their inputs arrive, each value tagged with a *frame* (one execution of a
loop: the child frame an ``Enter`` opens, keyed by its ``frame_name`` and the parent frame's
iteration) and an *iteration* of that frame. The rules are TensorFlow's executor's
(``propagator_state.cc``):

- a node is ready in (frame, iteration) once all its inputs and control inputs have arrived
  there; if any of them is dead (the untaken output of a ``Switch``, or a dead op's control
  edge), the node does not run and its outputs are dead. ``ControlTrigger`` is never dead.
- ``Merge`` is ready on its first live data input (after its control inputs), or once all its
  data inputs are dead, or at once when a dead input comes from an ``Enter`` (a loop that is
  not run at all, inside an untaken ``cond`` branch).
- ``Enter`` sends its input into iteration 0 of the child frame, a constant ``Enter``
  (``is_constant``, a loop invariant) into every iteration, present and future.
- ``NextIteration`` sends its input to the next iteration of its frame (starting it, or waiting
  until fewer than the ``Enter``'s ``parallel_iterations`` iterations are in flight); a dead one
  sends nothing, which is how a loop ends.
- ``Exit`` sends its live input to the parent frame. Exits that are dead in the last iteration
  send a dead value to the parent once the frame is done (all its ``Enter`` inputs arrived and
  all its iterations finished), so ops after a loop that never ran are dead too. (TF keeps the
  exits that are dead while their iteration is the newest one, which can include earlier
  iterations' exits; gmeta keeps only the last iteration's, so a consumer never sees a dead
  value after the live one.)

A frame that runs more than :data:`MAX_ITERATIONS` iterations (``set_max_loop_iterations``)
stops the run with an ``InvalidArgumentError`` naming the frame (and the loop's
``maximum_iterations`` tensor, when the graph records one).
"""

from __future__ import annotations

import collections
import os

import numpy as np

from gmeta import _device_steps, _plan_memory, _trace, dtypes, errors
from gmeta.kernels import KernelContext, control_flow, devices_with_kernel, lookup  # noqa: F401
from gmeta.kernels import tensor_array  # noqa: F401  (registers the TensorArray kernels)
from gmeta.kernels.state import VarRef, read_ref

ENTER_TYPES = frozenset(["Enter", "RefEnter"])
EXIT_TYPES = frozenset(["Exit", "RefExit"])
NEXT_TYPES = frozenset(["NextIteration", "RefNextIteration"])
LOOP_TYPES = ENTER_TYPES | EXIT_TYPES | NEXT_TYPES
_SWITCH_TYPES = frozenset(["Switch", "RefSwitch"])
_MERGE_TYPES = frozenset(["Merge", "RefMerge"])

#: The most iterations one frame may run before the run stops with an error (a runaway loop).
MAX_ITERATIONS = int(os.environ.get("GMETA_MAX_LOOP_ITERATIONS", 10_000_000))


def set_max_loop_iterations(n: int) -> int:
    """Sets gmeta's cap on the iterations of one loop frame; returns the previous cap."""
    global MAX_ITERATIONS
    if int(n) < 1:
        raise ValueError(f"the iteration cap must be positive, not {n}")
    old, MAX_ITERATIONS = MAX_ITERATIONS, int(n)
    return old


def has_loops(ops) -> bool:
    return any(op._type in LOOP_TYPES for op in ops)


# Node kinds.
_NORMAL, _MERGE, _SWITCH, _ENTER, _EXIT, _NEXT = range(6)


class _Node:
    __slots__ = ("id", "op", "fn", "kind", "n_in", "base", "edges", "ctrl", "pending0", "n_data",
                 "fixed", "deref", "convert", "single", "n_out", "fetch", "frame_name",
                 "constant", "trigger", "from_enter", "parallel", "inputs", "ctrl_in", "kinfo")


class _Iteration:
    __slots__ = ("pending", "dead", "inputs", "ops", "frames")

    def __init__(self, plan):
        self.pending = plan.pending0.copy()
        self.dead = plan.dead0.copy()
        self.inputs = plan.inputs0.copy()
        self.ops = 0  # ready or running nodes of this iteration
        self.frames = 0  # child frames opened from this iteration and not done yet


class _Frame:
    __slots__ = ("name", "parent", "parent_iter", "iters", "count", "live_iters",
                 "pending_inputs", "invariants", "dead_exits", "children", "parallel",
                 "deferred")

    def __init__(self, name, parent, parent_iter, pending_inputs, plan, parallel=1 << 30):
        self.name = name
        self.parent = parent
        self.parent_iter = parent_iter
        self.iters = {0: _Iteration(plan)}
        self.count = 0  # the newest iteration
        self.live_iters = 1
        self.pending_inputs = pending_inputs  # Enter nodes that have not sent their value yet
        self.invariants: list = []  # (constant Enter node, value)
        self.dead_exits: dict = {}  # Exit node -> the last iteration it was dead in
        self.children: dict = {}
        self.parallel = max(1, parallel)  # iterations that may be in flight at once
        self.deferred: list = []  # (NextIteration node, outputs) waiting for a free iteration


def compile_loop_plan(needed, fetches, targets, feeds, state, device_type, xp, placement):
    """A :class:`LoopPlan` for the pruned ops ``needed`` (executor.compile_plan's arguments).

    Simple frames (gmeta/_frame_exec.py) become one node each, run as straight-line steps;
    the rest run by the frame/iteration rules."""
    from gmeta import _frame_exec, executor

    fed = {t: i for i, t in enumerate(feeds)}
    ops = sorted(needed, key=lambda o: o._id)
    stats = _device_steps.TransferStats()
    frames = _frame_exec.collapse(ops, fed, fetches, targets, placement, device_type, xp, state,
                                  stats)
    collapsed = {op: sf for sf in frames for op in sf.ops}
    units = [op for op in ops if op not in collapsed] + frames
    units.sort(key=lambda u: u.first._id if u.__class__ is _frame_exec.StaticFrame else u._id)
    nodes = []
    base = 0
    enter_counts: collections.Counter = collections.Counter()
    cpu = placement.inventory.cpu if placement is not None else None
    producer: dict = {}  # tensor -> (node id, output index)
    node_of: dict = {}  # op -> node id (for control edges)
    for i, unit in enumerate(units):
        n = _Node()
        n.id = i
        n.edges = []
        n.ctrl = []
        n.fetch = ()
        n.frame_name = n.constant = None
        n.parallel = 10
        n.trigger = False
        if unit.__class__ is _frame_exec.StaticFrame:
            n.op = unit.enters[0]
            n.fn = unit.runner
            n.kinfo = None
            n.kind = _NORMAL
            n.from_enter = False
            n.single = False
            n.n_out = len(unit.exits)
            n.inputs = [e._inputs[0] for e in unit.enters]
            n.ctrl_in = unit.ctrl_inputs
            is_ref = [executor._input_is_ref(e)[0] for e in unit.enters]
            in_devs = [placement.device(e) for e in unit.enters] if placement is not None \
                else None
            for k, x in enumerate(unit.exits):
                producer[x._outputs[0]] = (i, k)
            for op in unit.ops:
                node_of[op] = i
            host_args, metadata_only = (), False
        else:
            op = unit
            dev = None
            if placement is not None:
                dev = placement.device(op)
                device_type, xp = dev.device_type, dev.xp
            fn = executor.bind_kernel(op, device_type, xp, state, dev)
            if dev is not None and dev.real_gpu:
                fn = _device_steps.on_device(fn, dev)
            n.op, n.fn = op, _trace.traced(fn, op, dev, xp)
            n.kinfo = (device_type, xp, dev if dev is not None and dev.real_gpu else None, fn)
            t = op._type
            n.kind = (_MERGE if t in _MERGE_TYPES else _SWITCH if t in _SWITCH_TYPES else
                      _ENTER if t in ENTER_TYPES else _EXIT if t in EXIT_TYPES else
                      _NEXT if t in NEXT_TYPES else _NORMAL)
            n.trigger = t == "ControlTrigger"
            n.from_enter = n.kind == _ENTER
            n.n_out = len(op._outputs)
            n.single = executor._single_output(op)
            n.inputs = op._inputs
            n.ctrl_in = op._control_inputs
            if n.kind == _ENTER:
                n.frame_name = op._attr("frame_name", b"").decode()
                n.constant = bool(op._attr("is_constant", False))
                n.parallel = int(op._attr("parallel_iterations", 10) or 10)
                enter_counts[n.frame_name] += 1
            is_ref = executor._input_is_ref(op)
            in_devs = [dev] * len(op._inputs) if dev is not None else None
            for x in op._outputs:
                producer[x] = (i, x._value_index)
            node_of[op] = i
            host_args = executor._host_memory_inputs(op, device_type) \
                if dev is not None and dev.is_gpu else ()
            metadata_only = t in executor._METADATA_ONLY
        n.n_in = len(n.inputs)
        n.base = base
        base += n.n_in
        fixed, deref, convert = [], [], []
        for k, x in enumerate(n.inputs):
            if x in fed:
                fixed.append((k, fed[x]))
            if x.dtype.is_ref_dtype and not is_ref[k]:
                deref.append(k)
            if in_devs is not None:
                dev = in_devs[k]
                src = cpu if x in fed else placement.device(x._op)
                dst = _device_steps.copy_destination(x, is_ref[k], src, dev, cpu, metadata_only,
                                                 k in host_args)
                if dst is not None:
                    convert.append((k, _device_steps.copier(src, dst, stats, x)))
                    stats.edges.append((x.name, n.op.name, src.label(), dst.label()))
        n.fixed, n.deref, n.convert = tuple(fixed), tuple(deref), tuple(convert)
        nodes.append(n)

    # -- edges and initial pending counts ----------------------------------------------------
    for n in nodes:
        n_ctrl = 0
        n_data = 0
        for k, x in enumerate(n.inputs):
            if x in fed:
                continue
            src, out_idx = producer[x]
            nodes[src].edges.append((out_idx, n.id, k))
            n_data += 1
        for c in n.ctrl_in:
            src = node_of.get(c)
            if src is not None:
                nodes[src].ctrl.append(n.id)
                n_ctrl += 1
        n.n_data = n_data
        n.pending0 = (n_ctrl << 1) | 1 if n.kind == _MERGE else n_data + n_ctrl
    for n in nodes:
        # (output index, consumer id, the consumer's input slot, consumer is a Merge, consumer)
        n.edges = tuple((o, d, nodes[d].base + k, nodes[d].kind == _MERGE, nodes[d])
                        for o, d, k in n.edges)
        n.ctrl = tuple(n.ctrl)
        n.inputs = n.ctrl_in = None

    if frames and all(n.kind == _NORMAL for n in nodes):  # no dataflow left: one step list
        plan = _straight_plan(nodes, frames, fetches, targets, feeds, producer, stats, ops,
                              state)
        if plan is not None:
            return plan

    # -- slots: feeds and fetches --------------------------------------------------------------
    slot_of: dict = {}
    for t in feeds:
        slot_of.setdefault(t, len(slot_of))
    fetch_slots = []
    for t in fetches:
        s = slot_of.get(t)
        if s is None:
            s = slot_of[t] = len(slot_of)
            nid, out_idx = producer[t]
            nodes[nid].fetch = nodes[nid].fetch + ((out_idx, s),)
        fetch_slots.append(s)

    plan = _loop_plan_class()()
    plan.nodes = nodes
    plan.roots = tuple(n for n in nodes if n.pending0 == 0)
    plan.pending0 = [n.pending0 for n in nodes]
    plan.dead0 = [0] * len(nodes)
    plan.inputs0 = [None] * base
    plan.enter_counts = dict(enter_counts)
    plan.tensor_slots = {s: t for t, s in zip(fetches, fetch_slots)}  # slot -> fetched tensor
    plan.transfers = stats
    plan.n_slots = len(slot_of)
    plan.template = [None] * plan.n_slots
    plan.feed_slots = [slot_of[t] for t in feeds]
    plan.fetch_slots = fetch_slots
    plan.copy_fetch = list(range(len(fetches)))
    plan.feeds = list(feeds)
    plan.fetches = list(fetches)
    plan.targets = list(targets)
    plan.ops = ops
    plan.steps = ()
    plan.wrap_error = executor._wrap_error
    plan.graph = ops[0]._graph if ops else None
    plan.static_frames = tuple(sf.name for sf in frames)  # run as straight-line steps
    return plan


def _straight_plan(nodes, frames, fetches, targets, feeds, producer, stats, ops, state):
    """A plan of steps, as executor.compile_plan makes, when every loop frame of ``nodes`` is a
    straight-line node (gmeta/_frame_exec.py) and no ``cond`` is left: nothing can be dead,
    so the nodes run in one topological order."""
    from gmeta import executor

    inputs: dict = {}  # (node id, input index) -> (producer id, output index)
    deps: dict = {n: set() for n in nodes}  # node -> the nodes it waits for
    for n in nodes:
        for o, d, bslot, _, dst in n.edges:
            inputs[(d, bslot - dst.base)] = (n.id, o)
            deps[dst].add(n)
        for d in n.ctrl:
            deps[nodes[d]].add(n)
    order, _ = executor.topo_order(deps, lambda n: n.id)
    if len(order) != len(nodes):  # a cycle: the dataflow executor reports it
        return None
    n_slots = 0
    out_slot: dict = {}  # (node id, output index) -> slot
    feed_slots = []
    feed_slot_of: dict = {}
    for t in feeds:
        if t not in feed_slot_of:
            feed_slot_of[t] = n_slots
            n_slots += 1
        feed_slots.append(feed_slot_of[t])
    for n in nodes:
        for o in range(n.n_out):
            out_slot[(n.id, o)] = n_slots
            n_slots += 1
    steps = []
    kernels: dict = {}  # step index -> (device type, xp, GPU or None, closure)
    for n in order:
        ins = []
        fixed = dict(n.fixed)
        convert = dict(n.convert)
        for k in range(n.n_in):
            if k in fixed:
                s = feed_slots[fixed[k]]
            else:
                s = out_slot[inputs[(n.id, k)]]
            if k in n.deref:
                steps.append((executor._deref(n.op), (s,), n_slots, n.op))
                s, n_slots = n_slots, n_slots + 1
            if k in convert:
                steps.append((convert[k], (s,), n_slots, n.op))
                s, n_slots = n_slots, n_slots + 1
            ins.append(s)
        outs = tuple(out_slot[(n.id, o)] for o in range(n.n_out))
        out = outs[0] if n.single else outs
        if n.kinfo is not None:
            kernels[len(steps)] = n.kinfo
        steps.append((n.fn, tuple(ins), out, n.op))
    fetch_slots = [feed_slot_of[t] if t in feed_slot_of else out_slot[producer[t]]
                   for t in fetches]
    if executor.INPLACE:  # kernels write into inputs dying with them (gmeta/_plan_memory.py)
        _plan_memory.plan_memory(steps, kernels, set(feed_slots) | set(fetch_slots), n_slots,
                                 state)
    plan = _straight_plan_class()()
    plan.steps = steps
    plan.n_slots = n_slots
    plan.template = [None] * n_slots
    plan.feed_slots = feed_slots
    plan.fetch_slots = fetch_slots
    plan.copy_fetch = [i for i, t in enumerate(fetches)
                       if not (t.dtype.is_ref_dtype or t.dtype in (dtypes.resource,
                                                                   dtypes.variant))]
    plan.feeds = list(feeds)
    plan.fetches = list(fetches)
    plan.targets = list(targets)
    plan.ops = ops
    plan.transfers = stats
    plan.static_frames = tuple(sf.name for sf in frames)
    return plan


StraightPlan = None


def _straight_plan_class():
    global StraightPlan
    if StraightPlan is None:
        from gmeta import executor

        class StraightPlan(executor.Plan):  # noqa: F811
            """Steps over straight-line loop frames (see :func:`_straight_plan`)."""

            __slots__ = ("static_frames",)

    return StraightPlan


class _Dead:
    __slots__ = ()

    def __repr__(self):
        return "DEAD"


_DEAD = _Dead()
_IN_LOOP = object()  # a fetched tensor made inside a loop frame


def _init_loop_plan_class():
    from gmeta import executor

    class LoopPlan(executor.Plan):
        """A plan with while loops: nodes run by the frame/iteration dataflow rules."""

        __slots__ = ("nodes", "roots", "pending0", "dead0", "inputs0", "enter_counts",
                     "tensor_slots", "wrap_error", "graph", "static_frames")

        def run(self, feed_values) -> list:
            vals = self.template.copy()
            for s, v in zip(self.feed_slots, feed_values):
                vals[s] = v
            _Run(self, feed_values, vals).run()
            out = [vals[i] for i in self.fetch_slots]
            for i, v in enumerate(out):
                t = self.tensor_slots.get(self.fetch_slots[i])
                if v is _DEAD or v is _IN_LOOP or (v is None and t is not None):
                    raise errors.InvalidArgumentError(None, None if t is None else t.op,
                                                      _no_value_message(i, t, v))
            for i in self.copy_fetch:
                v = out[i]
                if hasattr(v, "copy") and not isinstance(v, VarRef):
                    out[i] = v.copy()
            return out

    return LoopPlan


def _no_value_message(i, t, v) -> str:
    name = f" ({t.name})" if t is not None else ""
    if v is _IN_LOOP:
        return (f"Retval[{i}]{name} is made inside a while loop and cannot be fetched: fetch an "
                "output of the loop's Exit instead")
    if v is _DEAD:
        return f"Retval[{i}] does not have value"
    return (f"Retval[{i}]{name} was never computed: the run ended with nodes still waiting "
            "for their inputs (a loop frame that never finished)")


class _Run:
    """One execution of a :class:`LoopPlan`."""

    def __init__(self, plan, feed_values, vals):
        self.plan = plan
        self.feeds = feed_values
        self.vals = vals
        self.ready = collections.deque()
        self.max_iterations = MAX_ITERATIONS

    # -- the loop ------------------------------------------------------------------------------
    def run(self):
        plan = self.plan
        root = self.root = _Frame("", None, 0, 0, plan)
        it0 = root.iters[0]
        ready = self.ready
        for n in plan.roots:
            ready.append((n, root, 0, False))
        it0.ops = len(plan.roots)
        feeds = self.feeds
        node = args = None
        popleft = ready.popleft
        activate = self.activate
        try:
            with np.errstate(all="ignore"):
                while ready:
                    node, frame, it, dead = popleft()
                    kind = node.kind
                    args = ()
                    if dead:
                        outs = None
                    elif kind == _MERGE:
                        inputs = frame.iters[it].inputs
                        b = node.base
                        outs = None
                        for k in range(node.n_in):
                            v = inputs[b + k]
                            if v is not None:
                                outs = node.fn(v, k)
                                break
                        dead = outs is None
                    else:
                        b = node.base
                        args = frame.iters[it].inputs[b:b + node.n_in]
                        if node.fixed:
                            for k, f in node.fixed:
                                args[k] = feeds[f]
                        if node.deref:
                            for k in node.deref:
                                a = args[k]
                                if isinstance(a, VarRef):
                                    args[k] = read_ref(a, node.op)
                        if node.convert:
                            for k, cv in node.convert:
                                args[k] = cv(args[k])
                        if kind == _SWITCH:
                            outs = (None, args[0]) if bool(args[1]) else (args[0], None)
                        else:
                            r = node.fn(*args)
                            outs = (r,) if node.single else (() if r is None else r)
                    if kind <= _SWITCH:  # not a loop op: its outputs go to (frame, it)
                        activate(node, frame, it, dead, outs)
                        istate = frame.iters[it]
                        istate.ops -= 1
                        if istate.ops == 0 and istate.frames == 0 and frame.parent is not None:
                            self.cleanup(frame, it)
                    else:
                        self.propagate(node, frame, it, dead, outs)
        except Exception as e:  # every kernel error leaves with its node named
            op = node.op if node is not None else None
            raise self.plan.wrap_error(e, op, args) from (
                None if isinstance(e, errors.OpError) else e)

    # -- TF's PropagateOutputs -----------------------------------------------------------------
    def propagate(self, node, frame, it, dead, outs):
        kind = node.kind
        if kind == _ENTER:
            child = self.child_frame(frame, it, node)
            if node.constant:
                child.invariants.append((node, outs, dead))
                for i in range(child.count + 1):
                    if i in child.iters:
                        self.activate(node, child, i, dead, outs)
            else:
                self.activate(node, child, 0, dead, outs)
            child.pending_inputs -= 1
            if child.pending_inputs == 0:
                first = child.iters.get(0)
                if first is not None and first.ops == 0 and first.frames == 0:
                    self.cleanup(child, 0)
        elif kind == _EXIT:
            if dead:
                prev = frame.dead_exits.get(node)
                if prev is None or it > prev:
                    frame.dead_exits[node] = it
            elif frame.parent is not None:
                self.activate(node, frame.parent, frame.parent_iter, False, outs)
        elif kind == _NEXT:
            if not dead:
                if it == frame.count:
                    if frame.live_iters >= frame.parallel:  # parallel_iterations reached
                        frame.deferred.append((node, outs))
                    else:
                        self.next_iteration(frame, node)
                        self.activate(node, frame, it + 1, False, outs)
                else:
                    self.activate(node, frame, it + 1, False, outs)
        else:
            self.activate(node, frame, it, dead, outs)
        self.done_op(frame, it)

    def record(self, node, frame, dead, outs):
        """Keeps the fetched outputs of ``node``, made (dead or live) in ``frame``."""
        vals = self.vals
        for k, s in node.fetch:
            if frame is not self.root:
                if vals[s] is None:
                    vals[s] = _IN_LOOP
            else:
                v = None if dead else outs[k]
                vals[s] = _DEAD if v is None else v

    def activate(self, node, frame, it, dead, outs):
        """Delivers ``node``'s outputs (None: dead) to its consumers in (frame, it)."""
        if node.fetch:
            self.record(node, frame, dead, outs)
        istate = frame.iters[it]
        pending, deadc, inputs = istate.pending, istate.dead, istate.inputs
        nodes = self.plan.nodes
        append = self.ready.append
        made = 0
        for out_idx, dst_id, slot, is_merge, dst in node.edges:
            v = None if dead else outs[out_idx]
            if is_merge:
                if v is not None:
                    count = pending[dst_id]
                    if not count & 1:
                        continue  # a live input was taken already
                    pending[dst_id] = count - 1
                    inputs[slot] = v
                    if count != 1:
                        continue
                    dst_dead = False
                else:
                    deadc[dst_id] += 1
                    dst_dead = deadc[dst_id] == dst.n_data or node.from_enter
                    if not (pending[dst_id] == 1 and dst_dead):
                        continue
            else:
                if v is None:
                    deadc[dst_id] += 1
                else:
                    inputs[slot] = v
                p = pending[dst_id] - 1
                pending[dst_id] = p
                if p:
                    continue
                dst_dead = deadc[dst_id] > 0 and not dst.trigger
            made += 1
            append((dst, frame, it, dst_dead))
        istate.ops += made
        for dst_id in node.ctrl:
            dst = nodes[dst_id]
            if dst.kind == _MERGE:
                p = pending[dst_id] - 2
                pending[dst_id] = p
                dst_dead = deadc[dst_id] == dst.n_data
                if not (p == 0 or (p == 1 and dst_dead)):
                    continue
            else:
                if dead:
                    deadc[dst_id] += 1
                p = pending[dst_id] - 1
                pending[dst_id] = p
                if p:
                    continue
                dst_dead = deadc[dst_id] > 0 and not dst.trigger
            istate.ops += 1
            append((dst, frame, it, dst_dead))

    # -- frames and iterations -----------------------------------------------------------------
    def child_frame(self, frame, it, enter):
        key = (it, enter.frame_name)
        child = frame.children.get(key)
        if child is None:
            child = _Frame(enter.frame_name, frame, it, self.plan.enter_counts[enter.frame_name],
                           self.plan, enter.parallel)
            frame.children[key] = child
            frame.iters[it].frames += 1
        return child

    def next_iteration(self, frame, node):
        if frame.count >= self.max_iterations:
            raise errors.InvalidArgumentError(None, node.op, _runaway_message(
                frame.name, frame.count, self.max_iterations, self.plan.graph))
        frame.count += 1
        frame.live_iters += 1
        i = frame.count
        frame.iters[i] = _Iteration(self.plan)
        for inv, outs, dead in frame.invariants:
            self.activate(inv, frame, i, dead, outs)

    def done_op(self, frame, it):
        istate = frame.iters[it]
        istate.ops -= 1
        if istate.ops == 0 and istate.frames == 0 and frame.parent is not None:
            self.cleanup(frame, it)

    def cleanup(self, frame, it):
        """TF's CleanupIterations (+ frame deletion, recursively up the parents)."""
        while frame is not None:
            i = it
            while i <= frame.count and self.iteration_done(frame, i):
                del frame.iters[i]
                frame.live_iters -= 1
                i += 1
                if frame.deferred:  # start the iteration that waited for a free slot
                    roots, frame.deferred = frame.deferred, []
                    self.next_iteration(frame, roots[0][0])
                    for node, outs in roots:
                        self.activate(node, frame, frame.count, False, outs)
            if frame.pending_inputs or frame.live_iters:
                return
            parent, pit = frame.parent, frame.parent_iter
            self.delete_frame(frame)
            pstate = parent.iters[pit]
            pstate.frames -= 1
            if parent.parent is None or pstate.ops or pstate.frames:
                return
            frame, it = parent, pit

    @staticmethod
    def iteration_done(frame, i) -> bool:
        s = frame.iters.get(i)
        if s is None or s.ops or s.frames:
            return False
        if i == 0:
            return frame.pending_inputs == 0
        return (i - 1) not in frame.iters

    def delete_frame(self, frame):
        parent, pit = frame.parent, frame.parent_iter
        last = frame.count
        for node, it in frame.dead_exits.items():  # dead in the last iteration: dead in parent
            if it == last:
                self.activate(node, parent, pit, True, None)
        del parent.children[(pit, frame.name)]


def _runaway_message(frame_name, count, cap, graph) -> str:
    limit = ""
    if graph is not None:
        for item in graph.get_collection("while_context"):
            proto = getattr(item, "proto", None)
            proto = proto if proto is not None else getattr(item, "to_proto", lambda: None)()
            if proto is not None and getattr(proto, "context_name", None) == frame_name and \
                    proto.maximum_iterations_name:
                limit = f" (its maximum_iterations tensor is '{proto.maximum_iterations_name}')"
    return (f"While loop frame '{frame_name}'{limit} did not finish after {count} iterations: "
            f"gmeta stops a loop frame at {cap} iterations (a runaway loop whose condition "
            "never becomes false?). Bound the loop with maximum_iterations, or raise the cap "
            "with gmeta.set_max_loop_iterations(n) / GMETA_MAX_LOOP_ITERATIONS.")


LoopPlan = None


def _loop_plan_class():
    global LoopPlan
    if LoopPlan is None:
        LoopPlan = _init_loop_plan_class()
    return LoopPlan
