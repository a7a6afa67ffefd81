"""``gm.summary`` against TensorFlow 2.21, and the events files ``FileWriter`` writes.

The summary cases of tests/fixtures/make_loss_fixtures.py are checked as the loss cases are
(NodeDefs, collections, static shapes, run errors) with their outputs, serialized ``Summary``
protos, compared field by field (histograms to 1e-5). The writer tests read the files back with
gmeta's own TFRecord reader; tests/tf_roundtrip/test_tensorboard_reads_gmeta.py has TF read them.
"""

from __future__ import annotations

import gc
import glob
import os
import socket
import struct
import sys
import time

import numpy as np
import pytest

import gmeta as gm
import gmeta.summary  # noqa: F401 - binds gm.summary until gmeta/__init__ imports it
from gmeta.checkpoint import crc32c
from gmeta.proto import Event, GraphDef, MetaGraphDef, RunMetadata, SessionLog, Summary
from gmeta.summary import event_writer

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fixtures"))

import make_loss_fixtures as fx  # noqa: E402
from test_losses import check_case_graph, check_case_values  # noqa: E402

CASES = sorted(c.name for c in fx.CASES if c.name.startswith("summary_"))


@pytest.mark.parametrize("name", CASES)
def test_values(name):
    check_case_values(name)


@pytest.mark.parametrize("name", CASES)
def test_graph_matches_tf(name):
    check_case_graph(name, {})


# -- summary ops: unit tests --------------------------------------------------------------------
def test_scalar_node_structure():
    g = gm.Graph()
    with g.as_default():
        s = gm.summary.scalar("loss", gm.constant(1.5))
        assert s.op.type == "ScalarSummary" and s.op.name == "loss" and s.dtype == gm.string
        assert s.op.inputs[0].op.name == "loss/tags"
        assert g.get_collection(gm.GraphKeys.SUMMARIES) == [s]
        assert gm.summary.merge_all(key="nothing") is None
        with gm.Session() as sess:
            out = Summary()
            out.ParseFromString(sess.run(s))
        assert out.value[0].tag == "loss" and out.value[0].simple_value == 1.5


# -- event files ----------------------------------------------------------------------------
# The first record of an events file TF 2.21 wrote at wall time 1795621293: its header Event.
TF_HEADER_RECORD = bytes.fromhex(
    "3e00000000000000d9d240e7090000406bc0c1da411a0d627261696e2e457665"
    "6e743a3252240a2274656e736f72666c6f772e636f72652e7574696c2e657665"
    "6e74735f77726974657209beb805")


def _events(path):
    out = []
    for data in event_writer.read_records(path):
        e = Event()
        e.ParseFromString(data)
        out.append(e)
    return out


def _only_file(logdir):
    files = glob.glob(os.path.join(logdir, "events.out.tfevents.*"))
    assert len(files) == 1, files
    return files[0]


def test_record_framing_matches_tf():
    header = Event(wall_time=1795621293.0, file_version="brain.Event:2")
    header.source_metadata.writer = "tensorflow.core.util.events_writer"
    assert event_writer.frame_record(header.SerializeToString()) == TF_HEADER_RECORD


def test_framing_layout():
    data = b"hello events"
    rec = event_writer.frame_record(data)
    assert struct.unpack("<Q", rec[:8])[0] == len(data)
    assert struct.unpack("<I", rec[8:12])[0] == crc32c.masked_value(rec[:8])
    assert rec[12:-4] == data
    assert struct.unpack("<I", rec[-4:])[0] == crc32c.masked_value(data)


def test_file_name_and_header(tmp_path):
    before = int(time.time())
    with gm.summary.FileWriter(str(tmp_path / "run"), filename_suffix=".v2") as w:
        assert w.get_logdir() == str(tmp_path / "run")
    path = _only_file(str(tmp_path / "run"))
    base = os.path.basename(path)
    prefix = "events.out.tfevents."
    stamp, rest = base[len(prefix):].split(".", 1)
    assert base.startswith(prefix) and len(stamp) == 10
    assert before <= int(stamp) <= int(time.time())
    assert rest == socket.gethostname() + ".v2"
    (header,) = _events(path)
    assert header.file_version == "brain.Event:2" and header.wall_time == int(stamp)
    assert header.source_metadata.writer == "tensorflow.core.util.events_writer"


def test_writer_events(tmp_path):
    g = gm.Graph()
    with g.as_default():
        x = gm.placeholder(gm.float32, [], name="x")
        v = gm.placeholder(gm.float32, [5], name="v")
        gm.summary.scalar("loss", x)
        gm.summary.histogram("weights", v)
        merged = gm.summary.merge_all()
        writer = gm.summary.FileWriter(str(tmp_path), g, flush_secs=1000)
        with gm.Session() as sess:
            for step in range(3):
                writer.add_summary(sess.run(merged, {x: step * 0.5, v: np.arange(5.0) * step}),
                                   global_step=step)
        proto = Summary()
        proto.value.add(tag="manual", simple_value=7.0)
        writer.add_summary(proto, 10)
        writer.add_session_log(SessionLog(status=SessionLog.START), 11)
        writer.add_run_metadata(RunMetadata(), "step_11", 11)
        with pytest.raises(ValueError, match="already used"):
            writer.add_run_metadata(RunMetadata(), "step_11")
        writer.close()
    events = _events(_only_file(str(tmp_path)))
    kinds = [e.WhichOneof("what") for e in events]
    assert kinds == ["file_version", "graph_def", "meta_graph_def", "summary", "summary",
                     "summary", "summary", "session_log", "tagged_run_metadata"]
    gd = GraphDef()
    gd.ParseFromString(events[1].graph_def)
    assert {n.name for n in gd.node} >= {"x", "v", "loss", "weights", "Merge/MergeSummary"}
    assert all("_output_shapes" in n.attr for n in gd.node)
    mgd = MetaGraphDef()
    mgd.ParseFromString(events[2].meta_graph_def)
    assert "summaries" in mgd.collection_def
    for step, e in enumerate(events[3:6]):
        assert e.step == step and e.wall_time > 0
        assert [v.tag for v in e.summary.value] == ["loss", "weights"]
        assert e.summary.value[0].simple_value == step * 0.5
        assert e.summary.value[1].histo.sum == pytest.approx(10.0 * step)
    assert events[6].step == 10 and events[6].summary.value[0].simple_value == 7.0
    assert events[7].session_log.status == SessionLog.START
    assert events[8].tagged_run_metadata.tag == "step_11"


def test_metadata_kept_once_per_tag(tmp_path):
    s = Summary()
    v = s.value.add(tag="t", simple_value=1.0)
    v.metadata.plugin_data.plugin_name = "scalars"
    with gm.summary.FileWriter(str(tmp_path)) as w:
        w.add_summary(s, 1)
        w.add_summary(s.SerializeToString(), 2)
    assert s.value[0].HasField("metadata"), "the caller's proto is not modified"
    events = _events(_only_file(str(tmp_path)))
    assert events[1].summary.value[0].metadata.plugin_data.plugin_name == "scalars"
    assert not events[2].summary.value[0].HasField("metadata")


def test_flush_makes_events_visible(tmp_path):
    w = gm.summary.FileWriter(str(tmp_path), max_queue=100, flush_secs=1000)
    path = _only_file(str(tmp_path))
    w.add_session_log(SessionLog(status=SessionLog.START), 1)
    assert len(_events(path)) == 1, "queued, not yet written"
    w.flush()
    assert len(_events(path)) == 2
    for step in range(2, 101):
        w.add_session_log(SessionLog(status=SessionLog.CHECKPOINT), step)
    assert len(_events(path)) == 2
    w.add_session_log(SessionLog(status=SessionLog.CHECKPOINT), 101)  # max_queue reached
    assert len(_events(path)) == 102
    w.close()
    assert len(_events(path)) == 102
    with pytest.warns(UserWarning, match="closed FileWriter"):
        w.add_session_log(SessionLog(status=SessionLog.STOP), 200)
    assert len(_events(path)) == 102


def test_reopen_starts_a_new_file_and_never_clobbers(tmp_path):
    w1 = gm.summary.FileWriter(str(tmp_path))
    w2 = gm.summary.FileWriter(str(tmp_path))  # same second, same host, same suffix
    w1.close()
    w1.reopen()
    w1.add_session_log(SessionLog(status=SessionLog.START), 5)
    w1.close()
    w2.close()
    files = sorted(glob.glob(os.path.join(str(tmp_path), "events.out.tfevents.*")))
    assert len(files) == 3
    counts = sorted(len(_events(f)) for f in files)
    assert counts == [1, 1, 2]


def test_deleted_file_is_recreated(tmp_path):
    w = gm.summary.FileWriter(str(tmp_path), flush_secs=1000)
    os.remove(_only_file(str(tmp_path)))
    w.add_session_log(SessionLog(status=SessionLog.START), 1)
    w.close()
    kinds = [e.WhichOneof("what") for e in _events(_only_file(str(tmp_path)))]
    assert kinds == ["file_version", "session_log"]


def test_dropped_writer_keeps_its_events(tmp_path):
    w = gm.summary.FileWriter(str(tmp_path), flush_secs=1000)
    w.add_session_log(SessionLog(status=SessionLog.START), 1)
    path = _only_file(str(tmp_path))
    del w
    gc.collect()
    assert len(_events(path)) == 2


def test_graph_argument_errors(tmp_path):
    with gm.summary.FileWriter(str(tmp_path)) as w:
        with pytest.raises(TypeError):
            w.add_graph("not a graph")
        with pytest.raises(ValueError, match="not both"):
            w.add_graph(gm.Graph(), graph_def=GraphDef())
        with pytest.raises(TypeError, match="MetaGraphDef"):
            w.add_meta_graph(GraphDef())
        w.add_graph(GraphDef(), global_step=3)  # the deprecated GraphDef form
    with pytest.raises(NotImplementedError):
        gm.summary.FileWriter(str(tmp_path), session=object())


def test_file_writer_cache(tmp_path):
    gm.summary.FileWriterCache.clear()
    with gm.Graph().as_default():
        a = gm.summary.FileWriterCache.get(str(tmp_path / "a"))
        assert gm.summary.FileWriterCache.get(str(tmp_path / "a")) is a
        assert gm.summary.FileWriterCache.get(str(tmp_path / "b")) is not a
    gm.summary.FileWriterCache.clear()
    events = _events(_only_file(str(tmp_path / "a")))
    assert [e.WhichOneof("what") for e in events] == ["file_version", "graph_def",
                                                      "meta_graph_def"]


def test_reader_detects_corruption(tmp_path):
    with gm.summary.FileWriter(str(tmp_path)) as w:
        w.add_session_log(SessionLog(status=SessionLog.START), 1)
    path = _only_file(str(tmp_path))
    data = bytearray(open(path, "rb").read())
    data[-6] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(gm.errors.DataLossError):
        _events(path)
    open(path, "wb").write(bytes(data[:-3]))
    with pytest.raises(gm.errors.DataLossError, match="truncated"):
        _events(path)
