"""Random kernels. Each node keeps one generator per Session, keyed by its (seed, seed2)
attrs, so a seeded op repeats its stream in every new Session and advances within one."""

from __future__ import annotations

import numpy as np

from gmeta import errors
from gmeta.kernels import kernel


def _generator(ctx):
    state = ctx.state.random
    key = ctx.name
    gen = state.get(key)
    if gen is None:
        seed, seed2 = int(ctx.attr("seed", 0)), int(ctx.attr("seed2", 0))
        if seed == 0 and seed2 == 0:
            gen = np.random.default_rng()
        else:
            gen = np.random.Generator(np.random.Philox(key=[seed & 0xFFFFFFFFFFFFFFFF,
                                                            seed2 & 0xFFFFFFFFFFFFFFFF]))
        state[key] = gen
    return gen


def _shape(ctx, shape):
    if hasattr(shape, "get"):  # a CuPy array
        shape = shape.get()
    dims = [int(d) for d in np.asarray(shape).ravel()]
    if any(d < 0 for d in dims):
        raise errors.InvalidArgumentError(None, ctx.op, f"Shape {dims} of node '{ctx.name}' "
                                                        "has negative dimensions")
    return tuple(dims)


def _to_device(ctx, arr):
    return arr if ctx.xp is np else ctx.xp.asarray(arr)


@kernel("TruncatedNormal", host_memory=("shape",))
def _truncated_normal(ctx):
    gen = _generator(ctx)
    dtype = ctx.output_np_dtype()

    def run(shape):
        shape = _shape(ctx, shape)
        out = gen.standard_normal(shape)
        bad = np.abs(out) > 2.0
        while bad.any():
            out[bad] = gen.standard_normal(int(bad.sum()))
            bad = np.abs(out) > 2.0
        return _to_device(ctx, out.astype(dtype))

    return run


@kernel("RandomStandardNormal", host_memory=("shape",))
def _random_normal(ctx):
    gen = _generator(ctx)
    dtype = ctx.output_np_dtype()
    return lambda shape: _to_device(ctx, gen.standard_normal(_shape(ctx, shape)).astype(dtype))


@kernel("RandomUniform", host_memory=("shape",))
def _random_uniform(ctx):
    gen = _generator(ctx)
    dtype = ctx.output_np_dtype()
    return lambda shape: _to_device(ctx, gen.random(_shape(ctx, shape)).astype(dtype))


@kernel("RandomUniformInt", host_memory=("shape",))
def _random_uniform_int(ctx):
    gen = _generator(ctx)
    dtype = ctx.output_np_dtype()

    def run(shape, minval, maxval):
        lo, hi = int(minval), int(maxval)
        if lo >= hi:
            raise errors.InvalidArgumentError(None, ctx.op, f"Need minval < maxval: {lo} >= {hi} "
                                                            f"(node '{ctx.name}')")
        return _to_device(ctx, gen.integers(lo, hi, size=_shape(ctx, shape)).astype(dtype))

    return run
