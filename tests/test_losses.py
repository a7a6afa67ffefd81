"""``gm.losses`` against TensorFlow 2.21: every loss case of tests/fixtures/make_loss_fixtures.py.

Per case (each built in a fresh graph, as TF built it): the build-time error class, the fetched
values (to 1e-5, exact dtypes), the static shapes and dtypes, the NodeDefs (names, op types,
inputs, attrs and Const values) and the losses / regularization collections. Plus unit tests
of the Reduction keys, argument checks and the collection helpers.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import gmeta as gm
import gmeta.losses  # noqa: F401 - binds gm.losses until gmeta/__init__ imports it
from gmeta.proto import GraphDef

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fixtures"))

import make_loss_fixtures as fx  # noqa: E402

SPEC, NPZ = fx.load()
CASES = {c.name: c for c in fx.CASES if not c.name.startswith("summary_")}

# Cases whose graph gmeta builds differently from TF, with the reason. A case listed here that
# starts matching fails, so the list cannot go stale.
_DYNAMIC_ASSERT = ("TF's run-time assert_broadcastable (tf.cond + Assert + "
                   "DenseToDenseSetOperation) for weights of unknown shape is not built")
GRAPH_DIFFERS = {f"{loss}_dyn_batch_w_col": _DYNAMIC_ASSERT for loss in (
    "absolute_difference", "mean_squared_error", "huber_loss", "log_loss", "hinge_loss",
    "sigmoid_cross_entropy")}


def build(case):
    """``(graph, placeholders, outputs)`` of ``case`` built by gmeta in a fresh graph."""
    g = gm.Graph()
    with g.as_default():
        x, outs = fx.build_case(gm, case)
    return g, x, outs


def run_case(case):
    g, x, outs = build(case)
    feeds = {x[k]: v for k, v in fx.make_inputs(case).items()}
    with gm.Session(graph=g) as sess:
        return sess.run(outs, feeds)


def check_values(name, got):
    rec = SPEC[name]
    assert len(got) == len(rec["outputs"])
    for i, value in enumerate(got):
        want = NPZ[f"{name}/out/{i}"]
        if isinstance(value, bytes):  # a serialized Summary
            assert want.dtype == np.uint8
            _check_summary(fx.parse_summary(value), fx.parse_summary(want.tobytes()), i)
            continue
        value = np.asarray(value)
        assert value.dtype == want.dtype, f"output {i}: dtype {value.dtype}, TF {want.dtype}"
        assert value.shape == want.shape, f"output {i}: shape {value.shape}, TF {want.shape}"
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-5, err_msg=f"output {i}")


def _check_summary(mine, theirs, i):
    assert [v["tag"] for v in mine] == [v["tag"] for v in theirs], f"output {i}: tags"
    for a, b in zip(mine, theirs):
        assert a["kind"] == b["kind"] and a["metadata"] == b["metadata"], a["tag"]
        if a["kind"] == "histo":
            for key in ("min", "max", "num", "sum", "sum_squares", "bucket_limit", "bucket"):
                np.testing.assert_allclose(a["body"][key], b["body"][key], rtol=1e-5, atol=1e-5,
                                           err_msg=f"{a['tag']}: histo.{key}")
        elif a["kind"] == "simple_value":
            np.testing.assert_allclose(a["body"], b["body"], rtol=1e-5, atol=1e-5)
        else:
            assert a["body"] == b["body"], a["tag"]


def check_case_values(name):
    case, rec = fx_case(name), SPEC[name]
    if rec["build_error"]:
        with pytest.raises({"ValueError": ValueError, "TypeError": TypeError}[rec["build_error"]]):
            build(case)
        return
    if case.raises:
        with pytest.raises(getattr(gm.errors, case.raises)) as info:
            run_case(case)
        assert info.value.op is not None, "the error must name its node"
        return
    check_values(name, run_case(case))


def check_case_graph(name, differs):
    rec = SPEC[name]
    if rec["build_error"]:
        return
    g, _, outs = build(fx_case(name))
    theirs = GraphDef()
    theirs.ParseFromString(fx.tf_graph_bytes(name))
    mine, want = fx.node_summary(g.as_graph_def()), fx.node_summary(theirs)
    same = mine == want
    if name in differs:
        assert not same, f"{name} now matches TF: remove it from GRAPH_DIFFERS"
        return
    missing, extra = sorted(set(want) - set(mine)), sorted(set(mine) - set(want))
    assert not missing and not extra, f"TF-only nodes {missing}, gmeta-only nodes {extra}"
    for node in sorted(want):
        assert mine[node][:2] == want[node][:2], f"{node}: (op, inputs) {mine[node][:2]}, " \
                                                 f"TF {want[node][:2]}"
        assert mine[node][2] == want[node][2], f"{node}: attrs differ: " \
            f"{_attr_diff(mine[node][2], want[node][2])}"
    shapes = [{"shape": None if t.shape.ndims is None else t.shape.as_list(),
               "dtype": t.dtype.name} for t in outs]
    assert shapes == rec["shapes"], "static shapes/dtypes"
    assert [t.name for t in outs] == rec["outputs"]
    colls = {k: [getattr(v, "name", repr(v)) for v in g.get_collection(k)]
             for k in fx.COLLECTIONS if g.get_collection(k)}
    assert colls == rec["collections"], "collections"


def _attr_diff(a, b):
    keys = sorted(set(a) | set(b))
    return {k: (a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)}


def fx_case(name):
    return {c.name: c for c in fx.CASES}[name]


@pytest.mark.parametrize("name", sorted(CASES))
def test_values(name):
    check_case_values(name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_graph_matches_tf(name):
    check_case_graph(name, GRAPH_DIFFERS)


def test_fixture_covers_every_case():
    assert set(CASES) <= set(SPEC), "regenerate the fixtures: make_loss_fixtures.py"


# -- unit tests -------------------------------------------------------------------------------
def test_reduction_keys():
    r = gm.losses.Reduction
    assert r.NONE == "none" and r.SUM == "weighted_sum" and r.MEAN == "weighted_mean"
    assert r.SUM_OVER_BATCH_SIZE == "weighted_sum_over_batch_size"
    assert r.SUM_OVER_NONZERO_WEIGHTS == r.SUM_BY_NONZERO_WEIGHTS == \
        "weighted_sum_by_nonzero_weights"
    assert set(r.all()) == {r.NONE, r.SUM, r.MEAN, r.SUM_OVER_BATCH_SIZE, r.SUM_BY_NONZERO_WEIGHTS}
    r.validate(r.SUM)
    with pytest.raises(ValueError, match="Invalid Reduction Key"):
        r.validate("mean")


def test_bad_arguments():
    with gm.Graph().as_default():
        x = gm.constant([[1.0, 2.0]])
        with pytest.raises(ValueError, match="Invalid Reduction Key"):
            gm.losses.mean_squared_error(x, x, reduction="sum")
        with pytest.raises(ValueError, match="`labels` must not be None"):
            gm.losses.absolute_difference(None, x)
        with pytest.raises(ValueError, match="`logits` must not be None"):
            gm.losses.sparse_softmax_cross_entropy(gm.constant([0]), None)
        with pytest.raises(ValueError, match="specify argument `axis`"):
            gm.losses.cosine_distance(x, x)
        with pytest.raises(ValueError, match="weights can not be broadcast"):
            gm.losses.hinge_loss(x, x, weights=gm.constant([1.0, 2.0, 3.0]))
        with pytest.raises(ValueError):
            gm.losses.get_total_loss()  # no losses at all: AddN of nothing


def test_collections_and_totals():
    g = gm.Graph()
    with g.as_default():
        a = gm.losses.mean_squared_error([[1.0, 2.0]], [[2.0, 4.0]])
        b = gm.losses.absolute_difference([[1.0]], [[3.0]], loss_collection="other")
        gm.losses.add_loss(gm.constant(1.5), loss_collection=None)
        assert gm.losses.get_losses() == [a]
        assert gm.losses.get_losses(loss_collection="other") == [b]
        zero = gm.losses.get_regularization_loss()
        assert zero.op.type == "Const"
        gm.add_to_collection(gm.GraphKeys.REGULARIZATION_LOSSES, gm.constant(0.5))
        reg = gm.losses.get_regularization_loss()
        assert reg.op.name == "total_regularization_loss"
        total = gm.losses.get_total_loss()
        assert total.op.type == "AddN" and total.op.name == "total_loss"
        with gm.Session() as sess:
            assert sess.run([a, b, zero, reg, total]) == pytest.approx([2.5, 2.0, 0.0, 0.5, 3.0])


def test_dynamic_weights_values():
    """Weights of unknown shape (no run-time broadcast check, see GRAPH_DIFFERS): TF's values,
    for every batch size."""
    g = gm.Graph()
    with g.as_default():
        labels = gm.placeholder(gm.float32, [None, 3])
        preds = gm.placeholder(gm.float32, [None, 3])
        w = gm.placeholder(gm.float32, [None, 1])
        loss = gm.losses.mean_squared_error(labels, preds, weights=w)
        with gm.Session() as sess:
            for n in (1, 5):
                rng = np.random.default_rng(n)
                lv, pv = rng.standard_normal((n, 3)), rng.standard_normal((n, 3))
                wv = np.arange(n, dtype=np.float32).reshape(n, 1)
                got = sess.run(loss, {labels: lv, preds: pv, w: wv})
                sq = (pv - lv) ** 2 * wv
                present = np.count_nonzero(np.broadcast_to(wv, sq.shape))
                want = sq.sum() / present if present else 0.0
                assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_unknown_rank_sparse_labels():
    with gm.Graph().as_default():
        labels = gm.placeholder(gm.int32)
        with pytest.raises(NotImplementedError, match="unknown rank"):
            gm.losses.sparse_softmax_cross_entropy(labels, gm.placeholder(gm.float32, [2, 3]))
