"""TensorFlow reads gmeta's traced-run metadata.

gmeta runs a small model with ``RunOptions(trace_level=FULL_TRACE, output_partition_graphs=True)``
on the CPU and on a virtual GPU (the copies between them recorded as MEMCPY nodes), and writes
the RunMetadata. The TF venv (GMETA_TF_PYTHON) parses it as its own RunMetadata, builds the
Chrome trace with TF's
``tensorflow.python.client.timeline.Timeline`` (memory and dataflow included), and imports each
partition graph into a TF graph.

Skipped, with the reason, when GMETA_TF_PYTHON is not set (conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import textwrap

import numpy as np
import pytest

import gmeta as gm
from gmeta.devices import discovery

from .conftest import TIMEOUT_S, tf_env

pytestmark = pytest.mark.tf

TF_SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow.compat.v1 as tf
    from tensorflow.python.client import timeline
    md = tf.RunMetadata.FromString(open(sys.argv[1], "rb").read())
    trace = json.loads(timeline.Timeline(md.step_stats).generate_chrome_trace_format(
        show_dataflow=True, show_memory=True))
    ops = [(e["args"]["name"], e["args"]["op"], e["pid"]) for e in trace["traceEvents"]
           if e.get("ph") == "X"]
    processes = {e["pid"]: e["args"]["name"] for e in trace["traceEvents"]
                 if e.get("ph") == "M" and e["name"] == "process_name"}
    flows = sum(1 for e in trace["traceEvents"] if e.get("ph") == "s")
    parts = []
    for gd in md.partition_graphs:
        with tf.Graph().as_default() as g:
            tf.import_graph_def(gd, name="")
            parts.append(sorted((op.name, op.device) for op in g.get_operations()))
    print("GMETA_TRACE_JSON: " + json.dumps({"ops": ops, "processes": processes,
                                             "flows": flows, "parts": parts}))
""")


def test_tf_timeline_reads_gmeta_step_stats_and_tf_imports_its_partitions(
        tf_python, tmp_path, monkeypatch):
    monkeypatch.setattr(discovery, "_virtual_gpus", 1)
    with gm.Graph().as_default():
        x = gm.placeholder(gm.float32, [4, 3], name="x")
        w = gm.Variable(np.ones((3, 2), np.float32), name="w")
        with gm.device("/gpu:0"):
            h = gm.nn.relu(gm.matmul(x, w) + 1.0, name="h")
        with gm.device("/cpu:0"):
            y = gm.reduce_sum(h, name="y")
        with gm.Session() as sess:
            sess.run(gm.global_variables_initializer())
            md = gm.RunMetadata()
            opts = gm.RunOptions(trace_level=gm.RunOptions.FULL_TRACE,
                                 output_partition_graphs=True)
            assert sess.run(y, {x: np.ones((4, 3), np.float32)}, options=opts,
                            run_metadata=md) == 32.0
    (tmp_path / "md.pb").write_bytes(md.SerializeToString())
    (tmp_path / "read.py").write_text(TF_SCRIPT)
    res = subprocess.run([tf_python, str(tmp_path / "read.py"), str(tmp_path / "md.pb")],
                         capture_output=True, text=True, env=tf_env(), timeout=TIMEOUT_S)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("GMETA_TRACE_JSON: ")]
    assert res.returncode == 0 and lines, res.stdout[-3000:] + res.stderr[-3000:]
    out = json.loads(lines[-1][len("GMETA_TRACE_JSON: "):])
    gpu = "/job:localhost/replica:0/task:0/device:GPU:0"
    cpu = "/job:localhost/replica:0/task:0/device:CPU:0"
    where = {name: out["processes"][str(pid)] for name, _, pid in out["ops"]}
    x_in, h_out = "x/_copy_0_to_device_GPU_0", "h/_copy_0_to_device_CPU_0"  # TF splits off ":op"
    assert where == {"MatMul": f"{gpu} Compute", "add": f"{gpu} Compute",
                     "h": f"{gpu} Compute", "y": f"{cpu} Compute",
                     x_in: f"{gpu}/memcpy Compute", h_out: f"{gpu}/memcpy Compute"}
    assert {name: op for name, op, _ in out["ops"]} == {
        "MatMul": "MatMul", "add": "AddV2", "h": "Relu", "y": "Sum",
        x_in: "MEMCPYHtoD", h_out: "MEMCPYDtoH"}
    assert out["flows"] >= 1  # TF's timeline draws the edges between devices
    devices = [{d for _, d in part} for part in out["parts"]]
    assert sorted(map(sorted, devices)) == [[cpu], [gpu]]
    names = sorted(n for part in out["parts"] for n, _ in part)
    assert {"MatMul", "add", "h", "y", "w", "w/read"} <= set(names)
