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
"""

from __future__ import annotations

import sys
from typing import Callable, NamedTuple, Optional

import numpy as np


class KernelDef(NamedTuple):
    op_type: str
    device: Optional[str]
    factory: Callable
    host_memory: tuple
    site: str


_REGISTRY: dict[tuple[str, Optional[str]], KernelDef] = {}


def kernel(*op_types: str, device: Optional[str] = None, host_memory: tuple = ()):
    """Registers the decorated factory for each of ``op_types`` on ``device`` (None = any)."""

    def deco(factory):
        frame = sys._getframe(1)  # inspect.stack() would read every source file: seconds
        site = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        for op_type in op_types:
            key = (op_type, device)
            if key in _REGISTRY:
                raise KeyError(f"kernel for op {op_type!r} on {device or 'any device'} registered "
                               f"twice: at {_REGISTRY[key].site} and at {site}")
            _REGISTRY[key] = KernelDef(op_type, device, factory, tuple(host_memory), site)
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


# Family modules register their kernels on import.
from gmeta.kernels import (  # noqa: E402,F401
    array, conv, core, coverage, debug, grad_support, io, math, math_extra, nn, random, state,
    summary, training,
)  # noqa: E402,F401
from gmeta.kernels import sparse, sparse_segment  # noqa: E402,F401
