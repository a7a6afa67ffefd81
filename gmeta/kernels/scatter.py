"""The scatter updates of variables: ``Scatter<X>`` (ref variables, updated in place as TF's ref
kernels do, returning the ref) and ``ResourceScatter<X>`` (resource handles: copy-on-write, as
the optimizer updates, gmeta/kernels/training.py), for X in Add, Sub, Mul, Div, Max, Min and
Update. Duplicate indices accumulate with ``ufunc.at`` (Update: the last occurrence wins;
integer Div: one occurrence after the other, truncating as C++ does). Out-of-range indices and
mismatched update shapes raise TF's InvalidArgument messages, naming the node."""

from __future__ import annotations

import numpy as np

from gmeta.kernels import bad_input as _bad, dims as _dims, kernel
from gmeta.kernels.grad_support import scatter_at
from gmeta.kernels.state import read_ref
from gmeta.kernels.training import mutable, rounds

_SCATTER = {"Add": "add", "Sub": "subtract", "Mul": "multiply", "Div": "divide",
            "Max": "maximum", "Min": "minimum", "Update": None}


def _index_str(shape, flat_pos) -> str:
    return ",".join(str(int(i)) for i in np.unravel_index(flat_pos, shape)) if shape else ""


def _scatter_factory(ctx, ufunc, returns_ref):
    xp = ctx.xp
    op = ctx.op

    def run(ref, indices, updates):
        params = read_ref(ref, op)
        if params.ndim < 1:
            raise _bad(ctx, f"params must be at least 1-D, got shape {_dims(params.shape)}")
        want = tuple(indices.shape) + tuple(params.shape[1:])
        if updates.ndim != 0 and tuple(updates.shape) != want:
            raise _bad(ctx, f"Must have updates.shape = indices.shape + params.shape[1:] or "
                            f"updates.shape = [], got updates.shape {_dims(updates.shape)}, "
                            f"indices.shape {_dims(indices.shape)}, params.shape "
                            f"{_dims(params.shape)}")
        rows = params.shape[0]
        flat = indices.reshape(-1)
        bad = (flat < 0) | (flat >= rows)
        if flat.size and bool(xp.any(bad)):
            at = int(xp.argmax(bad))
            raise _bad(ctx, f"indices[{_index_str(indices.shape, at)}] = {int(flat[at])} is "
                            f"not in [0, {rows})")
        if not flat.size:
            return ref if returns_ref else None
        target = mutable(xp, ref, copy=not returns_ref)
        values = updates.astype(target.dtype, copy=False)
        if values.ndim:
            values = values.reshape((flat.shape[0],) + target.shape[1:])
        if ufunc is None:
            target[flat] = values
        elif ufunc == "divide" and target.dtype.kind in "iu":
            # C++ integer division truncates; duplicates divide one after the other.
            values = xp.broadcast_to(values, (flat.shape[0],) + target.shape[1:])
            for pos in rounds(flat):
                p = pos if xp is np else xp.asarray(pos)
                rows_idx = flat[p]
                num, den = target[rows_idx], values[p]
                target[rows_idx] = xp.sign(num) * xp.sign(den) * (xp.abs(num) // xp.abs(den))
        else:
            scatter_at(xp, ufunc, target, flat, values)
        return ref if returns_ref else None

    return run


def _register_scatter(name, ufunc):
    @kernel(f"Scatter{name}")
    def _ref_factory(ctx):
        return _scatter_factory(ctx, ufunc, True)

    @kernel(f"ResourceScatter{name}")
    def _resource_factory(ctx):
        return _scatter_factory(ctx, ufunc, False)


for _name, _ufunc in _SCATTER.items():
    _register_scatter(_name, _ufunc)
