"""TF-saved models whose .meta keeps GPU and cluster device strings (tests/fixtures/data/devices/*,
made by tests/fixtures/make_device_fixtures.py), imported unedited by gmeta on a CPU-only machine:

- the .meta holds the GPU / ``/job:ps`` / ``/job:worker`` devices the fixture claims;
- ``import_meta_graph`` without ``clear_devices`` keeps them: every op's ``device`` is the one TF's
  import gives it (the NodeDef's, or its colocation partner's);
- the imported graph, restored with the returned Saver, trains for three steps to the loss and
  outputs TF gets from the same .meta imported with ``clear_devices=True`` (and so does gmeta's
  ``clear_devices=True`` import);
- where the Session explains placement (``sess.placement()``), every node that asked for a GPU or
  a remote job says why it runs where it does (run with ``-s`` to see the distinct
  (requested, assigned, reason) triples).

Nothing here needs a GPU, virtual GPUs or TensorFlow.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import gmeta as tf
from gmeta.devices.spec import DeviceSpec
from gmeta.proto import MetaGraphDef

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "fixtures", "data", "devices")
NAMES = ["gpu1_mlp", "ps_worker", "two_gpu_layers", "ps_explicit"]

RTOL, ATOL = 2e-4, 1e-6

NO_DEVICE = "soft-fallback-no-device"
# the reasons a node that asked for a GPU may give for running elsewhere on a CPU-only machine
GPU_REASONS = {NO_DEVICE, "soft-fallback-no-kernel", "host-memory", "colocation", "default"}


def _spec(name):
    with open(os.path.join(DATA, name, "spec.json")) as f:
        return json.load(f)


def _expected(name):
    return np.load(os.path.join(DATA, name, "expected.npz"))


def _close(got, want, what):
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=what)


def _names_gpu(device: str) -> bool:
    return bool(device) and DeviceSpec.from_string(device).device_type == "GPU"


def _names_remote_job(device: str) -> bool:
    job = DeviceSpec.from_string(device).job if device else None
    return job not in (None, "localhost")


def _import(name, clear_devices):
    spec = _spec(name)
    g = tf.Graph()
    with g.as_default():
        saver = tf.train.import_meta_graph(os.path.join(DATA, name, spec["meta"]),
                                           clear_devices=clear_devices)
    assert saver is not None, "the .meta has a saver_def: import_meta_graph returns its Saver"
    return g, saver, spec


def _train(name, g, saver, spec, sess):
    """Restores the checkpoint and runs the train op ``steps`` times, comparing loss and outputs
    with TF's before the first and after each run."""
    want = _expected(name)
    feed = {g.get_tensor_by_name(k): want[f"feed/{k}"] for k in spec["feeds"]}
    train_op = g.get_operation_by_name(spec["train_op"])
    fetches = [g.get_tensor_by_name(spec["loss"])] + \
        [g.get_tensor_by_name(t) for t in spec["outputs"]]
    saver.restore(sess, os.path.join(DATA, name, spec["checkpoint_prefix"]))
    for k in range(spec["steps"] + 1):
        values = sess.run(fetches, feed)
        for t, value in zip(["loss"] + spec["outputs"], values):
            _close(value, want[f"step{k}/{t}"], f"{name}: {t} after {k} steps")
        if k < spec["steps"]:
            sess.run(train_op, feed)


@pytest.mark.parametrize("name", NAMES)
def test_meta_keeps_gpu_and_cluster_devices(name):
    spec = _spec(name)
    mgd = MetaGraphDef()
    with open(os.path.join(DATA, name, spec["meta"]), "rb") as f:
        mgd.ParseFromString(f.read())
    node_devices = {n.name: n.device for n in mgd.graph_def.node if n.device}
    assert node_devices == spec["node_devices"]
    assert sorted(set(node_devices.values())) == spec["devices"]
    assert set(spec["required_devices"]) <= set(spec["devices"])
    assert any(_names_gpu(d) for d in spec["devices"])
    assert mgd.HasField("saver_def")


@pytest.mark.parametrize("name", NAMES)
def test_import_keeps_device_strings(name):
    g, _, spec = _import(name, clear_devices=False)
    ops = g.get_operations()
    got = {op.name: op.device for op in ops if op.device}
    wrong = [f"{op.name}: {op.device!r}, TF: {spec['imported_devices'].get(op.name, '')!r}"
             for op in ops if op.device != spec["imported_devices"].get(op.name, "")]
    missing = sorted(set(spec["imported_devices"]) - {op.name for op in ops})
    assert not missing, f"ops TF imports that gmeta does not: {missing[:20]}"
    assert not wrong, f"{len(wrong)} ops with another device than TF's import:\n" + \
        "\n".join(wrong[:30])
    # every recorded device string is on some imported op, verbatim
    for device in spec["devices"]:
        assert device in got.values(), device
    for node, device in spec["node_devices"].items():
        assert g.get_operation_by_name(node).device == device, node
    with g.as_default():
        variables = {v.op.name: v.op.device for v in tf.global_variables()}
    assert variables == spec["variables"]


@pytest.mark.parametrize("name", NAMES)
def test_trains_like_tf_with_devices_kept(name):
    g, saver, spec = _import(name, clear_devices=False)
    assert any(op.device for op in g.get_operations())
    with g.as_default(), tf.Session(graph=g) as sess:
        _train(name, g, saver, spec, sess)


@pytest.mark.parametrize("name", NAMES)
def test_trains_like_tf_with_clear_devices(name):
    g, saver, spec = _import(name, clear_devices=True)
    assert not [op.name for op in g.get_operations() if op.device]
    with g.as_default(), tf.Session(graph=g) as sess:
        _train(name, g, saver, spec, sess)


@pytest.mark.parametrize("name", NAMES)
def test_placement_explains_gpu_and_cluster_requests(name):
    g, saver, spec = _import(name, clear_devices=False)
    # CPU only whatever the machine has (real or virtual GPUs): TF's device_count cap
    cpu_only = tf.ConfigProto(device_count={"GPU": 0}, allow_soft_placement=True)
    with g.as_default(), tf.Session(graph=g, config=cpu_only) as sess:
        if not hasattr(sess, "placement"):
            pytest.skip("gmeta's Session has no placement()")
        _train(name, g, saver, spec, sess)  # placement is of a graph that really ran
        rows = {r["node"]: r for r in sess.placement()}
        has_gpu = any(d.device_type == "GPU" for d in sess.list_devices())
    assert not has_gpu, "device_count={'GPU': 0} leaves no GPU"
    triples = sorted({(r["requested"], r["assigned"], r["reason"]) for r in rows.values()})
    print(f"\n{name}: distinct (requested, assigned, reason) of {len(rows)} nodes")
    for t in triples:
        print("   ", t)
    problems = []
    for op in g.get_operations():
        gpu, remote = _names_gpu(op.device), _names_remote_job(op.device)
        if not (gpu or remote):
            continue
        row = rows.get(op.name)
        if row is None:
            problems.append(f"{op.name} ({op.device}): no placement row")
            continue
        if row["requested"] != op.device:
            problems.append(f"{op.name}: row requested {row['requested']!r}, op {op.device!r}")
        if not row["reason"]:
            problems.append(f"{op.name} ({op.device}): empty reason")
        if gpu:
            if row["reason"] not in GPU_REASONS:
                problems.append(f"{op.name} ({op.device}): reason {row['reason']!r}")
            if row["reason"] == NO_DEVICE and "GPU" not in row["detail"]:
                problems.append(f"{op.name} ({op.device}): detail {row['detail']!r} does not "
                                "name the missing GPU")
            if "GPU" in row["assigned"]:
                problems.append(f"{op.name}: assigned {row['assigned']} with no GPU here")
    assert not problems, "\n".join(problems[:30])


@pytest.mark.parametrize("name", NAMES)
def test_trains_like_tf_on_two_virtual_gpus(name, monkeypatch):
    """The recorded GPU and cluster devices bound to two (virtual) GPUs: honoured or remapped
    mod 2, values crossing devices copied, and still TF's numbers."""
    from gmeta.devices import discovery

    monkeypatch.setattr(discovery, "_probe_gpus", lambda: ([], "real GPUs hidden by the test"))
    monkeypatch.setattr(discovery, "_virtual_gpus", 2)
    g, saver, spec = _import(name, clear_devices=False)
    with g.as_default(), tf.Session(graph=g) as sess:
        _train(name, g, saver, spec, sess)
        rows = {r["node"]: r for r in sess.placement()}
        train_op = g.get_operation_by_name(spec["train_op"])
        feed = {g.get_tensor_by_name(k): _expected(name)[f"feed/{k}"] for k in spec["feeds"]}
        transfers = sess.transfers(train_op, feed)
    for op in g.get_operations():
        spec_ = DeviceSpec.from_string(op.device) if op.device else None
        if spec_ is not None and spec_.device_type == "GPU" and spec_.device_index is not None:
            row = rows[op.name]
            want = f"/device:GPU:{spec_.device_index % 2}"
            if row["reason"] in ("honoured", NO_DEVICE):
                assert row["assigned"].endswith(want), (op.name, row)
    if name == "two_gpu_layers":  # layers on GPU:0 and GPU:1: activations cross every step
        assert transfers["copies_per_step"] > 0 and transfers["bytes_per_step"] > 0
