"""Session, InteractiveSession and the default-session stack (``tf.compat.v1.Session``)."""

from __future__ import annotations

import threading

import numpy as np

from gmeta import _cuda_graph, _heap, _trace, errors
from gmeta.executor import Plan, SessionState, compile_plan
from gmeta.framework import ops as ops_lib
from gmeta.framework.sparse_tensor import SparseTensor, SparseTensorValue
from gmeta.kernels.state import VarRef, read_ref


class _SessionStack(threading.local):
    def __init__(self):
        super().__init__()
        self.stack: list = []


_default_sessions = _SessionStack()


def get_default_session():
    return _default_sessions.stack[-1] if _default_sessions.stack else None


def _clear_default_sessions():
    _default_sessions.stack.clear()


def _session_for(graph, session):
    session = session or get_default_session()
    if session is None:
        raise ValueError("Cannot evaluate tensor using `eval()` / `run()`: No default session "
                         "is registered. Use `with sess.as_default()` or pass an explicit "
                         "session to `eval(session=sess)`")
    if session.graph is not graph:
        raise ValueError("Cannot use the given session to evaluate tensor: the tensor's graph "
                         "is different from the session's graph.")
    return session


class _Fetches:
    """Flattens a nested fetch structure to unique graph elements and rebuilds the results."""

    def __init__(self, graph, fetches):
        self.elements: list = []
        self._index: dict = {}
        self.structure = self._flatten(graph, fetches)

    def _add(self, el) -> int:
        i = self._index.get(el)
        if i is None:
            i = self._index[el] = len(self.elements)
            self.elements.append(el)
        return i

    def _flatten(self, graph, f):
        if f is None:
            raise TypeError(f"Fetch argument {f!r} has invalid type {type(f)}, must be a string "
                            "or Tensor. (Can not convert a NoneType into a Tensor or Operation.)")
        if isinstance(f, (list, tuple)):
            kids = [self._flatten(graph, x) for x in f]
            if isinstance(f, tuple) and hasattr(f, "_fields"):
                return ("namedtuple", type(f), kids)
            return ("list" if isinstance(f, list) else "tuple", None, kids)
        if isinstance(f, dict):
            return ("dict", type(f), [(k, self._flatten(graph, v)) for k, v in f.items()])
        if isinstance(f, SparseTensor):
            return ("namedtuple", SparseTensorValue,
                    [self._flatten(graph, t) for t in (f.indices, f.values, f.dense_shape)])
        if hasattr(f, "_as_graph_element"):
            f = f._as_graph_element()
        try:
            el = graph.as_graph_element(f, allow_tensor=True, allow_operation=True)
        except KeyError as e:
            raise errors.NotFoundError(None, None, f"Fetch {f!r} not found in the graph: "
                                                   f"{e.args[0]}") from None
        except (TypeError, ValueError) as e:
            raise type(e)(f"Fetch argument {f!r} cannot be interpreted as a Tensor. ({e})") \
                from None
        return ("leaf", None, self._add(el))

    def build(self, values):
        return self._build(self.structure, values)

    def _build(self, node, values):
        kind, typ, data = node
        if kind == "leaf":
            return values[data]
        if kind == "list":
            return [self._build(c, values) for c in data]
        if kind == "tuple":
            return tuple(self._build(c, values) for c in data)
        if kind == "namedtuple":
            return typ(*[self._build(c, values) for c in data])
        out = typ() if typ is not dict else {}
        for k, c in data:
            out[k] = self._build(c, values)
        return out


def _to_user(value):
    if isinstance(value, VarRef):
        value = read_ref(value, None).copy()
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return value[()]
        return value
    if value is not None and hasattr(value, "get"):  # CuPy array
        value = value.get()
        return value[()] if value.ndim == 0 else value
    return value


def _to_user_keep_device(value):
    if type(value).__module__.startswith("cupy"):
        return value  # a CuPy array, left on its GPU
    return _to_user(value)


class BaseSession:
    #: Fetched values computed on a real GPU come back as numpy arrays; set this (or pass
    #: ``device_arrays=True``) to get the CuPy arrays themselves, without the device-to-host copy.
    device_arrays = False

    def __init__(self, target="", graph=None, config=None, device_arrays=False,
                 oom_retry_on_cpu=False, cuda_graphs=None):
        if graph is None:
            graph = ops_lib.get_default_graph()
        if not isinstance(graph, ops_lib.Graph):
            raise TypeError(f"graph must be a gmeta Graph, not {type(graph).__name__}")
        self._graph = graph
        self._target = target
        self._config = config
        self.device_arrays = bool(device_arrays)
        self._oom_retry = bool(oom_retry_on_cpu)
        # whole-step CUDA graphs (gmeta/_cuda_graph.py); None: GMETA_CUDA_GRAPHS decides
        self._cuda_graphs = _cuda_graph.enabled_by_env() if cuda_graphs is None \
            else bool(cuda_graphs)
        self._graph_backends: dict = {}  # device name -> the CUDA stream and calls of its graphs
        self._not_graphed: dict = {}  # plan -> why its step is not a CUDA graph
        self._cpu_groups: set = set()  # nodes moved to the CPU after a GPU ran out of memory
        self._closed = False
        self._state = SessionState()
        self._plans: dict = {}
        # feed tensor -> (dtype, shape, static shape) of the last ndarray fed as it was
        # (_convert_feed): feeds are validated once per signature, not on every run
        self._feed_ok: dict = {}
        self._default_cm = None
        _heap.keep_freed_memory()  # freed step memory stays for the next step (gmeta/_heap.py)
        from gmeta.devices import discovery

        self._inventory = discovery.inventory(config)
        self._soft = bool(config is not None and config.allow_soft_placement) or \
            discovery.get_soft_device_placement()
        self._log_placement = bool(config is not None and config.log_device_placement)
        self._placement = None  # (graph version, Placement)
        self._logged: set = set()
        if not self._soft:  # strict mode fails now, listing every node that cannot be placed
            self._place()

    # -- properties -----------------------------------------------------------------------------
    @property
    def graph(self):
        return self._graph

    @property
    def graph_def(self):
        return self._graph.as_graph_def()

    @property
    def sess_str(self) -> str:
        return self._target

    def list_devices(self):
        return [_DeviceAttributes(d.name, d.device_type, d.memory_total or 0)
                for d in self._inventory.devices]

    # -- placement ------------------------------------------------------------------------------
    @property
    def inventory(self):
        """The devices this session places nodes on (gmeta.devices.discovery.Inventory)."""
        return self._inventory

    def _place(self):
        """The placement of the whole graph at its current version."""
        graph = self._graph
        cached = self._placement
        if cached is None or cached[0] != graph._version:
            from gmeta.devices.placement import place

            cached = self._placement = (graph._version,
                                        place(graph._nodes, self._inventory, soft=self._soft,
                                              cpu_groups=self._cpu_groups))
        return cached[1]

    def _needs_placement(self) -> bool:
        return bool(self._inventory.gpus) or not self._soft or self._log_placement

    def placement(self, fetches=None, feed_dict=None) -> list:
        """Where each node runs and why: rows (``node``, ``op``, ``requested``, ``assigned``,
        ``virtual``, ``reason``, ``detail``, ``group``) for every node of the graph, or, given
        ``fetches``, for the nodes a run of them executes."""
        placement = self._place()
        if fetches is None:
            return [r.as_dict() for r in placement.rows]
        entry = self._entry(fetches, feed_dict)
        return [placement.row(op).as_dict() for op in entry[0].ops]

    def transfers(self, fetches, feed_dict=None) -> dict:
        """The cross-device copies a run of ``fetches`` makes: the edges (tensor, consumer, from,
        to), copies per step and the bytes moved per step so far (average over its runs)."""
        return self._entry(fetches, feed_dict)[0].transfers.summary()

    def _entry(self, fetches, feed_dict):
        return self._lookup(fetches, feed_dict)[0]

    def _lookup(self, fetches, feed_dict, traced=False):
        """``((plan, graph version, fetch handler, trace recorder or None), feed tensors, feed
        values)`` for a run of ``fetches``: the cached plan, or one compiled now. A ``traced``
        run has its own plan (gmeta/_trace.py), cached apart."""
        graph = self._graph
        if not feed_dict and not traced and (fetches.__class__ is ops_lib.Tensor or
                                             fetches.__class__ is ops_lib.Operation):
            key, key_feeds, feed_values = fetches, (), ()  # the common case: no work on feeds
        else:
            key_feeds, feed_values = self._feeds(feed_dict) if feed_dict else ((), ())
            key = _cache_key(fetches)
            if key is not None:
                key = ("trace", key, key_feeds) if traced else (key, key_feeds)
        entry = None if key is None else self._plans.get(key)
        if entry is None or entry[1] != graph._version:
            entry = self._compile(fetches, key_feeds, graph, key, traced)
        return entry, key_feeds, feed_values

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        self._closed = True
        self._plans.clear()
        self._feed_ok.clear()
        self._not_graphed.clear()
        self._graph_backends.clear()
        self._state = SessionState()

    def as_default(self):
        return _DefaultSession(self)

    def __enter__(self):
        self._default_cm = self.as_default()
        self._default_cm.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._default_cm is not None:
            self._default_cm.__exit__(exc_type, exc, tb)
            self._default_cm = None
        self.close()

    # -- running --------------------------------------------------------------------------------
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Runs the ops and evaluates the tensors in ``fetches`` (a Tensor, Operation, name or a
        nested list/tuple/dict/namedtuple of them), with ``feed_dict`` replacing tensor values.

        Returns fetched values in the structure of ``fetches``: numpy arrays, numpy scalars for
        0-d tensors, None for operations.
        """
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        traced = run_metadata is not None and options is not None and bool(
            options.trace_level or options.output_partition_graphs)
        entry, key_feeds, feed_values = self._lookup(fetches, feed_dict, traced)
        plan, _, handler, recorder = entry
        values = self._convert_feeds(key_feeds, feed_values) if key_feeds else []
        if plan.transfers.edges:
            plan.transfers.runs += 1
        if traced:
            out = self._run_traced(plan, recorder, values, options, run_metadata)
        elif self._oom_retry and self._soft:
            return self._run_retrying_oom(plan, handler, values, fetches, feed_dict)
        else:
            out = plan.run(values)
        convert = _to_user_keep_device if self.device_arrays else _to_user
        return handler.build([convert(v) for v in out])

    def _run_traced(self, plan, recorder, values, options, run_metadata) -> list:
        """``plan.run`` (a traced plan) filling ``run_metadata`` as TF does for ``options``:
        ``step_stats`` (one NodeExecStats per kernel call and copy, gmeta/_trace.py) when
        ``trace_level`` is set, and ``partition_graphs`` (each device's nodes) when
        ``output_partition_graphs`` is."""
        with recorder.lock:
            recorder.records = [] if options.trace_level else None
            try:
                out = plan.run(values)
            finally:
                records, recorder.records = recorder.records, None
        run_metadata.Clear()
        if records is not None:
            run_metadata.step_stats.CopyFrom(_trace.step_stats(records))
        if options.output_partition_graphs:
            self._partition_graphs(plan, run_metadata)
        return out

    def _partition_graphs(self, plan, run_metadata) -> None:
        """Each device's share of ``plan``'s nodes as a GraphDef, with the _Send/_Recv pairs
        TF puts between devices (gmeta/_trace.py), in run_metadata.partition_graphs."""
        placement = self._place() if self._needs_placement() else None
        for _, gd in _trace.partition_graphs(
                plan.ops, lambda op: placement.device(op).name if placement is not None
                else _trace.CPU):
            run_metadata.partition_graphs.add().CopyFrom(gd)

    def _convert_feeds(self, tensors, values) -> list:
        """``values`` as the arrays the plan takes (``_convert_feed``), an ndarray of the dtype
        and shape last accepted for its tensor passing without a second check."""
        ok = self._feed_ok
        out = []
        for t, v in zip(tensors, values):
            seen = ok.get(t)
            if seen is not None and v.__class__ is np.ndarray and v.shape == seen[1] and \
                    v.dtype == seen[0] and t.shape is seen[2]:
                out.append(v)
                continue
            arr = _convert_feed(t, v)
            if arr is v and arr.dtype != object:  # as fed: the same check passes next time
                ok[t] = (arr.dtype, arr.shape, t.shape)
            out.append(arr)
        return out

    def _compile(self, fetches, feeds, graph, key, traced=False):
        handler = _Fetches(graph, fetches)
        tensors = [e for e in handler.elements if isinstance(e, ops_lib.Tensor)]
        targets = [e for e in handler.elements if isinstance(e, ops_lib.Operation)]
        placement = self._place() if self._needs_placement() else None
        recorder = _trace.Recorder() if traced else None
        with _trace.compiling_for(recorder):  # a traced plan's kernels record their calls
            plan = compile_plan(graph, tensors, targets, list(feeds), self._state,
                                placement=placement)
        if self._log_placement:
            self._log_rows(placement, plan.ops)
        # Re-index the plan's fetches by fetch element; an Operation fetch reads an extra slot
        # that stays None.
        slot_by_tensor = dict(zip(tensors, plan.fetch_slots))
        copy_tensors = {tensors[i] for i in plan.copy_fetch}
        none_slot = plan.n_slots
        plan.n_slots += 1
        plan.template.append(None)
        plan.fetch_slots = [slot_by_tensor.get(e, none_slot) for e in handler.elements]
        plan.copy_fetch = [i for i, e in enumerate(handler.elements) if e in copy_tensors]
        if self._cuda_graphs and not traced:
            plan = self._graphed(plan, placement)
        entry = (plan, graph._version, handler, recorder)
        if key is not None:
            self._plans[key] = entry
        return entry

    def _graphed(self, plan, placement):
        if placement is None or not self._inventory.gpus:
            why = "the session has no GPU"
        elif type(plan) is not Plan:
            why = "the step has while loops or v1 conds, whose steps the host decides"
        else:
            plan, why = _cuda_graph.graphed(plan, placement, self._state, self._graph_backends)
        if why is not None:
            self._not_graphed[plan] = why
        return plan

    def cuda_graph_status(self, fetches, feed_dict=None) -> dict:
        """Whether a run of ``fetches`` is replayed as a CUDA graph (``cuda_graphs=True``):
        ``enabled``, ``captured`` (graphs made, one per feed signature), ``launches``, the
        captured ``signatures`` (feed shapes), the signatures whose capture ``failed`` and why,
        and ``reason`` when the step is never captured."""
        plan = self._entry(fetches, feed_dict)[0]
        out = {"enabled": self._cuda_graphs, "captured": 0, "launches": 0, "signatures": [],
               "failed": {}, "reason": None}
        if isinstance(plan, _cuda_graph.GraphedPlan):
            out.update(plan.status())
        elif self._cuda_graphs:
            out["reason"] = self._not_graphed.get(plan, "not compiled with CUDA graphs")
        else:
            out["reason"] = "cuda_graphs is off (Session(cuda_graphs=True) or " \
                            f"{_cuda_graph.ENV}=1)"
        return out

    def _run_retrying_oom(self, plan, handler, values, fetches, feed_dict):
        """``oom_retry_on_cpu``: a node whose GPU runs out of memory moves (with its colocation
        group) to the CPU and the step runs again. The failed attempt may have updated some
        variables already; the retry is opt-in for that reason."""
        import logging

        convert = _to_user_keep_device if self.device_arrays else _to_user
        while True:
            try:
                return handler.build([convert(v) for v in plan.run(values)])
            except errors.ResourceExhaustedError as e:
                op = e.op
                placement = self._placement[1] if self._placement else None
                if op is None or placement is None or not placement.device(op).is_gpu or \
                        op in self._cpu_groups:
                    raise
                logging.getLogger("gmeta").warning(
                    "gmeta: %s ran out of memory on %s; moving it (and its colocation group) to "
                    "the CPU and running the step again (oom_retry_on_cpu)", op.name,
                    placement.device(op).label())
                self._cpu_groups.add(op)
                self._placement = None
                self._plans.clear()
                plan, _, handler, _ = self._lookup(fetches, feed_dict)[0]

    def _log_rows(self, placement, ops):
        """``log_device_placement``: each node's placement, the first time a run executes it."""
        import sys

        lines = []
        for op in ops:
            if op not in self._logged:
                self._logged.add(op)
                lines.append(placement.row(op).line())
        if lines:
            inv = self._inventory
            head = "gmeta device placement (" + ", ".join(d.label() for d in inv.devices) + \
                (f"; no real GPU: {inv.gpu_reason}" if inv.gpu_reason else "") + ")"
            print(head + "\n" + "\n".join(lines), file=sys.stderr)

    def _feeds(self, feed_dict):
        graph = self._graph
        tensors, values = [], []
        Tensor = ops_lib.Tensor
        for k, v in feed_dict.items():
            if k.__class__ is Tensor and k._op._graph is graph:  # the common case: no lookup
                tensors.append(k)
                values.append(v)
            else:
                self._feed_slow(graph, k, v, tensors, values)
        return tuple(tensors), values

    def _feed_slow(self, graph, key, value, tensors, values):
        """A feed key that is a name, a Variable, a SparseTensor or another graph's tensor."""
        for k, v in _expand_sparse_feed(key, value):
            if hasattr(k, "_as_graph_element") and not isinstance(k, ops_lib.Tensor):
                k = k._as_graph_element()
            try:
                t = graph.as_graph_element(k, allow_tensor=True, allow_operation=False)
            except KeyError as e:
                raise errors.NotFoundError(None, None, f"Cannot feed {k!r}: {e.args[0]}") from None
            except (TypeError, ValueError) as e:
                raise TypeError(f"Cannot interpret feed_dict key {k!r} as a Tensor: {e}") \
                    from None
            tensors.append(t)
            values.append(v)

    def make_callable(self, fetches, feed_list=None, accept_options=False):
        feed_list = list(feed_list or [])

        def call(*args, **kwargs):
            return self.run(fetches, dict(zip(feed_list, args)) if feed_list else None)

        return call


def _expand_sparse_feed(k, v):
    """The feed pairs of key ``k``: itself, or a SparseTensor's three component tensors."""
    if not isinstance(k, SparseTensor):
        return ((k, v),)
    if isinstance(v, SparseTensor) or not (isinstance(v, tuple) and len(v) == 3):
        raise TypeError(f"The value of a SparseTensor feed must be a SparseTensorValue or an "
                        f"(indices, values, dense_shape) tuple, not {type(v).__name__}")
    return zip((k.indices, k.values, k.dense_shape), v)


def _cache_key(fetches):
    cls = fetches.__class__
    if cls is ops_lib.Tensor or cls is ops_lib.Operation or cls is str:
        return fetches
    if cls is list or cls is tuple:
        if all(f.__class__ in (ops_lib.Tensor, ops_lib.Operation, str) for f in fetches):
            return (cls, tuple(fetches))
    return None


def _convert_feed(t, value):
    dtype = t.dtype.base_dtype
    if isinstance(value, ops_lib.Tensor):
        raise TypeError(f"The value of a feed cannot be a tf.Tensor object (feeding "
                        f"{t.name!r}). Acceptable feed values include Python scalars, strings, "
                        "lists, numpy ndarrays.")
    if dtype.name == "string":
        arr = np.asarray(value, dtype=object)
    else:
        np_dtype = dtype.as_numpy_dtype
        if isinstance(value, np.ndarray) and value.dtype == np_dtype:
            arr = value
        else:
            src = np.asarray(value)
            if src.dtype.kind in "USO" or (src.dtype.kind == "c" and not dtype.is_complex) or (
                    src.dtype.kind == "f" and (dtype.is_integer or dtype.is_bool)):
                raise errors.FeedTypeError(
                    None, t.op, f"Cannot feed a value of dtype {src.dtype} to tensor "
                                f"{t.name!r} of dtype {dtype.name}: the conversion would lose "
                                "information")
            if isinstance(value, int) and not isinstance(value, bool) and dtype.is_integer:
                if not dtype.min <= value <= dtype.max:
                    raise errors.FeedTypeError(
                        None, t.op, f"Type of feed value {value} with type {type(value)} is not "
                                    f"compatible with Tensor type {dtype.name} of {t.name!r}.")
            arr = src.astype(np_dtype, copy=False)
    shape = t.shape
    dims = shape.dims  # compared as tuples: no TensorShape made per run
    if dims is not None and (len(dims) != arr.ndim or any(
            d is not None and d != n for d, n in zip(dims, arr.shape))):
        raise errors.FeedError(
            None, t.op, f"Cannot feed value of shape {arr.shape} for Tensor {t.name!r}, which "
                        f"has shape {_shape_str(shape)}")
    return arr


def _shape_str(shape) -> str:
    if shape.ndims is None:
        return "<unknown>"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if shape.ndims == 1 else "") + ")"


class _DeviceAttributes:
    def __init__(self, name, device_type, memory_limit_bytes=0):
        self.name = name
        self.device_type = device_type
        self.memory_limit_bytes = memory_limit_bytes

    def __repr__(self):
        return f"_DeviceAttributes({self.name}, {self.device_type}, {self.memory_limit_bytes})"


class _DefaultSession:
    def __init__(self, sess):
        self._sess = sess
        self._graph_cm = None

    def __enter__(self):
        _default_sessions.stack.append(self._sess)
        self._graph_cm = self._sess.graph.as_default()
        self._graph_cm.__enter__()
        return self._sess

    def __exit__(self, *exc):
        self._graph_cm.__exit__(*exc)
        if _default_sessions.stack and _default_sessions.stack[-1] is self._sess:
            _default_sessions.stack.pop()


class Session(BaseSession):
    """``tf.compat.v1.Session``: runs a graph on this machine's devices."""


class InteractiveSession(BaseSession):
    """A Session that installs itself as the default session on construction."""

    def __init__(self, target="", graph=None, config=None, device_arrays=False,
                 oom_retry_on_cpu=False, cuda_graphs=None):
        super().__init__(target, graph, config, device_arrays, oom_retry_on_cpu, cuda_graphs)
        self._interactive_cm = self.as_default()
        self._interactive_cm.__enter__()

    def close(self):
        super().close()
        if self._interactive_cm is not None:
            cm, self._interactive_cm = self._interactive_cm, None
            cm.__exit__(None, None, None)
