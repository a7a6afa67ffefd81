"""Memory planning of lean plans, from the plan's liveness (gmeta/executor.py; switched by
``executor.INPLACE`` and ``executor.RELEASE``, read when a plan is compiled): kernels that
declare an ``inplace`` variant write into an input buffer dying with them that the plan owns
(``plan_memory``), and large values are dropped after their last reader by steps with no inputs
that store None (``with_releases``)."""

from __future__ import annotations

from gmeta import _trace, dtypes
from gmeta._device_steps import building_on, on_device
from gmeta.kernels import KernelContext, lookup

RELEASE_MIN_ELEMENTS = 1 << 14  # smaller values cost more time to drop than they hold memory
UNKNOWN_DIM = 64  # what a dimension unknown at compile time counts as in that estimate


def plan_memory(steps, kernels, protected, n_slots, state) -> None:
    """Rebinds, in ``steps``, the kernels that can write their result into an input buffer
    dying with them to their ``inplace`` variant (gmeta/kernels/__init__.py).

    The plan owns a slot's buffer when a kernel declared ``fresh`` (or ``inplace``) made it in
    this run and it is not ``protected`` (a feed, fetch, template value: constant, variable
    reference or folded value, or a slot that may hold a variable's storage). Such a slot dies
    with a step when that step is its only reader (once among its inputs), so no other step, and
    no view made by one, can see the buffer change. ``kernels`` maps the index of each kernel
    step to ``(device type, xp, device to enter or None, its closure)``; copies and variable
    reads are not kernel steps, and their outputs are never owned. A rebound step's closure
    carries the input indices it may write as ``_inplace`` (for inspection and tests).
    """
    uses = [0] * n_slots
    for _, ins, _, _ in steps:
        for s in ins:
            uses[s] += 1
    owned = set()
    for i, (_, ins, out, op) in enumerate(steps):
        info = kernels.get(i)
        if info is None:
            continue
        device_type, xp, dev, regular = info
        kdef = lookup(op._type, device_type)
        if kdef is None or not kdef.fresh:
            continue
        if kdef.inplace is not None:
            ks = tuple(k for k, s in enumerate(ins) if s in owned and uses[s] == 1)
            if ks:
                with building_on(dev):
                    alt = kdef.inplace(KernelContext(op, xp, device_type, state), ks, regular)
                if alt is not None:
                    if dev is not None:
                        alt = on_device(alt, dev)
                    alt._inplace = ks
                    steps[i] = (_trace.traced_like(steps[i][0], alt), ins, out, op)
        for o, t in zip((out,) if out.__class__ is int else out, op._outputs):
            dt = t._dtype
            if o not in protected and not (dt.is_ref_dtype or dt is dtypes.resource or
                                           dt is dtypes.variant):
                owned.add(o)


def large(t) -> bool:
    """Whether tensor ``t`` may hold RELEASE_MIN_ELEMENTS elements or more (unknown rank: yes;
    an unknown dimension counts as UNKNOWN_DIM)."""
    dims = t.shape.dims
    if dims is None:
        return True
    n = 1
    for d in dims:
        n *= UNKNOWN_DIM if d is None else d
    return n >= RELEASE_MIN_ELEMENTS


def releaser(n: int):
    nones = (None,) * n
    return lambda: nones


def with_releases(steps, slots) -> list:
    """``steps`` with, after the last step reading any of ``slots`` (or after the step making
    it, for a value no step reads), a step that sets those slots to None: one with no inputs
    whose outputs are the slots, so ``Plan.run`` drops them as it stores any step's outputs,
    and the arrays are freed (or reused by the allocator) while the run goes on."""
    last = {}
    for i, (_, ins, out, _) in enumerate(steps):
        for o in ((out,) if out.__class__ is int else out):
            if o in slots:
                last[o] = i
        for s in ins:
            if s in slots:
                last[s] = i
    dying: dict = {}
    for s, i in last.items():
        dying.setdefault(i, []).append(s)
    if not dying:
        return steps
    out_steps = []
    for i, step in enumerate(steps):
        out_steps.append(step)
        d = dying.get(i)
        if d:
            out_steps.append((releaser(len(d)), (), tuple(d), step[3]))
    return out_steps
