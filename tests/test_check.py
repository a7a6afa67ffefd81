"""``gm.check`` on TF-made files and hand-made GraphDefs, the run-time error for an op gmeta
cannot run, and docs/ops.md being current with the kernel registry."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import gmeta as tf
from gmeta import errors
from gmeta.proto import GraphDef

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
META = os.path.join(ROOT, "tests", "fixtures", "data", "meta")


def _graph(*ops):
    gd = GraphDef()
    for i, op in enumerate(ops):
        gd.node.add(name=f"n{i}", op=op)
    return gd


def test_tf_made_files_are_runnable():
    for name in ("cnn", "hparams", "mlp_devices"):
        meta = [f for f in os.listdir(os.path.join(META, name)) if f.endswith(".meta")
                and f != "reexported.meta"][0]
        report = tf.check(os.path.join(META, name, meta))
        assert report.ok, str(report)
        assert report.op_types and "SaveV2" in report.cpu_only


def test_unsupported_ops_name_their_nodes_and_an_alternative():
    report = tf.check(_graph("Conv3D", "Conv3D", "MatMul", "NoSuchOpAnywhere"))
    assert not report.ok
    by_type = {u.op_type: u for u in report.unsupported}
    assert set(by_type) == {"Conv3D", "NoSuchOpAnywhere"}
    assert by_type["Conv3D"].nodes == ["n0", "n1"]
    assert by_type["Conv3D"].alternative == "Conv2D"
    assert by_type["NoSuchOpAnywhere"].alternative == ""
    text = str(report)
    assert "2 of 3 op types have no gmeta kernel" in text and "n0, n1" in text


def test_running_an_op_without_a_kernel_names_it_and_the_nearest_op():
    gd = _graph()
    node = gd.node.add(name="mm", op="BatchMatMulV9")  # an op type with no OpDef: kept intact
    node.attr["T"].type = 1
    with tf.Graph().as_default() as g:
        tf.import_graph_def(gd, name="")
        with pytest.raises(errors.NotFoundError) as e:
            tf.Session().run(g.get_operation_by_name("mm"))
    msg = str(e.value)
    assert "'BatchMatMulV9'" in msg and "'mm'" in msg and "nearest supported op: BatchMatMul" \
        in msg


def test_ops_table_is_current():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen_op_table.py"),
                           "--check"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
