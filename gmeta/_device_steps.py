"""Plan steps that involve devices: the copy of a value from one device to another (and where
it goes), the context a GPU kernel is built and run in, and the count of what a plan's copies
moved. Used by every plan (gmeta/executor.py) and by the loop frames (gmeta/_loop_exec.py,
gmeta/_frame_exec.py)."""

from __future__ import annotations

import contextlib

from gmeta import _trace, dtypes


class TransferStats:
    """Cross-device copies of one plan: the edges, and what they moved so far."""

    __slots__ = ("edges", "bytes", "copies", "runs")

    def __init__(self):
        self.edges: list = []  # (producer tensor name, consumer node, from device, to device)
        self.bytes = 0
        self.copies = 0
        self.runs = 0

    def summary(self) -> dict:
        runs = max(self.runs, 1)
        return {"cross_device_edges": len(self.edges), "copies_per_step": len(self.edges),
                "bytes_per_step": self.bytes / runs if self.runs else 0, "steps": self.runs,
                "edges": [{"tensor": t, "consumer": c, "from": a, "to": b}
                          for t, c, a, b in self.edges]}


def copy_destination(t, is_ref, src, dev, cpu=None, metadata_only=False, host_arg=False):
    """Where tensor ``t``'s value, held on device ``src``, is copied for a consumer on ``dev``,
    or None when it is not: not when that consumer takes it by reference, it is a resource
    handle, or the consumer reads only its shape (``metadata_only``). An argument a GPU kernel
    takes in host memory (``host_arg``) goes to the host (``cpu``) from any GPU, the consumer's
    own included, as TF copies it: the kernel then reads it without waiting for the device."""
    if is_ref or t._dtype is dtypes.resource or metadata_only:
        return None
    if host_arg and dev.is_gpu:
        return cpu if src.is_gpu else None
    return dev if src.name != dev.name else None


def copier(src, dst, stats, tensor=None):
    """A plan step moving a value (of ``tensor``) from device ``src`` to ``dst`` (LocalDevice);
    in a traced plan it is recorded as a MEMCPY (gmeta/_trace.py)."""
    if dst.real_gpu:
        import cupy

        device = cupy.cuda.Device(dst.ordinal)

        def run(x):
            n = getattr(x, "nbytes", None)
            if n is None:
                return x  # a dead value (v1 cond) or None
            stats.bytes += n
            with device:
                if isinstance(x, cupy.ndarray):
                    return x.copy()  # CuPy copies to the current device, peer to peer
                return cupy.asarray(x)
    elif src.real_gpu:
        import cupy

        def run(x):
            n = getattr(x, "nbytes", None)
            if n is None:
                return x
            stats.bytes += n
            return cupy.asnumpy(x)
    else:  # host <-> virtual GPU: numpy on both sides, a real copy all the same
        def run(x):
            n = getattr(x, "nbytes", None)
            if n is None:
                return x
            stats.bytes += n
            return x.copy()

    run._passthrough = True
    run._copy = (src, dst)  # the CUDA-graph capture (gmeta/_cuda_graph.py) reads it
    return _trace.traced_copy(run, tensor, src, dst)


def on_device(fn, device):
    """``fn`` run inside its GPU's ``cupy.cuda.Device`` context."""
    import cupy

    ctx = cupy.cuda.Device(device.ordinal)

    def run(*args):
        with ctx:
            return fn(*args)

    return run


def building_on(device):
    """The context a kernel of ``device`` (a LocalDevice, or None) is built in: its
    ``cupy.cuda.Device`` for a real GPU, so that what a factory makes (constants, caches) is on
    that GPU; nothing otherwise."""
    if device is not None and device.real_gpu:
        import cupy

        return cupy.cuda.Device(device.ordinal)
    return contextlib.nullcontext()
