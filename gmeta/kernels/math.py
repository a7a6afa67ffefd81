"""Math kernels: elementwise arithmetic, matmul, reductions, comparisons, casts."""

from __future__ import annotations

from gmeta.kernels import kernel


@kernel("AddV2", "Add")
def _add(ctx):
    return ctx.xp.add


@kernel("Mul")
def _mul(ctx):
    return ctx.xp.multiply


@kernel("Sub")
def _sub(ctx):
    return ctx.xp.subtract


@kernel("MatMul")
def _matmul(ctx):
    xp = ctx.xp
    ta, tb = ctx.attr("transpose_a", False), ctx.attr("transpose_b", False)
    if not ta and not tb:
        return xp.matmul
    return lambda a, b: xp.matmul(a.T if ta else a, b.T if tb else b)
