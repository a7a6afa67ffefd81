"""``gm.nn`` conv / pool / batch-norm builders and ``gm.layers`` against TensorFlow 2.21.

Every case of tests/fixtures/nn_builder_cases.py, built by gmeta inside
``variable_scope(<case>)``, is compared with what TF built for it
(tests/fixtures/data/nn_builders.*, made by tests/fixtures/make_nn_builder_fixtures.py):

- the NodeDefs: names, op types, inputs (control inputs too), devices and every attr (defaults,
  ``explicit_paddings``, ``use_cudnn_on_gpu``, ``_class`` colocation, seeds, Const values);
- the static shapes and dtypes of the outputs;
- the values (to 1e-5) with TF's fed inputs and TF's initial variable values loaded into the
  variables (layer kernels are random), update ops included; dropout in training only by shape;
- the collections (variables, trainable variables, update ops, regularization losses, ...),
  each variable's shape / dtype / trainability and its VariableDef (``ON_READ`` / ``MEAN`` for
  the moving statistics), and the number of ``cond`` contexts.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import gmeta as gm

HERE = os.path.dirname(__file__)
DATA = os.path.join(HERE, "fixtures", "data")
sys.path.insert(0, os.path.join(HERE, "fixtures"))

import nn_builder_cases as C  # noqa: E402
from graph_diff import load_case_fixtures  # noqa: E402
from graph_diff import node_diffs as _node_diffs  # noqa: E402

_SPEC, _NPZ, _TF_NODES = load_case_fixtures(DATA, "nn_builders")

CASES = {c.name: c for c in C.CASES}

# Cases whose graph gmeta builds differently from TF, each with the reason. A listed case that
# starts matching fails (strict), so the list cannot go stale.
GRAPH_DIFFERS: dict[str, str] = {}


def _build(case):
    g = gm.Graph()
    with g.as_default():
        with gm.variable_scope(case.name):
            feeds, outs = C.build_case(gm, case)
    return g, feeds, outs



@pytest.mark.parametrize("name", sorted(CASES))
def test_graph_matches_tf(name):
    g, _, _ = _build(CASES[name])
    diffs = _node_diffs(_TF_NODES[name], g.as_graph_def().node)
    if name in GRAPH_DIFFERS:
        assert diffs, f"{name} now matches TF: remove it from GRAPH_DIFFERS"
        pytest.xfail(GRAPH_DIFFERS[name])
    assert not diffs, f"{len(diffs)} differences from TF's graph:\n" + "\n".join(diffs[:40])


@pytest.mark.parametrize("name", sorted(CASES))
def test_static_shapes(name):
    _, _, outs = _build(CASES[name])
    spec = _SPEC[name]
    assert [t.name for t in outs] == spec["outputs"]
    for i, (t, want) in enumerate(zip(outs, spec["shapes"])):
        got = None if t.shape.ndims is None else t.shape.as_list()
        assert (got, t.dtype.name) == (want["shape"], want["dtype"]), f"output {i}"


def _run(case):
    g, feeds, outs = _build(case)
    with g.as_default(), gm.Session(graph=g) as sess:
        sess.run(gm.global_variables_initializer())
        for v in gm.global_variables():
            v.load(_NPZ[C.variable_values_key(case.name, v.op.name)], sess)
        feed = {feeds[k]: _NPZ[f"{case.name}/in/{k}"] for k in C.fed_values(case)}
        return sess.run(outs, feed)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.run))
def test_values(name):
    case = CASES[name]
    got = _run(case)
    for i, value in enumerate(got):
        want = _NPZ[f"{name}/out/{i}"]
        value = np.asarray(value)
        assert (value.shape, value.dtype) == (want.shape, want.dtype), f"output {i}"
        if case.random:
            continue
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-5, err_msg=f"output {i}")


def test_dropout_in_training_keeps_or_scales():
    """The random case's values: each element is dropped (0) or scaled by 1 / (1 - rate)."""
    case = CASES["layers_dropout_training"]
    x = _NPZ["layers_dropout_training/in/x"]
    first, second = _run(case)
    assert np.all(np.isclose(first, 0) | np.isclose(first, x / 0.6, rtol=1e-6))
    assert np.all(np.isclose(second, 0) | np.isclose(second, x / 0.5, rtol=1e-6))
    column_mask = np.isclose(second, 0)  # noise_shape=[None, 1]: one decision per row
    assert np.all(column_mask == column_mask[:, :1])


def _item_name(item):
    return getattr(item, "name", None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_collections_and_variables(name):
    g, _, _ = _build(CASES[name])
    spec = _SPEC[name]
    prefix = name + "/"
    with g.as_default():
        got = {}
        for key in spec["collections"].keys() | {"variables", "trainable_variables",
                                                 "update_ops", "regularization_losses"}:
            names = [_item_name(x) for x in g.get_collection(key)
                     if (_item_name(x) or "").startswith(prefix)]
            if names:
                got[key] = names
        assert got == spec["collections"]
        conds = [c for c in g.get_collection("cond_context")
                 if c.proto.context_name.startswith(prefix)]
        assert len(conds) == spec["cond_contexts"]
        trainable = set(gm.trainable_variables())
        variables = {v.op.name: {"shape": v.shape.as_list(), "dtype": v.dtype.base_dtype.name,
                                 "trainable": v in trainable,
                                 "variable_def": str(v.to_proto())}
                     for v in gm.global_variables()}
    assert variables == spec["variables"]
