"""The kernel registry: one kernel factory per (op type, device type).

Adding a kernel takes two steps:

1. Write a factory in the family module (``math.py``, ``array.py``, ``nn.py``, ...). It runs once
   per node when a plan is compiled: it reads the node's attrs through ``ctx`` and returns a lean
   closure that takes the input arrays and returns the output array — or a tuple/list of arrays
   for ops with several outputs or a list-typed output (``N * T``, a type list, even when it
   holds one tensor), None for ops with none::

       @kernel("Transpose")
       def _transpose(ctx):
           xp = ctx.xp
           return lambda x, perm: xp.transpose(x, tuple(int(p) for p in perm))

2. Make sure the family module is imported at the bottom of this file.

``device=None`` registers a generic kernel written against ``ctx.xp`` (numpy on CPU, CuPy on GPU);
``device="CPU"``/``"GPU"`` registers a device-specific body, which wins over the generic one.
Registering the same key twice raises, naming both places.

Memory planning (``gmeta/executor.py``) reads two opt-in declarations:

* ``fresh=True``: every output the closure returns is a new array that nothing else references
  (no view of an input, no cached or plan-time constant), so the plan owns it.
* ``inplace=variant``: ``variant(ctx, ks, regular)`` runs at plan time for a node whose inputs
  at indices ``ks`` die with it and hold buffers the plan owns (made in this run by a ``fresh`` or
  ``inplace`` kernel, read by no other step, not fed, fetched, constant or a variable's). It
  returns a closure with the kernel's signature that may write its result into one of those
  inputs (``out=``, same dtype and shape as the output; it checks shapes at run time and calls
  ``regular``, the kernel's ordinary closure, otherwise), or None to keep ``regular``.
  ``inplace`` implies ``fresh``: the ordinary closure's outputs must be new arrays, and the
  variant's are new arrays or a buffer the plan owned already.
"""

from __future__ import annotations

import sys
from typing import Callable, NamedTuple, Optional

import numpy as np

from gmeta import errors


class KernelDef(NamedTuple):
    op_type: str
    device: Optional[str]
    factory: Callable
    host_memory: tuple
    site: str
    fresh: bool = False  # outputs are always new arrays (see the module docstring)
    inplace: Optional[Callable] = None  # variant(ctx, ks, regular) -> closure or None


_REGISTRY: dict[tuple[str, Optional[str]], KernelDef] = {}


def kernel(*op_types: str, device: Optional[str] = None, host_memory: tuple = (),
           fresh: bool = False, inplace: Optional[Callable] = None):
    """Registers the decorated factory for each of ``op_types`` on ``device`` (None = any);
    ``fresh``/``inplace``: the memory-planning declarations of the module docstring."""

    def deco(factory):
        frame = sys._getframe(1)  # inspect.stack() would read every source file: seconds
        site = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        for op_type in op_types:
            key = (op_type, device)
            if key in _REGISTRY:
                raise KeyError(f"kernel for op {op_type!r} on {device or 'any device'} registered "
                               f"twice: at {_REGISTRY[key].site} and at {site}")
            _REGISTRY[key] = KernelDef(op_type, device, factory, tuple(host_memory), site,
                                       bool(fresh or inplace is not None), inplace)
        return factory

    return deco


def lookup(op_type: str, device_type: str) -> Optional[KernelDef]:
    """The kernel for ``op_type`` on ``device_type``: the device-specific one, else generic."""
    return _REGISTRY.get((op_type, device_type)) or _REGISTRY.get((op_type, None))


def has_kernel(op_type: str, device_type: str) -> bool:
    return lookup(op_type, device_type) is not None


def devices_with_kernel(op_type: str) -> list[str]:
    devs = {d for (t, d) in _REGISTRY if t == op_type}
    if None in devs:
        return ["CPU", "GPU"]
    return sorted(devs)


def registered_op_types() -> list[str]:
    return sorted({t for (t, _) in _REGISTRY})


class KernelContext:
    """What a kernel factory sees of its node at plan time."""

    __slots__ = ("op", "xp", "device_type", "state")

    def __init__(self, op, xp, device_type: str, session_state):
        self.op = op
        self.xp = xp
        self.device_type = device_type
        self.state = session_state

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def type(self) -> str:
        return self.op.type

    def attr(self, name: str, default=None):
        """The node's attr decoded for kernels (DType, TensorShape, ndarray, bytes, ...)."""
        return self.op._attr(name, default)

    @property
    def input_dtypes(self) -> list:
        return [t.dtype.base_dtype for t in self.op._inputs]

    @property
    def output_dtypes(self) -> list:
        return [t.dtype.base_dtype for t in self.op._outputs]

    def output_np_dtype(self, i: int = 0):
        return self.op._outputs[i].dtype.base_dtype.as_numpy_dtype

    @property
    def input_shapes(self) -> list:
        return [t.shape for t in self.op._inputs]

    def const(self, value, dtype=None):
        """A plan-time constant on this kernel's device."""
        arr = np.asarray(value, dtype=dtype)
        return arr if self.xp is np else self.xp.asarray(arr)


def bad_input(ctx, message: str) -> errors.InvalidArgumentError:
    """The InvalidArgument error of a kernel, naming its node: ``message (node 'name')``."""
    return errors.InvalidArgumentError(None, ctx.op, f"{message} (node '{ctx.name}')")


def dims(shape) -> str:
    """A shape as TF's kernel messages print it: ``[2,3]``."""
    return "[" + ",".join(str(int(d)) for d in shape) + "]"


def is_cupy(xp) -> bool:
    """Whether the array module ``xp`` is CuPy (a real GPU; numpy, also for virtual GPUs, is
    not). Kernels then skip value checks TF's GPU kernels skip too (they would make every step
    wait for the device) and may take fused CUDA kernels (gmeta/kernels/cuda_fused.py)."""
    return getattr(xp, "__name__", "") == "cupy"


# -- in-place variants of elementwise kernels --------------------------------------------------
def _covers(big: tuple, small: tuple) -> bool:
    """Whether a ``small``-shaped operand broadcasts to ``big`` without growing it."""
    n = len(small)
    if n > len(big):
        return False
    for d, e in zip(small, big[len(big) - n:]):
        if d != 1 and d != e:
            return False
    return True


def same_dtype(ctx, ks) -> tuple:
    """The indices in ``ks`` whose input has the dtype of the node's one output (not a string:
    those arrays hold objects of any length)."""
    out = ctx.op._outputs
    if len(out) != 1:
        return ()
    dt = out[0].dtype.base_dtype
    if dt.name == "string":
        return ()
    return tuple(k for k in ks if ctx.op._inputs[k].dtype.base_dtype == dt)


def inplace_unary(name: str):
    """An ``inplace`` variant for a kernel that is the ufunc ``xp.<name>(x)`` (same dtype in
    and out)."""

    def variant(ctx, ks, regular):
        if 0 not in same_dtype(ctx, ks):
            return None
        ufunc = getattr(ctx.xp, name)
        return lambda x: ufunc(x, out=x)

    return variant


def inplace_binary(name: str):
    """An ``inplace`` variant for a kernel that is the ufunc ``xp.<name>(x, y)`` with
    broadcasting: the result goes into whichever dying input already has the result's shape;
    ``regular`` runs when none has (a broadcast that grows it) and reports bad shapes as the
    kernel does."""

    def variant(ctx, ks, regular):
        ks = same_dtype(ctx, ks)
        ufunc = getattr(ctx.xp, name)
        fits = [None]  # the last (x shape, y shape) that wrote into the dying input

        if ks == (0,):
            def run(x, y):
                xs, ys = pair = x.shape, y.shape
                if pair == fits[0] or xs == ys or _covers(xs, ys):
                    fits[0] = pair
                    return ufunc(x, y, out=x)
                return regular(x, y)
        elif ks == (1,):
            def run(x, y):
                xs, ys = pair = x.shape, y.shape
                if pair == fits[0] or ys == xs or _covers(ys, xs):
                    fits[0] = pair
                    return ufunc(x, y, out=y)
                return regular(x, y)
        elif ks:
            def run(x, y):
                xs, ys = x.shape, y.shape
                if xs == ys or _covers(xs, ys):
                    return ufunc(x, y, out=x)
                if _covers(ys, xs):
                    return ufunc(x, y, out=y)
                return regular(x, y)
        else:
            return None
        return run

    return variant


# Family modules register their kernels on import.
from gmeta.kernels import (  # noqa: E402,F401
    array, conv, core, coverage, debug, grad_support, io, math, math_extra, nn, random, state,
    summary, training,
)  # noqa: E402,F401
from gmeta.kernels import scatter, sparse, sparse_segment  # noqa: E402,F401
