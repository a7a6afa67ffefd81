"""gm.train.replica_device_setter against TF 2.21's tf.compat.v1.train.replica_device_setter.

TF's answers (tests/fixtures/data/device_setter.json) come from
tests/fixtures/make_device_setter_fixtures.py; the graphs, NodeDef calls and factory arguments are
those of tests/fixtures/device_setter_cases.py, replayed here with ``tf = gmeta``.
"""

from __future__ import annotations

import json
import logging
import os
import sys

import pytest

import gmeta as tf
from gmeta.proto import NodeDef
from gmeta.proto.cluster_pb2 import ClusterDef
from gmeta.train import device_setter

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "fixtures"))

import device_setter_cases as cases  # noqa: E402

with open(os.path.join(HERE, "fixtures", "data", "device_setter.json")) as _f:
    _TF = json.load(_f)

# Configurations gmeta builds differently from TF (name -> reason); a listed one that starts
# matching fails (strict xfail). Empty: variables are created with TF's init_scope device stack
# (the graph's own inside colocate_with), so slots and Adam's beta powers call the setter too.
_KNOWN_DEVICE_DIFFERENCES: dict = {}
_KNOWN_EXTRA_DIFFERENCES: dict = {}


def _params(names, known):
    return [pytest.param(n, marks=pytest.mark.xfail(reason=known[n], strict=True))
            if n in known else n for n in sorted(names)]


def _build(name):
    g = tf.Graph()
    with g.as_default():
        extra = cases.GRAPHS[name](tf)
    return cases.graph_nodes(g), extra


def _is_variable(name, nodes):
    """VariableV2 / VarHandleOp nodes: the variables, optimizer slots included."""
    return nodes[name][0] in cases.VARIABLE_OPS


def test_fixture_covers_every_configuration():
    assert sorted(_TF["graphs"]) == sorted(cases.GRAPHS)
    assert sorted(_TF["node_def_calls"]) == sorted(cases.NODE_DEF_CALLS)
    assert sorted(_TF["api"]) == sorted(cases.API_CASES)


@pytest.mark.parametrize("name", _params(cases.GRAPHS, _KNOWN_DEVICE_DIFFERENCES))
def test_graph_devices(name):
    """Every node's device equals TF's and both graphs have the same nodes; a failure lists the
    names only one side has (variables and slots among them flagged) and every device mismatch
    among the nodes both have."""
    got_list, _ = _build(name)
    want = {n: (t, d) for n, t, d in _TF["graphs"][name]}
    got = {n: (t, d) for n, t, d in got_list}
    assert len(got) == len(got_list), "duplicate node names in gmeta's graph"

    only_tf = sorted(set(want) - set(got))
    only_gm = sorted(set(got) - set(want))
    problems = []
    if only_tf or only_gm:
        problems.append(f"node sets differ: only in TF {only_tf}, only in gmeta {only_gm}")
    for n in only_tf:
        if _is_variable(n, want):
            problems.append(f"variable node {n!r} ({want[n][0]}) missing in gmeta")
    for n in only_gm:
        if _is_variable(n, got):
            problems.append(f"variable node {n!r} ({got[n][0]}) not in TF's graph")
    for n in sorted(set(want) & set(got)):
        if want[n] != got[n]:
            problems.append(f"{n}: TF {want[n]} gmeta {got[n]}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", _params(cases.GRAPHS, _KNOWN_EXTRA_DIFFERENCES))
def test_graph_extras(name):
    """What the builder observed besides the nodes (the ops a custom ps_strategy was given)."""
    _, extra = _build(name)
    assert extra == _TF["graph_extras"].get(name)


def test_variable_placement_is_round_robin():
    """A readable spot check of the recorded data: ps3_adam's variables cycle tasks 0, 1, 2."""
    devices = {n: d for n, t, d in _TF["graphs"]["ps3_adam"] if t == "VariableV2"}
    assert [devices[v] for v in ("v0", "g1", "c2", "v3", "g4", "global_step")] == [
        "/job:ps/task:0", "/job:ps/task:1", "/job:ps/task:2", "/job:ps/task:0",
        "/job:ps/task:1", "/job:ps/task:2"]
    assert devices["v0/Adam"] == devices["v0"]
    assert devices["beta1_power"] == devices["c2"]  # colocated with the first variable by name


def _node_def(op_type, device):
    return NodeDef(name="n", op=op_type, device=device)


@pytest.mark.parametrize("name", sorted(cases.NODE_DEF_CALLS))
def test_device_function_on_node_defs(name):
    fn = tf.train.replica_device_setter(**cases.NODE_DEF_CALLS[name])
    got = cases.node_def_calls(fn, _node_def)
    want = _TF["node_def_calls"][name]
    bad = [f"{w[0]} on {w[1]!r}: TF {w[2]!r} gmeta {g[2]!r}" for w, g in zip(want, got)
           if w != g]
    assert len(got) == len(want)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", sorted(cases.API_CASES))
def test_factory_outcome(name):
    assert cases.api_outcome(tf, cases.API_CASES[name]) == _TF["api"][name]


# -- unit tests -------------------------------------------------------------------------------
def test_exported_names():
    assert tf.train.replica_device_setter is device_setter.replica_device_setter
    assert tf.compat.v1.train.replica_device_setter is device_setter.replica_device_setter
    assert device_setter.STANDARD_PS_OPS == cases.STANDARD_PS_OPS


def test_returns_none_without_ps_tasks():
    assert tf.train.replica_device_setter() is None
    assert tf.train.replica_device_setter(ps_tasks=0, ps_strategy=3) is None
    # a cluster without the ps job: no device function (TF does not raise)
    assert tf.train.replica_device_setter(cluster={"worker": ["w0:2222"]}, ps_tasks=4) is None


@pytest.mark.parametrize("strategy", [3, "round_robin", [0, 1]])
def test_ps_strategy_not_callable(strategy):
    with pytest.raises(TypeError, match="ps_strategy must be callable"):
        tf.train.replica_device_setter(ps_tasks=2, ps_strategy=strategy)


def test_ps_strategy_callable():
    seen = []

    def strategy(op):
        seen.append((op.name, op.op))
        return 7

    fn = tf.train.replica_device_setter(ps_tasks=2, ps_strategy=strategy)
    assert fn(_node_def("VarHandleOp", "/device:CPU:0")) == "/job:ps/task:7/device:CPU:0"
    assert fn(_node_def("VarHandleOp", "/job:x")) == "/job:x"  # another job: not asked
    assert fn(_node_def("Add", "")) == "/job:worker"
    assert seen == [("n", "VarHandleOp")]


@pytest.mark.parametrize("cluster,message", [
    ([("ps", ["a"])], "`cluster` must be a dictionary"),
    ("ps:a", "`cluster` must be a dictionary"),
    ({"ps": "a:1"}, "The tasks for job 'ps' must be a list or a dictionary"),
    ({"ps": ["a:1", 2]}, "Task address 2 must be bytes or unicode"),
])
def test_bad_cluster(cluster, message):
    with pytest.raises(TypeError, match=message):
        tf.train.replica_device_setter(cluster=cluster)


def test_cluster_forms():
    """A dict, a sparse dict, a ClusterDef and a ClusterSpec-like object give the same tasks."""
    cd = ClusterDef()
    for job, n in (("ps", 3), ("worker", 1)):
        jd = cd.job.add()
        jd.name = job
        for i in range(n):
            jd.tasks[i] = f"{job}{i}:2222"

    class Spec:
        def as_dict(self):
            return {"ps": ["a", "b", "c"], "worker": ["w"]}

    clusters = [{"ps": ["a", "b", "c"]}, {"ps": {0: "a", 5: "b", 9: "c"}}, cd, Spec()]
    for cluster in clusters:
        fn = tf.train.replica_device_setter(cluster=cluster)
        got = [fn(_node_def("VariableV2", "")) for _ in range(4)]
        assert got == ["/job:ps/task:0", "/job:ps/task:1", "/job:ps/task:2", "/job:ps/task:0"]


def test_device_function_on_operations():
    fn = tf.train.replica_device_setter(ps_tasks=2, worker_device="/job:worker/task:1")
    with tf.Graph().as_default():
        with tf.device(fn):
            v = tf.Variable(1.0, name="v")
            w = tf.Variable(2.0, name="w")
            s = tf.add(v, w, name="s")
            with tf.device("/job:ps/device:CPU:0"):
                u = tf.Variable(3.0, name="u")
    assert v.op.device == "/job:ps/task:0"
    assert w.op.device == "/job:ps/task:1"
    assert u.op.device == "/job:ps/task:0/device:CPU:0"
    assert s.op.device == "/job:worker/task:1"


def test_merge_devices_false_warns_and_keeps_devices(caplog):
    with caplog.at_level(logging.WARNING, logger="gmeta"):
        fn = tf.train.replica_device_setter(ps_tasks=2, merge_devices=False)
    assert "merge_devices=true" in caplog.text
    assert fn(_node_def("VariableV2", "/gpu:1")) == "/gpu:1"  # as given, not canonicalised
    assert fn(_node_def("VariableV2", "")) == "/job:ps/task:0"
    assert fn(_node_def("Const", "")) == "/job:worker"
