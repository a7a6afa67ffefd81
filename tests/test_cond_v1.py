"""v1 ``tf.cond``: dead-tensor execution and TF-exact graphs (fixtures: make_cond_fixtures.py)."""

import os
import sys

import numpy as np
import pytest

import gmeta as tf
from gmeta import errors
from gmeta.ops.cond_v1 import case, cond
from gmeta.proto import CondContextDef, MetaGraphDef

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fixtures"))
from make_cond_fixtures import build  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "fixtures", "data", "cond_v1_graphs.pb")


class _Mod:
    """The builder namespace the fixture script expects, over gmeta."""

    def __getattr__(self, name):
        return cond if name == "cond" else getattr(tf, name)


def _nodes(gd):
    return {n.name: (n.op, list(n.input), list(n.attr["_class"].list.s)) for n in gd.node}


def test_graph_and_contexts_match_tf():
    meta = MetaGraphDef()
    with open(DATA, "rb") as f:
        meta.ParseFromString(f.read())
    g = tf.Graph()
    with g.as_default():
        build(_Mod())
    assert _nodes(g.as_graph_def()) == _nodes(meta.graph_def)
    want = []
    for raw in meta.collection_def["cond_context"].bytes_list.value:
        d = CondContextDef()
        d.ParseFromString(raw)
        want.append(d)
    got = [item.proto for item in g.get_collection("cond_context")]
    assert got == want


@pytest.fixture()
def built():
    g = tf.Graph()
    with g.as_default():
        out = build(_Mod())
        sess = tf.Session(graph=g)
        yield g, out, sess


def _feed(g, p, q):
    return {g.get_tensor_by_name("p:0"): p, g.get_tensor_by_name("q:0"): q,
            g.get_tensor_by_name("x:0"): np.array([5., 7.], np.float32)}


@pytest.mark.parametrize("p,q", [(True, True), (True, False), (False, True), (False, False)])
def test_values(built, p, q):
    g, out, sess = built
    x, y = np.array([5., 7.], np.float32), np.array([1., 2.], np.float32)
    r = sess.run(out, _feed(g, p, q))
    np.testing.assert_allclose(r["simple"], x * 2 if p else x + y)
    np.testing.assert_allclose(r["nested"], (x * 2 if q else y) if p else x + y)
    np.testing.assert_allclose(r["passthrough"], x if p else y)
    np.testing.assert_allclose(r["multi"][0], x if q else y)
    np.testing.assert_allclose(r["multi"][1], y * 3 if q else x)
    assert r["simple"].dtype == np.float32


def test_fetching_dead_branch_tensor_raises(built):
    g, _, sess = built
    with pytest.raises(errors.InvalidArgumentError, match="does not have value"):
        sess.run(g.get_tensor_by_name("cond/mul:0"), _feed(g, False, False))


def test_untaken_branch_does_not_run():
    g = tf.Graph()
    with g.as_default():
        v = tf.Variable(3.0, name="v")
        init = tf.is_variable_initialized(v)
        r = cond(init, lambda: v.read_value() * 2.0, lambda: tf.constant(-1.0))
        with tf.Session() as sess:
            assert sess.run(r) == -1.0
            sess.run(v.initializer)
            assert sess.run(r) == 6.0


def test_case():
    g = tf.Graph()
    with g.as_default():
        i = tf.placeholder("int32", [], name="i")
        r = case([(tf.equal(i, 1), lambda: tf.constant(10)),
                  (tf.equal(i, 2), lambda: tf.constant(20))], default=lambda: tf.constant(0))
        with tf.Session() as sess:
            assert [sess.run(r, {i: k}) for k in (1, 2, 3)] == [10, 20, 0]
