"""Whole-step capture into a CUDA graph: a plan's kernels recorded once, replayed per run.

A compiled plan (gmeta/executor.py) launches one or more CUDA kernels per node, each costing
microseconds of host time. When every step of a plan runs on one real GPU, the step can be
recorded with CUDA stream capture (``cupy.cuda.Stream.begin_capture`` .. ``end_capture``) into a
``cupy.cuda.Graph`` and replayed with one ``launch`` per ``Session.run``. A Session does this
when made with ``cuda_graphs=True`` (or ``GMETA_CUDA_GRAPHS=1``); ``Session.cuda_graph_status``
says, per fetch signature, whether its step was captured and why not.

A captured graph replays the same kernels on the same device addresses, so:

- **Feeds** are copied, each run, into static device buffers (one per fed tensor) made at
  capture; the graph reads those. A feed read on the host by a GPU kernel (a host-memory
  argument) would be frozen into the graph: such a plan is not captured.
- **Feed signatures**: a graph is made per tuple of feed shapes and dtypes (at most
  ``MAX_GRAPHS`` per plan), on the second run with that signature; the first runs eagerly and
  warms every kernel (compiles, cuBLAS handles) outside the capture.
- **Variables** keep the device buffer they had at capture. A kernel that rebinds a variable to
  a new array during the capture (an Assign, a copy-on-write update) gets a device copy into the
  old buffer recorded at the end of the step, and the binding put back. Before each launch, a
  variable rebound since (a restore, an assign run in another plan) is copied into its captured
  buffer, so the graph and every other plan see one value.
- **Memory**: arrays made during the capture come from a private memory pool kept with the
  graph, so nothing outside the graph reuses memory the graph writes to. Fetched device values
  are copied out of the graph's buffers before the run returns.
- **What is not captured** (the plan runs eagerly, with the reason kept): a step on the CPU or
  another GPU, a host-to-device copy of anything but a feed, loops and v1 conds (their plans
  are not lean plans), random ops (a replay would repeat their numbers), and any capture that
  fails (a kernel that synchronises with the host, e.g. to read a value, makes CUDA refuse the
  capture); a failed capture changes no variable.

The CUDA calls go through a small backend object (:class:`CupyBackend`); the tests drive the
same logic through a numpy emulation of it, since this runs on a real GPU only.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from gmeta import executor as _executor
from gmeta.kernels.state import VarRef

ENV = "GMETA_CUDA_GRAPHS"
MAX_GRAPHS = 8  # feed signatures captured per plan; others run eagerly

# Op types whose kernels draw random numbers from a host-side stream: a replay would repeat them.
_RANDOM = frozenset([
    "RandomUniform", "RandomUniformInt", "RandomStandardNormal", "TruncatedNormal",
    "RandomShuffle", "Multinomial", "RandomGamma", "RandomPoisson", "RandomPoissonV2",
    "ParameterizedTruncatedNormal", "RandomCrop"])


def enabled_by_env() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


class NotCapturable(Exception):
    """A plan, or one capture of it, that cannot be a CUDA graph; the message says why."""


class CupyBackend:
    """The CUDA side: one non-blocking stream per device, a private memory pool per graph."""

    def __init__(self, ordinal: int):
        import cupy

        self.cupy = cupy
        self.ordinal = ordinal
        self.device = cupy.cuda.Device(ordinal)
        with self.device:
            self.stream = cupy.cuda.Stream(non_blocking=True)
        self.side = None  # for work done during a capture but not part of it

    @staticmethod
    def supports(dev) -> bool:
        """Whether graphs can be made on device ``dev`` (a LocalDevice) at all."""
        return dev.real_gpu

    def accepts(self, dev) -> bool:
        return dev.real_gpu and dev.ordinal == self.ordinal

    def owns(self, x) -> bool:
        """Whether ``x`` is an array in this device's memory."""
        return isinstance(x, self.cupy.ndarray) and x.device.id == self.ordinal

    def empty(self, shape, dtype):
        with self.device:
            return self.cupy.empty(shape, dtype)

    def capture(self, body, persistent, bindings):
        """Records ``body()``'s work into a graph. ``persistent``: the arrays the capture must
        leave as they are; ``bindings``: the (VarRef, array) pairs the graph reads and writes.
        A real capture runs nothing and records addresses, so it needs neither (an emulation
        does). Returns the graph and the memory pool its arrays came from."""
        cupy = self.cupy
        pool = cupy.cuda.MemoryPool()
        with self.device, self.stream, cupy.cuda.using_allocator(pool.malloc):
            self.stream.begin_capture()
            try:
                body()
            except BaseException:
                try:
                    self.stream.end_capture()
                except Exception:  # noqa: S110  (the capture is invalid already: CUDA says so)
                    pass
                raise
            graph = self.stream.end_capture()
        return graph, pool

    def copy_into(self, dst, src) -> None:
        """``dst[...] = src`` as one device-to-device copy on the stream (recorded when
        capturing)."""
        if not (dst.flags.c_contiguous and src.flags.c_contiguous):
            raise NotCapturable("a variable's array is not contiguous")
        with self.device:
            dst.data.copy_from_device_async(src.data, src.nbytes, self.stream)

    def clone(self, x):
        """A copy of device array ``x`` (any layout), made on the stream."""
        if x.flags.c_contiguous:
            out = self.empty(x.shape, x.dtype)
            self.copy_into(out, x)
            return out
        with self.device, self.stream:
            return x.copy()  # an elementwise copy kernel, ordered on the stream

    def upload(self, buf, value) -> None:
        """A feed's value into its static buffer, on the stream."""
        with self.device:
            if isinstance(value, self.cupy.ndarray):
                with self.stream:
                    buf[...] = value
            else:
                buf.set(np.asarray(value, order="C"), self.stream)  # 0-d stays 0-d

    def follow(self) -> None:
        """Makes the stream wait for the work queued so far on the device's current stream."""
        with self.device:
            self.stream.wait_event(self.cupy.cuda.get_current_stream().record())

    def outside(self, fn, *args):
        """``fn(*args)`` run now on a side stream, not recorded by a capture in progress (a
        host-to-device copy of a value fixed per feed signature)."""
        with self.device:
            side = self.side
            if side is None:
                side = self.side = self.cupy.cuda.Stream(non_blocking=True)
            with side:
                out = fn(*args)
            side.synchronize()
        return out

    def launch(self, graph) -> None:
        with self.device:
            graph[0].launch(self.stream)

    def synchronize(self) -> None:
        self.stream.synchronize()


# Made per (Session, device ordinal); tests swap in an emulation (tests/test_cuda_graph.py).
backend_factory = CupyBackend


class _Record:
    """One captured graph: its slots' values (the device buffers it reads and writes), the feed
    buffers, and the variables with the buffers it was captured on."""

    __slots__ = ("graph", "vals", "uploads", "pairs", "launches")


def graphed(plan, placement, state, backends: dict):
    """``(plan, None)`` with ``plan`` (an executor.Plan) made a :class:`GraphedPlan` when its
    steps can be captured, else ``(plan, why not)``; ``backends``: the Session's, by device."""
    try:
        backend, body, uploads = _analyse(plan, placement, backends)
    except NotCapturable as e:
        return plan, str(e)
    out = GraphedPlan()
    for name in _executor.Plan.__slots__:
        setattr(out, name, getattr(plan, name))
    out.inner = plan
    out.backend = backend
    out.body = body
    out.feed_uploads = uploads
    out.feed_of = {s: k for k, s in enumerate(plan.feed_slots)}  # a fetched feed: its value
    out.state = state
    out.graphs = {}
    out.failed = {}
    out.seen = set()
    out.lock = threading.Lock()
    return out, None


def _analyse(plan, placement, backends):
    """``(backend, body steps, [(feed index, slot the copy wrote)])`` of a capturable plan.

    Host steps may stay in the body when their values are fixed per feed signature: a shape
    read (Shape, Size, ...) and pure functions of constants and of such values (the int32 shape
    arithmetic of gradients). They run once, at the capture, and what they computed (a reshape's
    shape, a reduction's axes) is part of the graph.

    Raises:
        NotCapturable: a step that cannot be in a graph (the message names it).
    """
    feed_index = {s: k for k, s in enumerate(plan.feed_slots)}
    static = {i for i, v in enumerate(plan.template) if v is not None}  # constants
    backend = None
    body, uploads = [], []
    for step in plan.steps:
        fn, ins, out, op = step
        outs = (out,) if out.__class__ is int else out
        dev = placement.device(op)
        if op.type in _RANDOM:
            raise NotCapturable(f"node '{op.name}' draws random numbers ({op.type}); a replay "
                                "would repeat them")
        copy = getattr(fn, "_copy", None)
        if not dev.is_gpu:
            if copy is None and not getattr(fn, "_passthrough", False) and (
                    op.type in _executor._METADATA_ONLY or
                    (_executor._foldable(op) and all(i in static for i in ins))):
                static.update(outs)  # fixed per feed signature
                body.append(step)
                continue
            raise NotCapturable(f"node '{op.name}' ({op.type}) runs on {dev.label()} with "
                                "values computed in the step")
        if backend is None:
            backend = backends.get(dev.name)
            if backend is None:
                if not backend_factory.supports(dev):
                    raise NotCapturable(f"{dev.label()} is not a CUDA device (a CUDA graph "
                                        "needs a real GPU)")
                try:
                    backend = backends[dev.name] = backend_factory(dev.ordinal)
                except Exception as e:  # no CuPy, or CUDA refuses the stream
                    raise NotCapturable(f"cannot set up CUDA graphs on {dev.label()}: "
                                        f"{type(e).__name__}: {e}") from e
        if not backend.accepts(dev):
            raise NotCapturable(f"node '{op.name}' ({op.type}) runs on {dev.label()}, not on "
                                "the one GPU of the rest of the step")
        if copy is not None:
            if len(ins) == 1 and ins[0] in feed_index and out.__class__ is int:
                uploads.append((feed_index[ins[0]], out))  # done before each launch instead
                continue
            if not all(i in static for i in ins):
                raise NotCapturable(f"a value is copied from {copy[0].label()} to "
                                    f"{copy[1].label()} for node '{op.name}' inside the step")
            # a value fixed per signature: copied once, at the capture, outside the graph
            body.append((_outside(backend, fn), ins, out, op))
            continue
        if op.type in _executor._METADATA_ONLY:
            static.update(outs)  # a shape: fixed per feed signature, wherever it is read
        elif any(i in feed_index for i in ins):
            raise NotCapturable(f"node '{op.name}' ({op.type}) reads a feed in host memory; a "
                                "graph would keep the value it had at capture")
        body.append(step)
    if backend is None:
        raise NotCapturable("no step of the plan runs on a GPU")
    return backend, body, uploads


def _outside(backend, fn):
    def run(x):
        return backend.outside(fn, x)

    return run


def _fits(backend, cur, orig) -> bool:
    """Whether a variable's new value ``cur`` can be copied into the buffer ``orig`` a graph
    was captured on (same shape and dtype, on the graph's GPU)."""
    return cur is not None and cur.shape == orig.shape and cur.dtype == orig.dtype and \
        backend.owns(cur)


def _signature(feed_values) -> tuple:
    return tuple((v.shape, v.dtype) for v in feed_values)


class GraphedPlan(_executor.Plan):
    """A plan whose run is a CUDA-graph launch once its feed signature has been captured."""

    __slots__ = ("inner", "backend", "body", "feed_uploads", "feed_of", "state", "graphs",
                 "failed", "seen", "lock")

    def run(self, feed_values) -> list:
        sig = _signature(feed_values)
        with self.lock:  # one graph's buffers serve one run at a time (Session.run is threadsafe)
            rec = self.graphs.get(sig)
            if rec is None:
                if sig not in self.seen or sig in self.failed or \
                        len(self.graphs) >= MAX_GRAPHS:
                    self.seen.add(sig)  # the first run of a signature warms its kernels eagerly
                    return self.inner.run(feed_values)
                rec = self._capture(sig, feed_values)
                if rec is None:
                    return self.inner.run(feed_values)
            return self._launch(sig, rec, feed_values)

    def status(self) -> dict:
        return {"captured": len(self.graphs),
                "launches": sum(r.launches for r in self.graphs.values()),
                "signatures": [[list(s) for s, _ in sig] for sig in self.graphs],
                "failed": {str([list(s) for s, _ in sig]): why
                           for sig, why in self.failed.items()}}

    # -- capture --------------------------------------------------------------------------------
    def _capture(self, sig, feed_values):
        backend = self.backend
        variables = list(self.state.variables.values())
        before = [(ref, ref.value) for ref in variables]
        vals = list(self.template)
        for slot, value in zip(self.feed_slots, feed_values):
            vals[slot] = value  # read for its shape only (_analyse)
        uploads = []
        for k, slot in self.feed_uploads:
            v = feed_values[k]
            buf = vals[slot] = backend.empty(v.shape, v.dtype)
            uploads.append((k, buf))
        refs = {id(v): v for v in vals if isinstance(v, VarRef)}
        for fn, ins, _, op in self.body:
            if op.type == "VarHandleOp" and not ins:
                ref = fn()  # a lookup in the Session's variables: the same VarRef every run
                refs[id(ref)] = ref
        pairs = []
        for ref in refs.values():
            if ref.value is None or not backend.owns(ref.value):
                self.failed[sig] = f"variable '{ref.name}' has no value on the GPU before the " \
                                   "step (its initializer runs eagerly)"
                return None
            pairs.append((ref, ref.value))
        fetch_slots = self.fetch_slots
        body_steps = self.body

        def body():
            _executor.run_steps(body_steps, vals)
            for ref, orig in pairs:
                cur = ref.value
                if cur is orig:
                    continue
                if not _fits(backend, cur, orig):
                    raise NotCapturable(f"variable '{ref.name}' changes shape, dtype or device "
                                        "in the step")
                for s in fetch_slots:  # a fetched read made before the update keeps its value
                    if vals[s] is orig:
                        vals[s] = backend.clone(orig)
                backend.copy_into(orig, cur)
                ref.value = orig

        try:
            with np.errstate(all="ignore"):
                graph = backend.capture(body, [orig for _, orig in pairs] +
                                        [b for _, b in uploads], pairs)
        except Exception as e:  # CUDA refused (a host sync), or NotCapturable
            for ref, value in before:
                ref.value = value  # what the failed capture rebound
            cause = e.__cause__ if e.__cause__ is not None else e
            self.failed[sig] = f"{type(cause).__name__}: {cause}"
            return None
        rec = _Record()
        rec.graph = graph
        rec.vals = vals
        rec.uploads = uploads
        rec.pairs = pairs
        rec.launches = 0
        self.graphs[sig] = rec
        return rec

    # -- replay ---------------------------------------------------------------------------------
    def _launch(self, sig, rec, feed_values) -> list:
        backend = self.backend
        backend.follow()  # after what eager plans queued (the null stream does not wait for us)
        for ref, orig in rec.pairs:
            cur = ref.value
            if cur is orig:
                continue
            # rebound since the capture (a restore, an assign in another plan)
            if not _fits(backend, cur, orig):
                del self.graphs[sig]  # captured again on a later run
                self.seen.discard(sig)
                return self.inner.run(feed_values)
            backend.copy_into(orig, cur)
            ref.value = orig
        stats = self.transfers
        for k, buf in rec.uploads:
            value = feed_values[k]
            backend.upload(buf, value)
            stats.bytes += value.nbytes
        backend.launch(rec.graph)
        rec.launches += 1
        vals = rec.vals
        out = []
        for i, s in enumerate(self.fetch_slots):
            k = self.feed_of.get(s)
            x = feed_values[k] if k is not None else vals[s]
            if backend.owns(x):
                x = backend.clone(x)  # the graph's buffer is rewritten by the next launch
            elif i in self.copy_fetch:
                x = x.copy()
            out.append(x)
        backend.synchronize()
        return out
