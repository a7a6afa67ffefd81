"""``gm.nn.embedding_lookup`` (partitioned params, ``"div"`` / ``"mod"``, ``max_norm``) and
``gm.nn.embedding_lookup_sparse`` (each combiner, with and without weights) against TensorFlow
2.21: every model of tests/fixtures/embedding_cases.py, compared with what TF built and computed
for it (tests/fixtures/data/embedding/, made by tests/fixtures/make_embedding_fixtures.py):

- built by gmeta's own API: the NodeDefs of the model's scope (forward, gradients, Adagrad
  update: names, op types, inputs, devices, every attr), the output's static shape, the
  forward values, the gradients w.r.t. the params (IndexedSlices where TF's are) and two
  Adagrad steps (sparse updates; rows no id reaches stay unchanged);
- TF's exported .meta imported by gmeta: the same numbers.

Values to rtol 1e-5, training to 2e-4.
"""

from __future__ import annotations

import gzip
import json
import os
import sys

import numpy as np
import pytest

import gmeta as gm
from gmeta.proto import MetaGraphDef

HERE = os.path.dirname(__file__)
DATA = os.path.join(HERE, "fixtures", "data", "embedding")
sys.path.insert(0, os.path.join(HERE, "fixtures"))

import embedding_cases as C  # noqa: E402
from graph_diff import node_diffs as _node_diffs  # noqa: E402

with open(os.path.join(DATA, "spec.json")) as _f:
    SPEC = json.load(_f)
_PACKED = np.load(os.path.join(DATA, "expected.npz"))


class _Expected:
    """TF's values by key (``<model>/out``, ...), unpacked from the per-model vectors."""

    def __getitem__(self, key):
        offset, dims, dtype = SPEC["expected"][key].split(" ")
        shape = [int(d) for d in dims.split(",")] if dims else []
        start = int(offset)
        flat = _PACKED[key.split("/", 1)[0]][start:start + int(np.prod(shape))]
        return flat.astype(dtype).reshape(shape)


EXPECTED = _Expected()
with gzip.open(os.path.join(DATA, "model.meta.gz"), "rb") as _f:
    META = MetaGraphDef.FromString(_f.read())
TF_NODES: dict[str, list] = {}
for _n in META.graph_def.node:
    TF_NODES.setdefault(_n.name.split("/", 1)[0], []).append(_n)

MODELS = {m.name: m for m in C.MODELS}
RTOL, TRAIN_RTOL, ATOL = 1e-5, 2e-4, 1e-6


def _build(model):
    g = gm.Graph()
    with g.as_default():
        b = C.build_model(gm, model)
        init = gm.global_variables_initializer()
    return g, b, init




def _close(got, want, rtol, what):
    got = np.asarray(got)
    assert (got.shape, got.dtype) == (want.shape, want.dtype), what
    np.testing.assert_allclose(got, want, rtol=rtol, atol=ATOL, err_msg=what)


def _run_and_compare(sess, model, tensors, train_op, variables):
    """Forward values, gradients and STEPS Adagrad updates against TF's numbers."""
    name = model.name
    fd = {tensors["placeholders"][k]: v for k, v in C.feeds(model).items()}
    out, loss, grads = sess.run([tensors["output"], tensors["loss"], tensors["grads"]], fd)
    _close(out, EXPECTED[f"{name}/out"], RTOL, "output")
    _close(loss, EXPECTED[f"{name}/loss"], RTOL, "loss")
    for i, g in enumerate(grads):
        _close(g, EXPECTED[f"{name}/grad{i}"], RTOL, f"gradient {i}")
    if train_op is None:
        return
    for k in range(SPEC["steps"]):
        loss, out = sess.run([tensors["loss"], tensors["output"]], fd)
        _close(loss, EXPECTED[f"{name}/step{k}/loss"], TRAIN_RTOL, f"loss before update {k + 1}")
        _close(out, EXPECTED[f"{name}/step{k}/out"], TRAIN_RTOL, f"output before update {k + 1}")
        sess.run(train_op, fd)
    for v in variables:
        _close(sess.run(v), EXPECTED[f"{name}/final/{v.op.name}"], TRAIN_RTOL, v.op.name)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_graph_matches_tf(name):
    g, _, _ = _build(MODELS[name])
    mine = [n for n in g.as_graph_def(add_shapes=True).node if n.name.split("/", 1)[0] == name]
    diffs = _node_diffs(TF_NODES[name], mine)
    assert not diffs, f"{len(diffs)} differences from TF's graph:\n" + "\n".join(diffs[:40])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_built_model_matches_tf(name):
    model, spec = MODELS[name], SPEC["models"][name]
    g, b, init = _build(model)
    assert b["output"].name == spec["output"]
    assert {k: t.name for k, t in b["placeholders"].items()} == spec["placeholders"]
    assert [t.name for t in b["grads"]] == spec["grads"]
    assert b["sparse_grads"] == spec["sparse_grads"]
    shape = b["output"].shape
    assert {"shape": None if shape.ndims is None else shape.as_list(),
            "dtype": b["output"].dtype.name} == spec["output_shape"]
    with gm.Session(graph=g) as sess:
        sess.run(init)
        variables = b["params"] if model.trained else []
        assert [v.op.name for v in variables] == spec["variables"]
        _run_and_compare(sess, model, b, b["train_op"], variables)


@pytest.fixture(scope="module")
def imported():
    g = gm.Graph()
    with g.as_default():
        gm.train.import_meta_graph(META)
    return g


@pytest.mark.parametrize("name", sorted(MODELS))
def test_imported_meta_matches_tf(imported, name):
    model, spec = MODELS[name], SPEC["models"][name]
    g = imported
    tensors = {"placeholders": {k: g.get_tensor_by_name(v)
                                for k, v in spec["placeholders"].items()},
               "output": g.get_tensor_by_name(spec["output"]),
               "loss": g.get_tensor_by_name(spec["loss"]),
               "grads": [g.get_tensor_by_name(n) for n in spec["grads"]]}
    train_op = None if spec["train_op"] is None else g.get_operation_by_name(spec["train_op"])
    variables = [g.get_tensor_by_name(n + ":0") for n in spec["variables"]]
    with gm.Session(graph=g) as sess:
        sess.run(g.get_operation_by_name(SPEC["init"]))
        _run_and_compare(sess, model, tensors, train_op,
                         [_VarView(v) for v in variables])


class _VarView:
    """An imported variable's tensor with the ``op.name`` the comparison keys use."""

    def __init__(self, t):
        self.t, self.op = t, t.op

    def _as_graph_element(self):
        return self.t


def test_unused_rows_stay_after_training():
    for m in C.MODELS:
        if not m.trained:
            continue
        init = C.init_values(m)
        for i in C.UNUSED_IDS:
            p, row = C.shard_row(m, i)
            final = EXPECTED[f"{m.name}/final/{SPEC['models'][m.name]['variables'][p]}"]
            np.testing.assert_array_equal(final[row], init[p][row], err_msg=f"{m.name} id {i}")
