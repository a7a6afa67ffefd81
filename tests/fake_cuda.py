"""A numpy-backed fake ``cupy`` that makes gmeta see real (non-virtual) GPUs on any machine.

``fake_cuda(n_gpus=1)`` (a context manager; ``fake_gpu`` is the pytest fixture) puts a module
named ``cupy`` (and ``cupyx``, ``cupyx.scipy.special``) into ``sys.modules``, hides NVML, and
resets gmeta's GPU probe, so the inventory lists ``n_gpus`` real GPUs whose ``xp`` is the fake.
Everything is removed (and the probe reset again) on exit.

What it enforces, as CuPy does:

- Device arrays are :class:`DeviceArray` (a numpy subclass) and every operation on them gives
  DeviceArrays (reductions give 0-d arrays, not numpy scalars).
- A ufunc, numpy function, fake-module function or ElementwiseKernel given a plain
  ``numpy.ndarray`` (0-d included) raises ``TypeError("Unsupported type <class
  'numpy.ndarray'>")``; Python and numpy scalars are fine. ``asarray``/``array``/
  ``ascontiguousarray`` are the host-to-device copies; ``asnumpy``/``.get()`` the other way.
  Index arrays (``a[idx]``, ``ufunc.at``) may be host arrays (CuPy uploads them).
- Host synchronisations (``int``/``float``/``bool``/``operator.index``/``item``/``tolist`` of a
  DeviceArray, ``.get()``, ``asnumpy``, synchronising the capturing stream) are counted in
  ``FakeCupy.syncs`` (a Counter by kind); during a stream capture each raises
  ``RuntimeError("cudaErrorStreamCaptureUnsupported")``, as CUDA refuses the capture. So do
  the implicit syncs of CuPy's data-shaped functions (``nonzero``, ``argwhere``, one-argument
  ``where``, ``unique``, ``bincount``, ``repeat``, ...) and of boolean-mask indexing.
- Fresh arrays own their memory (``flags.owndata``), views do not; ``copy()`` and new arrays
  are made on the current ``cupy.cuda.Device``; operations on arrays of another GPU are counted
  (``cross_device_ops``); host-to-device copies are counted (``uploads``), and those made on a
  capturing stream apart (``uploads_in_capture``: a replay would read freed host memory).
- ``ElementwiseKernel`` runs bodies with the C-subset evaluator of
  tests/kernels/test_cuda_fused.py and lists each launch's name in ``launches``.

What it does not model: a capture still runs its kernels eagerly and ``Graph.launch`` runs
nothing (a replay is not emulated: numbers of graphed runs mean nothing); streams, events and
devices are bookkeeping only (no asynchrony, no peer access rules, no memory limits); CuPy's
dtype promotion and the NumPy functions CuPy lacks are numpy's; and, being a numpy subclass,
a DeviceArray passes ``isinstance(x, np.ndarray)`` and ``np.asarray(x)`` silently gives a host
view (CuPy raises there), so host reads through those two routes are not seen.
"""

from __future__ import annotations

import collections
import contextlib
import operator
import sys
import types

import numpy as np
import pytest
import scipy.special

from tests.kernels.test_cuda_fused import Program  # the C-subset evaluator of the fused kernels

_UNSUPPORTED = "Unsupported type <class 'numpy.ndarray'>"
_ACTIVE: list = []  # the installed FakeCupy (one at a time)


def _fake():
    return _ACTIVE[-1] if _ACTIVE else None


def _sync(kind: str) -> None:
    fake = _fake()
    if fake is None:
        return
    # CuPy captures in relaxed mode (cupy.cuda.Stream.begin_capture): a synchronisation on the
    # capturing stream is refused; one on another non-blocking stream (gmeta's side stream for
    # values fixed per signature) just happens
    if fake.capturing is not None and fake.current_stream() is fake.capturing:
        fake.refused.append(kind)
        raise RuntimeError(f"cudaErrorStreamCaptureUnsupported: operation not permitted when "
                           f"stream is capturing ({kind})")
    fake.syncs[kind] += 1


def _current_device() -> int:
    fake = _fake()
    return fake.device_stack[-1] if fake is not None and fake.device_stack else 0


# -- arrays ------------------------------------------------------------------------------------
class _Pointer:
    """``DeviceArray.data``: a MemoryPointer with the one copy gmeta uses."""

    def __init__(self, arr):
        self.arr = arr

    def copy_from_device_async(self, src, nbytes, stream=None):
        dst = self.arr.view(np.ndarray).reshape(-1).view(np.uint8)
        s = src.arr.view(np.ndarray).reshape(-1).view(np.uint8)
        dst[:nbytes] = s[:nbytes]

    @property
    def ptr(self):
        return self.arr.__array_interface__["data"][0]


class _DeviceRef:
    def __init__(self, i):
        self.id = i

    def __eq__(self, other):
        return getattr(other, "id", None) == self.id

    def __hash__(self):
        return hash(self.id)


def _host_scalar(kind: str, convert):
    """A DeviceArray method reading its value as a Python scalar: a host synchronisation."""

    def method(self):
        _sync(kind)
        return convert(self.view(np.ndarray))

    return method


class DeviceArray(np.ndarray):
    """A cupy.ndarray stand-in: numpy memory, CuPy's rules."""

    __module__ = "cupy._core.core"  # gmeta tests type(x).__module__.startswith("cupy")

    def __array_finalize__(self, obj):
        dev = getattr(obj, "_device_id", None)
        self._device_id = _current_device() if dev is None else dev

    # numpy protocol
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _call(getattr(ufunc, method), inputs, kwargs, index_pos=1 if method == "at"
                     else None)

    def __array_function__(self, func, types_, args, kwargs):
        name = getattr(func, "__name__", "")
        if name in _DATA_SHAPED or (name == "where" and len(args) == 1):
            _sync(f"cupy.{name}")
        return _call(func, args, kwargs)

    def nonzero(self):
        _sync("cupy.nonzero")
        return _wrap(self.view(np.ndarray).nonzero())

    # indexing: index arrays may be device or host arrays (CuPy uploads host ones)
    def __getitem__(self, key):
        _mask_sync(key)
        return _wrap(np.ndarray.__getitem__(self.view(np.ndarray), _unwrap_index(key)))

    def __setitem__(self, key, value):
        _mask_sync(key)
        if isinstance(value, DeviceArray):
            value = value.view(np.ndarray)
        np.ndarray.__setitem__(self.view(np.ndarray), _unwrap_index(key), value)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def copy(self, order="C"):
        """A copy on the current device (CuPy's ``ndarray.copy``; peer to peer)."""
        _note_devices((self,), peer_ok=True)
        return _own(np.ndarray.copy(self.view(np.ndarray), order=order))

    # host synchronisations
    __int__ = _host_scalar("int", int)
    __float__ = _host_scalar("float", float)
    __complex__ = _host_scalar("complex", complex)
    __bool__ = _host_scalar("bool", bool)
    __index__ = _host_scalar("index", operator.index)

    def item(self, *args):
        _sync("item")
        return self.view(np.ndarray).item(*args)

    def tolist(self):
        _sync("tolist")
        return self.view(np.ndarray).tolist()

    def get(self, stream=None, order="C", out=None):
        _sync("get")
        return np.array(self.view(np.ndarray), order=order)

    def set(self, arr, stream=None):
        if isinstance(arr, DeviceArray) or not isinstance(arr, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, not {type(arr)}")
        if arr.shape != self.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        if arr.dtype != self.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self.dtype} array")
        fake = _fake()
        if fake is not None:
            fake.note_upload()
        np.ndarray.__setitem__(self.view(np.ndarray), Ellipsis, arr)

    @property
    def device(self):
        return _DeviceRef(self._device_id)

    @property
    def data(self):
        return _Pointer(self)

    def __repr__(self):
        return "fake-cupy " + repr(self.view(np.ndarray))

    __str__ = __repr__


def _mask_sync(key) -> None:
    """A boolean-mask index: CuPy counts the selected elements on the host (a sync)."""
    for k in key if isinstance(key, tuple) else (key,):
        if isinstance(k, np.ndarray) and k.dtype == bool and k.ndim:
            _sync("boolean mask index")
            return


def _unwrap_index(key):
    if isinstance(key, DeviceArray):
        return key.view(np.ndarray)
    if isinstance(key, tuple):
        return tuple(k.view(np.ndarray) if isinstance(k, DeviceArray) else k for k in key)
    return key


def _unwrap(obj, strict=True):
    """``obj`` with DeviceArrays as plain numpy views; a host ndarray is refused when strict."""
    if isinstance(obj, DeviceArray):
        return obj.view(np.ndarray)
    if isinstance(obj, np.ndarray):
        if strict:
            raise TypeError(_UNSUPPORTED)
        return obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unwrap(o, strict) for o in obj)
    return obj


def _own(r):
    """A DeviceArray of plain array ``r``: a view where ``r`` is one, else an array owning its
    memory (CuPy's fresh arrays have ``flags.owndata``; gmeta's in-place updates check it)."""
    if r.base is not None:
        return r.view(DeviceArray)
    order = "F" if r.flags.f_contiguous and not r.flags.c_contiguous else "C"
    out = np.ndarray.__new__(DeviceArray, r.shape, r.dtype, order=order)
    np.copyto(out.view(np.ndarray), r)
    return out


def _wrap(r):
    if isinstance(r, DeviceArray):
        return r
    if isinstance(r, np.ndarray):
        return _own(r)
    if isinstance(r, np.generic):
        return _own(np.asarray(r))  # CuPy gives 0-d arrays, never numpy scalars
    if isinstance(r, tuple):
        return tuple(_wrap(x) for x in r)
    if isinstance(r, list):
        return [_wrap(x) for x in r]
    return r


def _note_devices(args, peer_ok=False) -> None:
    """Counts operations on arrays of another GPU than the current one (CuPy runs them through
    peer access where the GPUs have it, and raises where not)."""
    fake = _fake()
    if fake is None or peer_ok:
        return
    cur = _current_device()
    for a in args:
        if isinstance(a, (list, tuple)):
            _note_devices(a)
        elif isinstance(a, DeviceArray) and a._device_id != cur:
            fake.cross_device_ops += 1


def _call(fn, args, kwargs, index_pos=None, strict=True):
    _note_devices(args)
    args = [(_unwrap_index(a) if isinstance(a, DeviceArray) else a) if i == index_pos
            else _unwrap(a, strict) for i, a in enumerate(args)]
    out = kwargs.get("out")
    kwargs = {k: _unwrap(v, strict) for k, v in kwargs.items()}
    r = fn(*args, **kwargs)
    if isinstance(out, tuple):  # ufuncs get out=(array,) (or (None,)) from numpy
        out = None if all(o is None for o in out) else out[0] if len(out) == 1 else out
    if out is not None:
        return out
    if index_pos is not None:  # ufunc.at: in place, returns None
        return r
    return _wrap(r)


class _Ufunc:
    """``cupy.add`` etc.: a ufunc that takes device arrays and scalars only."""

    def __init__(self, uf):
        self._uf = uf
        self.__name__ = uf.__name__

    def __call__(self, *args, **kwargs):
        return _call(self._uf, args, kwargs)

    def reduce(self, *args, **kwargs):
        return _call(self._uf.reduce, args, kwargs)

    def accumulate(self, *args, **kwargs):
        return _call(self._uf.accumulate, args, kwargs)

    def outer(self, *args, **kwargs):
        return _call(self._uf.outer, args, kwargs)

    def reduceat(self, *args, **kwargs):
        return _call(self._uf.reduceat, args, kwargs)

    def at(self, a, indices, b=None):
        if not isinstance(a, DeviceArray):
            raise TypeError(_UNSUPPORTED)
        args = (a, indices) if b is None else (a, indices, b)
        return _call(self._uf.at, args, {}, index_pos=1)

    def __getattr__(self, name):
        return getattr(self._uf, name)


# CuPy functions whose output shape depends on the data: they read a count on the host.
_DATA_SHAPED = frozenset(["nonzero", "argwhere", "flatnonzero", "unique", "bincount", "compress",
                          "extract", "repeat", "trim_zeros"])


def _function(fn, strict=True):
    name = getattr(fn, "__name__", "")

    def run(*args, **kwargs):
        if name in _DATA_SHAPED or (name == "where" and len(args) == 1):
            _sync(f"cupy.{name}")
        return _call(fn, args, kwargs, strict=strict)

    run.__name__ = getattr(fn, "__name__", "function")
    return run


def _upload(fn):
    """asarray/array/ascontiguousarray: host data becomes a device array (a copy)."""

    def run(a, *args, **kwargs):
        if isinstance(a, DeviceArray):
            view = a.view(np.ndarray)
            r = fn(view, *args, **kwargs)
            return a if r is view else _wrap(r)
        fake = _fake()
        if fake is not None:
            fake.note_upload()
        return _own(np.array(fn(_unwrap(a, strict=False), *args, **kwargs)))

    run.__name__ = fn.__name__
    return run


def _asnumpy(a, stream=None, order="C", out=None):
    if isinstance(a, DeviceArray):
        _sync("asnumpy")
        return np.array(a.view(np.ndarray), order=order)
    return np.asarray(a, order=order)


_CREATION = ("zeros", "ones", "empty", "full", "arange", "eye", "identity", "linspace",
             "zeros_like", "ones_like", "empty_like", "full_like", "tri", "indices")
_PASSTHROUGH = frozenset([
    "dtype", "finfo", "iinfo", "result_type", "promote_types", "can_cast", "issubdtype",
    "isscalar", "ndim", "shape", "size", "errstate", "broadcast_shapes", "obj2sctype"])


# -- cupy.cuda -----------------------------------------------------------------------------------
class _Device:
    def __init__(self, fake, device=None):
        self._fake = fake
        self.id = _current_device() if device is None else int(device)
        if not 0 <= self.id < fake.n_gpus:
            raise RuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal ({self.id})")

    @property
    def pci_bus_id(self):
        return f"0000:{self.id + 0x1b:02x}:00.0"

    @property
    def compute_capability(self):
        return "90"

    def __enter__(self):
        self._fake.device_stack.append(self.id)
        return self

    def __exit__(self, *exc):
        self._fake.device_stack.pop()

    def use(self):
        self._fake.device_stack[:] = [self.id]

    def synchronize(self):
        _sync("device.synchronize")

    def __eq__(self, other):
        return isinstance(other, _Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)


class _Event:
    def synchronize(self):
        _sync("event.synchronize")

    def record(self, stream=None):
        pass

    @property
    def done(self):
        return True


class _Graph:
    def __init__(self, fake, stream):
        self._fake = fake
        self.stream = stream

    def launch(self, stream=None):
        """Runs nothing: the fake does not replay a capture (see the module docstring)."""
        self._fake.graph_launches += 1


class _Stream:
    def __init__(self, fake, null=False, non_blocking=False, ptds=False, priority=0):
        self._fake = fake
        self.null = null
        self.non_blocking = non_blocking
        self.device_id = _current_device()
        self.ptr = 0 if null else id(self)

    def __enter__(self):
        self._fake.stream_stack.append(self)
        return self

    def __exit__(self, *exc):
        self._fake.stream_stack.pop()

    def use(self):
        self._fake.stream_stack[:] = [self]
        return self

    def synchronize(self):
        if self._fake.capturing is self:
            _sync("stream.synchronize")
        elif self._fake.capturing is None:
            self._fake.syncs["stream.synchronize"] += 1

    def record(self, event=None):
        event = event if event is not None else _Event()
        event.record(self)
        return event

    def wait_event(self, event):
        pass

    def begin_capture(self, mode=None):
        if self.null:
            raise RuntimeError("cudaErrorStreamCaptureUnsupported: the null stream cannot be "
                               "captured")
        if self._fake.capturing is not None:
            raise RuntimeError("cudaErrorIllegalState: a capture is in progress")
        self._fake.capturing = self
        self._fake.captures += 1

    def end_capture(self):
        if self._fake.capturing is not self:
            raise RuntimeError("cudaErrorIllegalState: this stream is not capturing")
        self._fake.capturing = None
        if self._fake.refused_since_capture():
            raise RuntimeError("cudaErrorStreamCaptureInvalidated: the capture was invalidated")
        return _Graph(self._fake, self)

    def is_capturing(self):
        return self._fake.capturing is self


class _MemoryPool:
    def __init__(self, allocator=None):
        self.allocations = 0

    def malloc(self, size):
        self.allocations += 1
        return None

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self, stream=None):
        pass


class _OutOfMemoryError(MemoryError):
    pass


class _CUDARuntimeError(RuntimeError):
    pass


# -- the module ----------------------------------------------------------------------------------
class FakeCupy:
    """The state of one installed fake: counters the tests read."""

    def __init__(self, n_gpus: int):
        self.n_gpus = n_gpus
        self.syncs = collections.Counter()  # kind -> host synchronisations
        self.launches: list = []  # ElementwiseKernel names, one per call
        self.uploads = 0  # host-to-device copies (asarray of host data)
        self.uploads_in_capture = 0  # ... of them on the capturing stream
        self.uploads_beside_capture = 0  # ... on another stream while one was capturing
        self.cross_device_ops = 0  # operations on arrays of a GPU that is not the current one
        self.refused: list = []  # host syncs refused during captures
        self._refused_at_begin = 0
        self.captures = 0
        self.graph_launches = 0
        self.capturing = None  # the capturing _Stream
        self.device_stack: list = []
        self.stream_stack: list = []
        self.module = self._make_module()
        self.cupyx = self._make_cupyx()

    def current_stream(self):
        return self.stream_stack[-1] if self.stream_stack else self.module.cuda.Stream.null

    def note_upload(self) -> None:
        """A host-to-device copy: recorded into the graph when made on the capturing stream
        (a replay would copy from that host memory again, long freed), else made now."""
        self.uploads += 1
        if self.capturing is not None:
            if self.current_stream() is self.capturing:
                self.uploads_in_capture += 1
            else:
                self.uploads_beside_capture += 1

    def refused_since_capture(self) -> bool:
        n, self._refused_at_begin = self._refused_at_begin, len(self.refused)
        return len(self.refused) > n

    @property
    def total_syncs(self) -> int:
        return sum(self.syncs.values())

    def reset_counters(self) -> None:
        self.syncs.clear()
        self.launches.clear()
        self.uploads = self.uploads_in_capture = self.uploads_beside_capture = 0

    def _make_module(self):
        fake = self
        mod = types.ModuleType("cupy")
        mod.__version__ = "13.0.0+fake"
        mod.ndarray = DeviceArray
        mod.asnumpy = _asnumpy
        mod.fake = fake
        mod.launches = fake.launches
        for name in ("asarray", "array", "ascontiguousarray", "asfortranarray"):
            setattr(mod, name, _upload(getattr(np, name)))
        for name in _CREATION:
            setattr(mod, name, _function(getattr(np, name), strict=False))

        def get_array_module(*args):
            return mod if any(isinstance(a, DeviceArray) for a in args) else np

        mod.get_array_module = get_array_module

        class ElementwiseKernel:
            """Runs the body with the fused kernels' C-subset evaluator; counts launches."""

            def __init__(self, in_params, out_params, operation, name="kernel",
                         reduce_dims=True, preamble="", no_return=False, return_tuple=False,
                         **kwargs):
                assert not preamble and not no_return
                self.program = Program(in_params, out_params, operation)
                self.name, self.return_tuple = name, return_tuple

            def __call__(self, *args):
                fake.launches.append(self.name)
                _note_devices(args)
                plain = [_unwrap(a) for a in args]
                out = self.program.run(plain, self.return_tuple)
                nin = len(self.program.ins)
                if len(args) > nin:  # outputs given: written in place, returned as given
                    given = tuple(args[nin:])
                    return given[0] if len(given) == 1 and not self.return_tuple else given
                return _wrap(out)

        mod.ElementwiseKernel = ElementwiseKernel

        cuda = types.ModuleType("cupy.cuda")
        runtime = types.ModuleType("cupy.cuda.runtime")
        runtime.getDeviceCount = lambda: fake.n_gpus
        runtime.getDevice = _current_device
        runtime.getDeviceProperties = lambda i: {
            "name": f"Fake GPU {int(i)}".encode(), "major": 9, "minor": 0,
            "totalGlobalMem": 80 * 2**30, "multiProcessorCount": 132}
        runtime.memGetInfo = lambda: (79 * 2**30, 80 * 2**30)
        runtime.CUDARuntimeError = _CUDARuntimeError
        memory = types.ModuleType("cupy.cuda.memory")
        memory.OutOfMemoryError = _OutOfMemoryError
        memory.MemoryPool = _MemoryPool
        null = _Stream(fake, null=True)
        cuda.runtime = runtime
        cuda.memory = memory
        cuda.Device = lambda device=None: _Device(fake, device)
        cuda.Stream = lambda null=False, non_blocking=False, ptds=False, priority=0: \
            _Stream(fake, null, non_blocking, ptds, priority)
        cuda.Stream.null = null
        cuda.Event = lambda *a, **k: _Event()
        cuda.Graph = _Graph
        cuda.MemoryPool = _MemoryPool
        cuda.is_available = lambda: True
        cuda.get_current_stream = fake.current_stream

        @contextlib.contextmanager
        def using_allocator(allocator=None):
            yield

        cuda.using_allocator = using_allocator
        cuda.set_allocator = lambda allocator=None: None
        mod.cuda = cuda
        mod.get_default_memory_pool = lambda: _MemoryPool()

        def __getattr__(name):
            if name.startswith("__"):
                raise AttributeError(name)
            attr = getattr(np, name)  # AttributeError for names numpy lacks too
            if isinstance(attr, np.ufunc):
                out = _Ufunc(attr)
            elif isinstance(attr, type) or not callable(attr) or name in _PASSTHROUGH:
                out = attr
            else:
                out = _function(attr)
            setattr(mod, name, out)
            return out

        mod.__getattr__ = __getattr__
        return mod

    def _make_cupyx(self):
        cupyx = types.ModuleType("cupyx")
        cupyx_scipy = types.ModuleType("cupyx.scipy")
        special = types.ModuleType("cupyx.scipy.special")

        def __getattr__(name):
            attr = getattr(scipy.special, name)
            if isinstance(attr, np.ufunc):
                return _Ufunc(attr)
            return _function(attr) if callable(attr) and not isinstance(attr, type) else attr

        special.__getattr__ = __getattr__
        cupyx_scipy.special = special
        cupyx.scipy = cupyx_scipy

        def scatter_add(a, slices, value):
            self.module.add.at(a, slices, value)

        cupyx.scatter_add = scatter_add
        return cupyx


_MODULES = ("cupy", "cupy.cuda", "cupy.cuda.runtime", "cupy.cuda.memory", "cupyx",
            "cupyx.scipy", "cupyx.scipy.special", "pynvml")


@contextlib.contextmanager
def fake_cuda(n_gpus: int = 1):
    """Installs the fake CuPy with ``n_gpus`` GPUs (no NVML) and yields its :class:`FakeCupy`."""
    from gmeta.devices import discovery
    from gmeta.kernels import cuda_fused

    fake = FakeCupy(n_gpus)
    saved = {name: sys.modules.get(name) for name in _MODULES}
    saved_virtual = discovery._virtual_gpus
    mod = fake.module
    sys.modules.update({"cupy": mod, "cupy.cuda": mod.cuda, "cupy.cuda.runtime": mod.cuda.runtime,
                        "cupy.cuda.memory": mod.cuda.memory, "cupyx": fake.cupyx,
                        "cupyx.scipy": fake.cupyx.scipy,
                        "cupyx.scipy.special": fake.cupyx.scipy.special,
                        "pynvml": None})  # NVML absent: import raises ImportError
    _ACTIVE.append(fake)
    discovery._virtual_gpus = 0
    discovery._reset_probe_for_tests()
    try:
        yield fake
    finally:
        _ACTIVE.remove(fake)
        discovery._virtual_gpus = saved_virtual
        discovery._reset_probe_for_tests()
        for name, m in saved.items():
            if m is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = m
        for table in (cuda_fused._BUILT, cuda_fused._CHECKED):
            for key in [k for k in table if k[0] is mod]:
                del table[key]


@pytest.fixture
def fake_gpu():
    """One fake real GPU for the test (see :func:`fake_cuda`)."""
    with fake_cuda(1) as fake:
        yield fake
