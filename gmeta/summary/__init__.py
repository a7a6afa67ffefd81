"""``gm.summary``: the ``tf.compat.v1.summary`` namespace, and TensorBoard event files.

Summary ops build TF's nodes: ``scalar("loss", x)`` is a ``ScalarSummary`` named ``loss`` whose
tag is the ``Const`` ``loss/tags``; names are cleaned of characters TensorBoard rejects and
scoped like ops (a summary made in ``name_scope("outer")`` has the tag ``outer/loss``; a repeated
name gets ``loss_1``); each op joins the ``summaries`` collection unless ``collections`` says
otherwise. :func:`merge` / :func:`merge_all` build ``MergeSummary``.

:class:`FileWriter` writes what TensorBoard reads: graphs, meta graphs, summaries (bytes from
``Session.run`` or ``Summary`` protos), session logs, at global steps (see
:mod:`gmeta.summary.event_writer` for the file format and durability).

Not provided: ``text``, ``tensor_summary``, ``image`` and ``audio`` (their kernels,
TensorSummaryV2, ImageSummary and AudioSummaryV2, do not exist in gmeta yet).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import warnings

from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework import shape_inference
from gmeta.proto import (  # noqa: F401 - tf.summary re-exports these protos
    Event, SessionLog, Summary, SummaryDescription, SummaryMetadata, TaggedRunMetadata,
)
from gmeta.summary.event_writer import EventFileWriter

__all__ = [
    "Event", "FileWriter", "FileWriterCache", "SessionLog", "Summary", "SummaryDescription",
    "SummaryMetadata", "TaggedRunMetadata", "histogram", "merge", "merge_all", "scalar",
]

_INVALID_TAG_CHARACTERS = re.compile(r"[^-/\w\.]")


@shape_inference.register("ScalarSummary", "HistogramSummary", "MergeSummary")
def _summary_shape(op):
    """Every summary op gives one scalar string (a serialized ``Summary``)."""
    return [()]


# -- summary ops ----------------------------------------------------------------------------------
def _clean_tag(name):
    """``name`` with characters outside ``[-/\\w.]`` replaced by ``_`` and leading ``/`` cut."""
    if name is not None:
        name = _INVALID_TAG_CHARACTERS.sub("_", name).lstrip("/")
    return name


@contextlib.contextmanager
def _summary_scope(name, family=None, default_name=None, values=None):
    """Enters the name scope of a summary op; yields ``(tag, scope)``."""
    name, family = _clean_tag(name), _clean_tag(family)
    base = name if family is None else f"{family}/{name}"
    with ops_lib.name_scope_v1(base, default_name, values) as scope:
        tag = scope.rstrip("/")
        yield (tag if family is None else f"{family}/{tag}"), scope


def _collect(value, collections, default_collections):
    for key in default_collections if collections is None else collections:
        ops_lib.add_to_collection(key, value)


def scalar(name, tensor, collections=None, family=None):
    """A ``ScalarSummary`` of the real scalar ``tensor``, tagged by ``name``'s scope.

    Args:
        name: the node name and (scoped) tag.
        tensor: a real numeric scalar tensor.
        collections: graph collections to add the op to (default ``["summaries"]``).
        family: a prefix of the tag and node name (the TensorBoard tab).

    Returns:
        A scalar string tensor: a serialized ``Summary`` (a run fails if ``tensor`` is not a
        scalar).
    """
    with _summary_scope(name, family, values=[tensor]) as (tag, scope):
        val = op_def_library.apply_op("ScalarSummary", tags=tag, values=tensor, name=scope)
        _collect(val, collections, [ops_lib.GraphKeys.SUMMARIES])
    return val


def histogram(name, values, collections=None, family=None):
    """A ``HistogramSummary`` of ``values`` (any real shape) with TF's default buckets.

    Args:
        name: the node name and (scoped) tag (default ``HistogramSummary``).
        values: a real numeric tensor (a run fails on NaN or infinite values).
        collections: graph collections to add the op to (default ``["summaries"]``).
        family: a prefix of the tag and node name.

    Returns:
        A scalar string tensor: a serialized ``Summary``.
    """
    with _summary_scope(name, family, values=[values],
                        default_name="HistogramSummary") as (tag, scope):
        val = op_def_library.apply_op("HistogramSummary", tag=tag, values=values, name=scope)
        _collect(val, collections, [ops_lib.GraphKeys.SUMMARIES])
    return val


def merge(inputs, collections=None, name=None):
    """One ``MergeSummary`` of the serialized summaries ``inputs`` (a run fails on repeated
    tags).

    Args:
        inputs: string tensors of serialized ``Summary`` protos.
        collections: graph collections to add the op to (default: none).
        name: the scope name (default ``Merge``; the node is ``Merge/MergeSummary``).

    Returns:
        A scalar string tensor: the merged serialized ``Summary``.
    """
    name = _clean_tag(name)
    with ops_lib.name_scope_v1(name, "Merge", inputs):
        val = op_def_library.apply_op("MergeSummary", inputs=list(inputs), name=name)
        _collect(val, collections, [])
    return val


def merge_all(key=ops_lib.GraphKeys.SUMMARIES, scope=None, name=None):
    """:func:`merge` of the collection ``key`` (filtered by ``scope``); None if it is empty."""
    summary_ops = ops_lib.get_collection(key, scope=scope)
    if not summary_ops:
        return None
    return merge(summary_ops, name=name)


# -- writers --------------------------------------------------------------------------------------
class FileWriter:
    """Writes ``Event`` protos for TensorBoard into an events file in ``logdir``
    (``tf.compat.v1.summary.FileWriter``); a context manager that closes on exit.

    Args:
        logdir: the directory (created if missing).
        graph: a ``Graph`` (or, deprecated, a ``GraphDef``) written first, with its MetaGraph.
        max_queue: events kept in memory before they are handed to the file.
        flush_secs: how often, in seconds, pending events are flushed.
        graph_def: deprecated spelling of ``graph`` for a ``GraphDef``.
        filename_suffix: appended to the events file name.
        session: not supported (TF's V2 summary-writer ops).
    """

    def __init__(self, logdir, graph=None, max_queue=10, flush_secs=120, graph_def=None,
                 filename_suffix=None, session=None):
        if session is not None:
            raise NotImplementedError("FileWriter(session=...) uses TF's summary-writer ops, "
                                      "which gmeta does not provide; leave session out")
        self.event_writer = EventFileWriter(logdir, max_queue, flush_secs, filename_suffix)
        self._closed = False
        self._session_run_tags: dict = {}
        self._seen_summary_tags: set = set()
        if graph is not None or graph_def is not None:
            self.add_graph(graph=graph, graph_def=graph_def)
            from gmeta.framework import meta_graph

            if isinstance(graph, ops_lib.Graph):
                mgd = meta_graph.create_meta_graph_def(
                    graph_def=graph.as_graph_def(add_shapes=True), graph=graph)
            else:
                mgd = meta_graph.create_meta_graph_def(graph_def=graph_def or graph)
            self.add_meta_graph(mgd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def get_logdir(self):
        """The directory the events files go to."""
        return self.event_writer.get_logdir()

    def _warn_if_closed(self):
        if self._closed:
            warnings.warn("Attempting to use a closed FileWriter. The operation will be a noop "
                          "unless the FileWriter is explicitly reopened.", stacklevel=3)

    def _add_event(self, event, step):
        self._warn_if_closed()
        event.wall_time = time.time()
        if step is not None:
            event.step = int(step)
        self.event_writer.add_event(event)

    def add_summary(self, summary, global_step=None):
        """Writes a ``Summary`` (a proto, or the serialized bytes a summary op returns).

        As TF, a value's ``metadata`` is kept only the first time its tag is written.
        """
        if hasattr(summary, "dtype") and getattr(summary, "shape", None) == ():
            summary = summary.item()  # a 0-d string array from Session.run
        if isinstance(summary, (bytes, bytearray)):
            parsed = Summary()
            parsed.ParseFromString(bytes(summary))
            summary = parsed
        else:
            copy = Summary()
            copy.CopyFrom(summary)
            summary = copy
        for value in summary.value:
            if not value.HasField("metadata"):
                continue
            if value.tag in self._seen_summary_tags:
                value.ClearField("metadata")
                continue
            self._seen_summary_tags.add(value.tag)
        self._add_event(Event(summary=summary), global_step)

    def add_session_log(self, session_log, global_step=None):
        """Writes a ``SessionLog`` (START, STOP or CHECKPOINT) event."""
        self._add_event(Event(session_log=session_log), global_step)

    def add_graph(self, graph, global_step=None, graph_def=None):
        """Writes ``graph`` (a ``Graph``, with shapes; or a ``GraphDef``) for TensorBoard.

        Raises:
            ValueError: both ``graph`` and ``graph_def`` are given.
            TypeError: neither is a ``Graph`` or ``GraphDef``.
        """
        from gmeta.proto import GraphDef

        if graph is not None and graph_def is not None:
            raise ValueError("Please pass only graph, or graph_def (deprecated), but not both.")
        if isinstance(graph, ops_lib.Graph) or isinstance(graph_def, ops_lib.Graph):
            true_graph_def = (graph if isinstance(graph, ops_lib.Graph) else graph_def) \
                .as_graph_def(add_shapes=True)
        elif isinstance(graph, GraphDef) or isinstance(graph_def, GraphDef):
            true_graph_def = graph if isinstance(graph, GraphDef) else graph_def
        else:
            raise TypeError("The passed graph must be an instance of `Graph` or the deprecated "
                            "`GraphDef`")
        self._add_event(Event(graph_def=true_graph_def.SerializeToString()), global_step)

    def add_meta_graph(self, meta_graph_def, global_step=None):
        """Writes a ``MetaGraphDef``.

        Raises:
            TypeError: ``meta_graph_def`` is not a ``MetaGraphDef``.
        """
        from gmeta.proto import MetaGraphDef

        if not isinstance(meta_graph_def, MetaGraphDef):
            raise TypeError(f"meta_graph_def must be type MetaGraphDef, saw type: "
                            f"{type(meta_graph_def)}")
        self._add_event(Event(meta_graph_def=meta_graph_def.SerializeToString()), global_step)

    def add_run_metadata(self, run_metadata, tag, global_step=None):
        """Writes a ``RunMetadata`` under ``tag`` (each tag once).

        Raises:
            ValueError: ``tag`` was already used.
        """
        if tag in self._session_run_tags:
            raise ValueError("The provided tag was already used for this event type")
        self._session_run_tags[tag] = True
        tagged = TaggedRunMetadata(tag=tag, run_metadata=run_metadata.SerializeToString())
        self._add_event(Event(tagged_run_metadata=tagged), global_step)

    def add_event(self, event):
        """Writes ``event`` as it is (its ``wall_time`` and ``step`` untouched)."""
        self._warn_if_closed()
        self.event_writer.add_event(event)

    def flush(self):
        """Writes the pending events to disk (fsynced)."""
        self._warn_if_closed()
        self.event_writer.flush()

    def close(self):
        """Flushes and closes the events file; further events are ignored until
        :meth:`reopen`."""
        self.event_writer.close()
        self._closed = True

    def reopen(self):
        """Accepts events again after :meth:`close`, into a new events file."""
        self.event_writer.reopen()
        self._closed = False


class FileWriterCache:
    """One shared :class:`FileWriter` per logdir (``tf.compat.v1.summary.FileWriterCache``)."""

    _cache: dict = {}
    _lock = threading.RLock()

    @staticmethod
    def clear():
        """Closes and forgets every cached writer."""
        with FileWriterCache._lock:
            for writer in FileWriterCache._cache.values():
                writer.close()
            FileWriterCache._cache = {}

    @staticmethod
    def get(logdir):
        """The cached writer of ``logdir``, made (with the default graph) on first use."""
        with FileWriterCache._lock:
            if logdir not in FileWriterCache._cache:
                FileWriterCache._cache[logdir] = FileWriter(
                    logdir, graph=ops_lib.get_default_graph())
            return FileWriterCache._cache[logdir]
