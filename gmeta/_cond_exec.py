"""Dead tensors for plans with ``Switch``: the v1 ``tf.cond`` runtime.

A ``Switch(data, pred)`` sends ``data`` to output 1 when ``pred`` is true, to output 0 otherwise;
the other output is *dead* (the ``DEAD`` sentinel). Any op with a dead data input, or a control
input from a dead op, is dead in turn: its kernel does not run and all its outputs are dead.
``Merge`` is the exception: it forwards its first live input and that input's index, and is dead
only when all of its inputs are. Fetching a dead tensor raises ``InvalidArgumentError``.

Only plans that contain a ``Switch``/``RefSwitch`` use this loop (``executor.compile_plan``
wraps them with :func:`dead_aware`); every other plan keeps the plain, faster loop.
"""

from __future__ import annotations

import numpy as np

from gmeta import errors
from gmeta.kernels import kernel

SWITCH_TYPES = frozenset(["Switch", "RefSwitch"])
_MERGE_TYPES = frozenset(["Merge", "RefMerge"])


class _Dead:
    """The value of a tensor on the branch not taken."""

    __slots__ = ()

    def __repr__(self):
        return "DEAD"


DEAD = _Dead()


@kernel("Switch", "RefSwitch")
def _switch(ctx):
    def run(data, pred):
        return (DEAD, data) if bool(pred) else (data, DEAD)

    return run


@kernel("Merge", "RefMerge")
def _merge(ctx):
    # Called by the dead-aware loop with the first live input and its index.
    xp = ctx.xp

    def run(value, index):
        return value, xp.asarray(index, dtype=np.int32)

    return run


def _is_deref(fn) -> bool:
    """A plan step of the executor's own (a variable read, a cross-device copy): it passes a
    dead value on without making its consumer dead."""
    return getattr(fn, "_passthrough", False)


def dead_aware(plan):
    """``plan`` as a :class:`DeadAwarePlan` (same steps and slots)."""
    from gmeta import executor

    class DeadAwarePlan(executor.Plan):
        __slots__ = ("dsteps",)

        def run(self, feed_values) -> list:
            return _run(self, feed_values, executor._wrap_error)

    out = DeadAwarePlan()
    for name in executor.Plan.__slots__:
        setattr(out, name, getattr(plan, name))
    dsteps = []
    for fn, ins, o, op in plan.steps:
        deref = _is_deref(fn)
        merge = op.type in _MERGE_TYPES and not deref
        ctrl = tuple(op._control_inputs) if not deref else ()
        dsteps.append((fn, ins, o, op, merge, ctrl, deref))
    out.dsteps = dsteps
    return out


def _run(plan, feed_values, wrap_error) -> list:
    vals = [None] * plan.n_slots
    for slot, value in zip(plan.feed_slots, feed_values):
        vals[slot] = value
    dead_ops = set()
    op = None
    args = ()
    try:
        with np.errstate(all="ignore"):
            for fn, ins, out, op, merge, ctrl, deref in plan.dsteps:
                args = [vals[i] for i in ins]
                if merge:
                    r = None
                    for i, a in enumerate(args):
                        if a is not DEAD:
                            r = fn(a, i)
                            break
                    dead = r is None
                else:
                    dead = any(a is DEAD for a in args) or any(c in dead_ops for c in ctrl)
                    if not dead:
                        r = fn(*args)
                if dead:
                    if not deref:
                        dead_ops.add(op)
                    if out.__class__ is int:
                        vals[out] = DEAD
                    else:
                        for o in out:
                            vals[o] = DEAD
                elif out.__class__ is int:
                    vals[out] = r
                elif out:
                    for o, v in zip(out, r):
                        vals[o] = v
    except Exception as e:  # every kernel error leaves with its node named
        raise wrap_error(e, op, args) from (None if isinstance(e, errors.OpError) else e)
    out = [vals[i] for i in plan.fetch_slots]
    for i, v in enumerate(out):
        if v is DEAD:
            raise errors.InvalidArgumentError(
                None, plan.fetches[i].op if i < len(plan.fetches) else None,
                f"Retval[{i}] does not have value")
    for i in plan.copy_fetch:
        out[i] = out[i].copy()
    return out
