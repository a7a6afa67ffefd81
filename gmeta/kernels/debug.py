"""Debugging kernels: CheckNumerics (NaN / Inf detection) and Assert (host only)."""

from __future__ import annotations

import numpy as np

from gmeta import errors
from gmeta.kernels import kernel


@kernel("CheckNumerics", "CheckNumericsV2")
def _check_numerics(ctx):
    xp = ctx.xp
    op = ctx.op
    message = ctx.attr("message", b"").decode()
    infs_too = True

    def run(x):
        bad_nan = bool(xp.isnan(x).any())
        bad_inf = infs_too and bool(xp.isinf(x).any())
        if bad_nan or bad_inf:
            what = " and ".join(w for w, b in (("NaN", bad_nan), ("Inf", bad_inf)) if b)
            raise errors.InvalidArgumentError(
                None, op, f"{message} : Tensor had {what} values (node '{op.name}', checking "
                          f"'{op.inputs[0].name}')")
        return x

    return run


@kernel("Assert", device="CPU")
def _assert(ctx):
    op = ctx.op
    summarize = int(ctx.attr("summarize", 3))

    def show(v):
        arr = np.asarray(v)
        if arr.dtype == object:
            flat = [x.decode() if isinstance(x, bytes) else str(x) for x in arr.ravel()]
            return " ".join(flat[:summarize]) if arr.ndim else flat[0]
        flat = arr.ravel()[:summarize].tolist()
        return str(flat[0]) if arr.ndim == 0 else "[" + " ".join(str(x) for x in flat) + \
            ("...]" if arr.size > summarize else "]")

    def run(condition, *data):
        if not bool(np.asarray(condition).all()):
            raise errors.InvalidArgumentError(
                None, op, f"assertion failed: [{'] ['.join(show(d) for d in data)}] (node "
                          f"'{op.name}')")
        return None

    return run
