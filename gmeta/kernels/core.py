"""Kernels of the graph's plumbing: constants, placeholders, identity, no-op."""

from __future__ import annotations

from gmeta import errors
from gmeta.kernels import kernel


@kernel("Const")
def _const(ctx):
    value = ctx.const(ctx.attr("value"))
    return lambda: value


@kernel("Placeholder")
def _placeholder(ctx):
    op = ctx.op
    dtype = op.outputs[0].dtype.name
    shape = op._attr("shape")
    shape_str = "unknown" if shape is None or shape.ndims is None else \
        "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"

    def run():
        raise errors.InvalidArgumentError(
            None, op, f"You must feed a value for placeholder tensor '{op.name}' with dtype "
                      f"{dtype} and shape {shape_str}")

    return run


@kernel("PlaceholderWithDefault", "Identity", "StopGradient", "Snapshot", "PreventGradient",
        "RefIdentity")
def _identity(ctx):
    return lambda x: x


@kernel("IdentityN")
def _identity_n(ctx):
    return lambda *xs: xs


@kernel("NoOp")
def _no_op(ctx):
    return lambda: None
