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
    # A plan only binds kernels of needed ops; a fed placeholder is not one, so binding this
    # kernel means the placeholder was left unfed: say so when the plan is compiled.
    op = ctx.op
    shape = op._attr("shape")
    shape_str = "unknown" if shape is None or shape.ndims is None else \
        "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"
    raise errors.InvalidArgumentError(
        None, op, f"You must feed a value for placeholder tensor '{op.name}' with dtype "
                  f"{op.outputs[0].dtype.name} and shape {shape_str}")


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
