"""Traced runs: ``Session.run(..., options=RunOptions(trace_level=FULL_TRACE), run_metadata=m)``
fills ``m.step_stats`` with one NodeExecStats per kernel call, grouped by device, as TF does:
the node, its start (wall clock, µs and ns), its duration, TF's timeline label
(``name = Type(inputs)``) and each output's dtype, shape and bytes. TF's own
``tensorflow.python.client.timeline.Timeline`` reads it, and ``gmeta.timeline`` turns it into a
Chrome trace without TensorFlow.

A traced run uses its own plan, compiled while ``RECORDER`` holds the plan's
:class:`Recorder`: every kernel closure is wrapped (:func:`traced`) where it is bound, in lean,
cond and loop plans alike, so a node inside a while loop is recorded at each iteration. On a real
GPU each traced kernel waits for its stream, so its time is the device's, not the launch's.
Cross-device copies are recorded as TF shows them, ``MEMCPYHtoD`` / ``DtoH`` / ``DtoD`` on the
GPU's ``<device>/memcpy`` stream (:func:`traced_copy`); variable reads are not. Plans stay
untraced and pay nothing when no run asks for a trace.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time

import numpy as np

from gmeta.kernels import is_cupy
from gmeta.proto import step_stats_pb2

RECORDER: contextvars.ContextVar = contextvars.ContextVar("gmeta_trace_recorder", default=None)

CPU = "/job:localhost/replica:0/task:0/device:CPU:0"  # the host, without a placement


@contextlib.contextmanager
def compiling_for(recorder):
    """Plans compiled inside record their kernel calls and copies into ``recorder`` (None: they
    do not)."""
    token = RECORDER.set(recorder)
    try:
        yield
    finally:
        RECORDER.reset(token)


class Recorder:
    """The records of one traced plan; one run at a time (``lock``) fills ``records``."""

    __slots__ = ("lock", "records")

    def __init__(self):
        self.lock = threading.Lock()
        self.records = None  # a list during a run: (op, device, start ns, ns, outputs)


def _output(v):
    """``(shape, bytes, device address)`` of an array a kernel returned, None for other values;
    the address only for CuPy arrays (it costs a microsecond on numpy)."""
    if v.__class__ is np.ndarray:
        return v.shape, v.nbytes, 0
    shape = getattr(v, "shape", None)
    if shape is None:
        return None
    ptr = getattr(getattr(v, "data", None), "ptr", 0)  # CuPy's MemoryPointer
    return tuple(shape), int(getattr(v, "nbytes", 0)), ptr if isinstance(ptr, int) else 0


def _outputs(r) -> tuple:
    if r.__class__ is np.ndarray:
        return ((r.shape, r.nbytes, 0),)
    if isinstance(r, (tuple, list)):
        return tuple(_output(v) for v in r)
    return (_output(r),)


def allocator_of(device: str) -> str:
    """The allocator a traced output's AllocationDescription names: ``cpu`` on the host (numpy),
    ``GPU_<n>`` on GPU n (CuPy's memory pool, or numpy for a virtual GPU), memcpy streams
    included."""
    i = device.rfind("GPU:")
    if i < 0:
        return "cpu"
    n = device[i + 4:].split("/", 1)[0]
    return "GPU_" + n


def _recording(fn, rec, node, device, real_gpu, skip_none=False):
    """``fn`` recording each call as ``node`` on ``device`` into ``rec`` while a run fills it;
    on a real GPU the call waits for its stream first, so the time is the device's. A None
    result is not recorded when ``skip_none`` (a copy step passing a dead value on)."""
    sync = None
    if real_gpu:
        import cupy

        def sync():
            cupy.cuda.get_current_stream().synchronize()

    def run(*args):
        start = time.time_ns()
        t0 = time.perf_counter_ns()
        r = fn(*args)
        if sync is not None:
            sync()
        took = time.perf_counter_ns() - t0
        records = rec.records
        if records is not None and not (skip_none and r is None):
            records.append((node, device, start, took, _outputs(r)))
        return r

    return run


def traced(fn, op, device, xp):
    """``fn`` (the kernel of ``op`` on ``device``, a LocalDevice or None for the host) recording
    each call into the recorder being compiled for; ``fn`` itself outside a traced compile."""
    rec = RECORDER.get()
    if rec is None:
        return fn
    run = _recording(fn, rec, op, device.name if device is not None else CPU, is_cupy(xp))
    run._traced = (op, device, xp)
    return run


class _Copy:
    """A cross-device copy as a node of the trace: TF's ``MEMCPYHtoD`` / ``DtoH`` / ``DtoD``
    of ``tensor``, recorded on the GPU side's ``<device>/memcpy`` stream (as TF's timeline shows
    copies), its output in the destination's allocator."""

    __slots__ = ("name", "type", "_inputs", "_outputs", "_control_inputs", "allocator")

    def __init__(self, tensor, src, dst):
        kind = ("D" if src.is_gpu else "H") + "to" + ("D" if dst.is_gpu else "H")
        self.type = "MEMCPY" + kind
        # "name:op", the node names of TF's GPU-stream devices, which its timeline splits
        self.name = f"{tensor.op.name}/_copy_{tensor.value_index}_to_" + \
            dst.name.rsplit("/", 1)[-1].replace(":", "_") + ":" + self.type
        self._inputs = self._outputs = (tensor,)
        self._control_inputs = ()
        self.allocator = allocator_of(dst.name)


def traced_copy(fn, tensor, src, dst):
    """``fn`` (a copy step of ``tensor`` from ``src`` to ``dst``) recorded as a MEMCPY when a
    traced plan is being compiled; ``fn`` itself otherwise (or without the tensor)."""
    rec = RECORDER.get()
    if rec is None or tensor is None:
        return fn
    run = _recording(fn, rec, _Copy(tensor, src, dst),
                     (dst if dst.is_gpu else src).name + "/memcpy",
                     dst.real_gpu or src.real_gpu, skip_none=True)
    run._passthrough, run._copy = fn._passthrough, fn._copy
    return run


def traced_like(old, new):
    """``new`` (a kernel replacing ``old`` in a plan step) recorded as ``old`` was, if it was."""
    args = getattr(old, "_traced", None)
    if args is None:
        return new
    run = traced(new, *args)
    run._inplace = getattr(new, "_inplace", None)  # for inspection, as on the untraced step
    return run


def _label(op) -> str:
    """TF's timeline label: ``name = Type(inputs)``, the inputs as the NodeDef lists them."""
    inputs = [t._as_node_def_input() for t in op._inputs] + \
        ["^" + c.name for c in op._control_inputs]
    return f"{op.name} = {op.type}({', '.join(inputs)})"


def step_stats(records) -> step_stats_pb2.StepStats:
    """A StepStats of ``records``, devices in first-seen order."""
    stats = step_stats_pb2.StepStats()
    devices: dict = {}  # device -> (its DeviceStepStats' node_stats, allocator name)
    ops: dict = {}  # op -> (label, output dtype enums): once per node, not per call
    thread = threading.get_ident() & 0x7FFFFFFF
    for op, device, start, took, outs in records:
        dev = devices.get(device)
        if dev is None:
            ds = stats.dev_stats.add()
            ds.device = device
            dev = devices[device] = (ds.node_stats, allocator_of(device))
        node_stats, allocator = dev
        if op.__class__ is _Copy:
            allocator = op.allocator
        known = ops.get(op)
        if known is None:
            known = ops[op] = (_label(op), [t.dtype.base_dtype.as_datatype_enum
                                            for t in op._outputs])
        label, enums = known
        ns = node_stats.add()
        ns.node_name = op.name
        ns.all_start_micros = ns.scheduled_micros = start // 1000
        ns.all_start_nanos = ns.scheduled_nanos = start
        ns.op_end_rel_micros = ns.all_end_rel_micros = took // 1000
        ns.op_end_rel_nanos = ns.all_end_rel_nanos = took
        ns.thread_id = thread
        ns.timeline_label = label
        for slot, (o, dtype) in enumerate(zip(outs, enums)):
            if o is None:
                continue
            shape, nbytes, ptr = o
            out = ns.output.add()
            out.slot = slot
            td = out.tensor_description
            td.dtype = dtype
            dims = td.shape.dim
            for d in shape:
                dims.add().size = d
            ad = td.allocation_description
            ad.requested_bytes = ad.allocated_bytes = nbytes
            ad.allocator_name = allocator
            ad.ptr = ptr
    return stats


def partition_graphs(ops, device_of) -> list:
    """``[(device, GraphDef)]``: each device's share of ``ops`` (a plan's nodes in run order),
    the nodes with the device they run on, made whole as TF's partitions are: an input made on
    another device, or fed by the client, arrives through a ``_Recv`` node, and the producing
    partition gets the matching ``_Send`` (named ``<producer>/_recv_<output>`` and
    ``<producer>/_send_<output>_to_<device>``, tensor_name ``edge_<producer>_<output>``); a control
    input from another device is dropped. TF imports each GraphDef on its own."""
    from gmeta.framework._graph import GRAPH_DEF_VERSION, GRAPH_DEF_VERSION_MIN_CONSUMER
    from gmeta.proto import GraphDef

    where = {op: device_of(op) for op in ops}
    graphs: dict = {}
    recvs: dict = {}  # (tensor, device) -> the _Recv node's name
    sends: set = set()  # (tensor, device it goes to)

    def graph(device):
        gd = graphs.get(device)
        if gd is None:
            gd = graphs[device] = GraphDef()
            gd.versions.producer = GRAPH_DEF_VERSION
            gd.versions.min_consumer = GRAPH_DEF_VERSION_MIN_CONSUMER
        return gd

    def transfer(node, t, device, src, fed):
        name = recvs.get((t, device))
        tensor_name = f"edge_{t.op.name}_{t.value_index}"
        if name is None:
            name = recvs[(t, device)] = f"{t.op.name}/_recv_{t.value_index}"
            _send_recv(graph(device).node.add(), "_Recv", name, None, t, tensor_name, src,
                       device, fed)
        if not fed and (t, device) not in sends:
            sends.add((t, device))
            _send_recv(graph(src).node.add(), "_Send", f"{t.op.name}/_send_{t.value_index}_to_"
                       + device.rsplit("/", 1)[-1].replace(":", "_"), t._as_node_def_input(),
                       t, tensor_name, src, device, False)
        return name

    for op in ops:
        device = where[op]
        nd = graph(device).node.add()
        nd.CopyFrom(op.node_def)
        nd.device = device
        del nd.input[:]
        for t in op._inputs:
            src = where.get(t.op)
            if src == device:
                nd.input.append(t._as_node_def_input())
            else:
                nd.input.append(transfer(nd, t, device, src or CPU, src is None))
        nd.input.extend("^" + c.name for c in op._control_inputs if where.get(c) == device)
    return list(graphs.items())


def _send_recv(nd, op_type, name, input_name, t, tensor_name, src, dst, fed) -> None:
    nd.name, nd.op, nd.device = name, op_type, src if op_type == "_Send" else dst
    if input_name is not None:
        nd.input.append(input_name)
    dtype = t.dtype.base_dtype.as_datatype_enum
    nd.attr["T" if op_type == "_Send" else "tensor_type"].type = dtype
    nd.attr["tensor_name"].s = tensor_name.encode()
    nd.attr["send_device"].s = src.encode()
    nd.attr["send_device_incarnation"].i = 1
    nd.attr["recv_device"].s = dst.encode()
    nd.attr["client_terminated"].b = fed
