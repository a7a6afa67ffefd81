"""Neural-network kernels."""

from __future__ import annotations

from gmeta.kernels import kernel


@kernel("Relu")
def _relu(ctx):
    xp = ctx.xp
    return lambda x: xp.maximum(x, 0).astype(x.dtype, copy=False)
