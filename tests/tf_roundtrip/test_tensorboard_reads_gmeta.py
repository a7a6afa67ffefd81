"""TensorFlow / TensorBoard read gmeta's events files.

gmeta builds a small model with a ``gm.losses`` loss, ``gm.summary`` scalar and histogram
summaries, and writes with ``gm.summary.FileWriter`` the graph, the meta graph, the merged
summaries at several global steps and a session log. The TF venv (GMETA_TF_PYTHON) then reads the
file with ``tf.compat.v1.train.summary_iterator`` (TF's record reader: CRCs checked) and, when
the venv has tensorboard, with TensorBoard's ``EventAccumulator``; it checks tags, steps and
values, recomputes each histogram with TF's own HistogramSummary kernel, imports the GraphDef,
and imports and runs the MetaGraph to get the same loss values.

Skipped, with the reason, when GMETA_TF_PYTHON is not set (conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import textwrap

import numpy as np
import pytest

import gmeta as gm
import gmeta.losses  # noqa: F401 - binds gm.losses until gmeta/__init__ imports it
import gmeta.summary  # noqa: F401

from .conftest import TIMEOUT_S, tf_env

pytestmark = pytest.mark.tf

STEPS = (0, 1, 2, 5, 10)

TF_SCRIPT = textwrap.dedent("""
    import glob, json, os, sys
    import numpy as np
    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()
    spec = json.load(open(sys.argv[1]))
    vals = np.load(sys.argv[2])
    out = {"events": [], "tensorboard": None}
    files = glob.glob(os.path.join(spec["logdir"], "events.out.tfevents.*"))
    out["files"] = [os.path.basename(f) for f in files]
    graph_def = meta = None
    for e in tf.train.summary_iterator(files[0]):
        rec = {"kind": e.WhichOneof("what"), "step": e.step, "wall_time": e.wall_time}
        if rec["kind"] == "file_version":
            rec["file_version"] = e.file_version
        elif rec["kind"] == "graph_def":
            graph_def = tf.GraphDef.FromString(e.graph_def)
        elif rec["kind"] == "meta_graph_def":
            meta = tf.MetaGraphDef.FromString(e.meta_graph_def)
        elif rec["kind"] == "summary":
            rec["values"] = []
            for v in e.summary.value:
                item = {"tag": v.tag, "kind": v.WhichOneof("value")}
                if item["kind"] == "simple_value":
                    item["value"] = v.simple_value
                else:
                    h = v.histo
                    item.update(min=h.min, max=h.max, num=h.num, sum=h.sum,
                                sum_squares=h.sum_squares, bucket=list(h.bucket),
                                bucket_limit=list(h.bucket_limit))
                rec["values"].append(item)
        elif rec["kind"] == "session_log":
            rec["status"] = int(e.session_log.status)
        out["events"].append(rec)

    # TF's own histogram of the same values, for every step
    out["tf_histograms"] = {}
    with tf.Graph().as_default():
        ph = tf.placeholder(tf.float32)
        op = tf.summary.histogram("h", ph)
        with tf.Session() as sess:
            for step in spec["steps"]:
                s = tf.Summary.FromString(sess.run(op, {ph: vals[f"pred{step}"]}))
                h = s.value[0].histo
                out["tf_histograms"][str(step)] = {
                    "bucket": list(h.bucket), "bucket_limit": list(h.bucket_limit),
                    "sum": h.sum, "min": h.min, "max": h.max, "num": h.num}

    # the GraphDef imports; the MetaGraph imports and runs
    with tf.Graph().as_default() as g:
        tf.import_graph_def(graph_def, name="")
        out["graph_nodes"] = sorted(n.name for n in g.as_graph_def().node)
    with tf.Graph().as_default() as g:
        tf.train.import_meta_graph(meta)
        out["meta_summaries"] = [t.name for t in g.get_collection("summaries")]
        out["meta_losses"] = [t.name for t in g.get_collection("losses")]
        with tf.Session() as sess:
            out["tf_losses"] = [float(sess.run(spec["loss"], {spec["x"]: vals[f"x{s}"]}))
                                for s in spec["steps"]]

    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError:
        pass
    else:
        acc = event_accumulator.EventAccumulator(  # 0: keep every event (not a sample)
            spec["logdir"], size_guidance={event_accumulator.HISTOGRAMS: 0,
                                           event_accumulator.SCALARS: 0})
        acc.Reload()
        out["tensorboard"] = {
            "scalars": {t: [[ev.step, ev.value] for ev in acc.Scalars(t)]
                        for t in acc.Tags()["scalars"]},
            "histograms": {t: [ev.step for ev in acc.Histograms(t)]
                           for t in acc.Tags()["histograms"]},
            "graph": acc.Tags()["graph"]}
    print("GMETA_TB_JSON: " + json.dumps(out))
""")


def _write_run(logdir):
    """Builds the model, writes the events; returns what TF must find."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal((3, 2)).astype(np.float32)
    labels = rng.standard_normal((4, 2)).astype(np.float32)
    g = gm.Graph()
    expect = {"loss": [], "pred": {}, "x": {}}
    SessionLog = gm.summary.SessionLog  # noqa: N806 - the proto class
    with g.as_default():
        x = gm.placeholder(gm.float32, [4, 3], name="x")
        pred = gm.matmul(x, gm.constant(w, name="w"), name="pred")
        loss = gm.losses.mean_squared_error(gm.constant(labels, name="labels"), pred)
        gm.summary.scalar("loss", loss)
        gm.summary.histogram("predictions", pred, family="model")
        merged = gm.summary.merge_all()
        with gm.Session() as sess, gm.summary.FileWriter(logdir, g, flush_secs=1000) as writer:
            writer.add_session_log(SessionLog(status=SessionLog.START), 0)
            for step in STEPS:
                xv = rng.standard_normal((4, 3)).astype(np.float32) * (step + 1)
                summ, lv, pv = sess.run([merged, loss, pred], {x: xv})
                writer.add_summary(summ, global_step=step)
                expect["loss"].append(float(lv))
                expect["pred"][step], expect["x"][step] = pv, xv
            writer.add_session_log(SessionLog(status=SessionLog.STOP), STEPS[-1])
    expect.update(loss_name=loss.name, x_name=x.name,
                  nodes=sorted(n.name for n in g.as_graph_def().node))
    return expect


def test_tensorboard_reads_gmeta_events(tmp_path, tf_python):
    logdir = str(tmp_path / "logs")
    expect = _write_run(logdir)
    np.savez(tmp_path / "vals.npz", **{f"pred{s}": v for s, v in expect["pred"].items()},
             **{f"x{s}": v for s, v in expect["x"].items()})
    spec = {"logdir": logdir, "steps": list(STEPS), "loss": expect["loss_name"],
            "x": expect["x_name"]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "read.py").write_text(TF_SCRIPT)
    res = subprocess.run([tf_python, str(tmp_path / "read.py"), str(tmp_path / "spec.json"),
                          str(tmp_path / "vals.npz")], capture_output=True, text=True,
                         env=tf_env(), timeout=TIMEOUT_S)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("GMETA_TB_JSON: ")]
    assert res.returncode == 0 and lines, res.stdout[-3000:] + res.stderr[-3000:]
    out = json.loads(lines[-1][len("GMETA_TB_JSON: "):])

    assert len(out["files"]) == 1
    events = out["events"]
    assert [e["kind"] for e in events] == (["file_version", "graph_def", "meta_graph_def",
                                            "session_log"] + ["summary"] * len(STEPS) +
                                           ["session_log"])
    assert events[0]["file_version"] == "brain.Event:2"
    assert [e["status"] for e in events if e["kind"] == "session_log"] == [1, 2]
    summaries = [e for e in events if e["kind"] == "summary"]
    assert [e["step"] for e in summaries] == list(STEPS)
    for e, step, lv in zip(summaries, STEPS, expect["loss"]):
        scalar, histo = e["values"]
        assert (scalar["tag"], scalar["kind"]) == ("loss", "simple_value")
        assert scalar["value"] == pytest.approx(lv, rel=1e-6)
        assert (histo["tag"], histo["kind"]) == ("model/model/predictions", "histo")
        tf_h = out["tf_histograms"][str(step)]
        assert histo["bucket"] == tf_h["bucket"]
        assert histo["bucket_limit"] == tf_h["bucket_limit"]
        assert (histo["min"], histo["max"], histo["num"]) == \
            (tf_h["min"], tf_h["max"], tf_h["num"])
        assert histo["sum"] == pytest.approx(tf_h["sum"], rel=1e-6)

    assert out["graph_nodes"] == expect["nodes"]
    assert out["meta_summaries"] == ["loss:0", "model/predictions:0"]
    assert out["meta_losses"] == ["mean_squared_error/value:0"]
    assert out["tf_losses"] == pytest.approx(expect["loss"], rel=1e-5)
    if out["tensorboard"] is not None:  # the venv has tensorboard
        tb = out["tensorboard"]
        assert [s for s, _ in tb["scalars"]["loss"]] == list(STEPS)
        assert [v for _, v in tb["scalars"]["loss"]] == pytest.approx(expect["loss"], rel=1e-6)
        assert tb["histograms"]["model/model/predictions"] == list(STEPS)
        assert tb["graph"] is True
