"""Kernels of v1 while loops and of the stacks their gradients use.

``Enter``/``Exit``/``NextIteration``/``LoopCond`` forward their input: moving a value between
frames and iterations is the loop executor's work (gmeta/_loop_exec.py), not the kernel's.
``ControlTrigger`` does nothing (the executor never marks it dead).

A stack (``StackV2``) is a Python list made each time its node runs, so a Session step's
stacks live only as long as the values that reference them; ``StackPushV2`` appends and
returns the pushed value, ``StackPopV2`` pops (TF's errors for an empty or closed stack).
"""

from __future__ import annotations

from gmeta import errors
from gmeta.kernels import kernel


@kernel("Enter", "RefEnter", "Exit", "RefExit", "NextIteration", "RefNextIteration",
        "LoopCond")
def _forward(ctx):
    return lambda x: x


@kernel("ControlTrigger")
def _control_trigger(ctx):
    return lambda: None


class Stack:
    """The storage of one execution of a ``StackV2`` node."""

    __slots__ = ("name", "dtype", "max_size", "items", "closed")

    def __init__(self, name, dtype, max_size):
        self.name = name
        self.dtype = dtype
        self.max_size = max_size
        self.items: list = []
        self.closed = False

    def __repr__(self):
        return f"<Stack {self.name} size={len(self.items)}>"


@kernel("StackV2")
def _stack_v2(ctx):
    name = ctx.attr("stack_name", b"").decode() or ctx.name
    dtype = ctx.attr("elem_type")

    def run(max_size):
        return Stack(name, dtype, int(max_size))

    return run


def _check_open(ctx, stack):
    if stack.closed:
        raise errors.InvalidArgumentError(
            None, ctx.op, f"Stack[{stack.name}] has already been closed.")


@kernel("StackPushV2")
def _stack_push_v2(ctx):
    def run(stack, elem):
        _check_open(ctx, stack)
        if 0 <= stack.max_size <= len(stack.items):
            raise errors.InvalidArgumentError(
                None, ctx.op, f"Stack[{stack.name}] overflowed its max_size ({stack.max_size})")
        stack.items.append(elem)
        return elem

    return run


@kernel("StackPopV2")
def _stack_pop_v2(ctx):
    def run(stack):
        _check_open(ctx, stack)
        if not stack.items:
            raise errors.InvalidArgumentError(
                None, ctx.op, f"Stack[{stack.name}] is empty.")
        return stack.items.pop()

    return run


@kernel("StackCloseV2")
def _stack_close_v2(ctx):
    def run(stack):
        stack.closed = True
        stack.items = []

    return run
