"""Complex-number construction: ``Complex(real, imag)`` (the complex-gradient graphs use it)."""

from __future__ import annotations

from gmeta.kernels import kernel


@kernel("Complex")
def _complex(ctx):
    xp = ctx.xp
    dtype = ctx.output_np_dtype()
    return lambda real, imag: (xp.asarray(real) + 1j * xp.asarray(imag)).astype(dtype)
