"""get_variable / variable_scope / initializers, checked against TensorFlow 2.21.

The graphs of tests/fixtures/make_vs_fixtures.py are built with gmeta and compared with the
GraphDefs TF built for the same code (tests/fixtures/data/vs_<case>.pbtxt): node names, ops,
inputs and attrs (except the seeds). The facts each case returns (variable names, scope names,
collections), the values of the deterministic initializers and the errors TF raises are compared
with tests/fixtures/data/vs_meta.json.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
from google.protobuf import text_format

import gmeta as gm
from gmeta.ops import init_ops
from gmeta.ops import variable_scope as vs_lib
from gmeta.proto import GraphDef

HERE = os.path.dirname(__file__)
DATA = os.path.join(HERE, "fixtures", "data")
sys.path.insert(0, os.path.join(HERE, "fixtures"))

import make_vs_fixtures as vs_cases  # noqa: E402


tf = gm
META = json.load(open(os.path.join(DATA, "vs_meta.json")))
_IGNORED_ATTRS = {"seed", "seed2"}


def _tf_graph(case):
    gd = GraphDef()
    with open(os.path.join(DATA, f"vs_{case}.pbtxt")) as f:
        text_format.Parse(f.read(), gd)
    return gd


def _build(case):
    g = gm.Graph()
    with g.as_default():
        facts = vs_cases.CASES[case](tf)
    return g, json.loads(json.dumps(facts))


def _node_key(n, attrs):
    kept = tuple(sorted((k, v.SerializeToString(deterministic=True)) for k, v in n.attr.items()
                        if attrs(k)))
    return n.name, n.op, tuple(n.input), kept


def _compare(case, attrs):
    g, _ = _build(case)
    mine = sorted(_node_key(n, attrs) for n in g.as_graph_def().node)
    theirs = sorted(_node_key(n, attrs) for n in _tf_graph(case).node)
    assert [k[:3] for k in mine] == [k[:3] for k in theirs]
    assert mine == theirs


@pytest.mark.parametrize("case", sorted(vs_cases.CASES))
def test_graph_matches_tf(case):
    _compare(case, lambda k: k not in _IGNORED_ATTRS)


@pytest.mark.parametrize("case", sorted(vs_cases.CASES))
def test_colocation_attrs_match_tf(case):
    _compare(case, lambda k: k == "_class")


@pytest.mark.parametrize("case", sorted(vs_cases.CASES))
def test_facts_match_tf(case):
    _, facts = _build(case)
    assert facts == META["cases"][case]


@pytest.mark.parametrize("case", vs_cases.VALUE_CASES)
def test_initial_values_match_tf(case):
    g, _ = _build(case)
    want = META["values"][case]
    with g.as_default():
        found = {v.op.name: v for v in gm.global_variables() + gm.local_variables()}
    with gm.Session(graph=g) as sess:
        sess.run([found[name].initializer for name in want])
        for name, spec in want.items():
            got = np.asarray(sess.run(found[name]))
            assert got.dtype.name == spec["dtype"], name
            np.testing.assert_array_equal(got, np.asarray(spec["value"], got.dtype), err_msg=name)


@pytest.mark.parametrize("case", sorted(vs_cases.ERROR_CASES))
def test_errors_match_tf(case):
    cls_name, first_line = META["errors"][case]
    with gm.Graph().as_default():
        with pytest.raises(Exception) as info:
            vs_cases.ERROR_CASES[case](tf)
    assert type(info.value).__name__ == cls_name
    assert str(info.value).split("\n")[0] == first_line


def test_random_initializers_stay_in_range():
    g, _ = _build("initializers")
    limits = {  # name -> (low, high) the samples must lie in
        "trunc": (-0.2, 0.2), "uniform": (-1.0, 1.0), "uniform_default": (0.0, 1.0),
        "glorot_u": (-np.sqrt(6 / 9), np.sqrt(6 / 9)),
        "glorot_n": (-2 * np.sqrt(1 / 4.5) / 0.8796, 2 * np.sqrt(1 / 4.5) / 0.8796),
        "vs_out_uniform": (-np.sqrt(6 / 5), np.sqrt(6 / 5)),
        "vs_in_trunc": (-2 * np.sqrt(1 / 18) / 0.8796, 2 * np.sqrt(1 / 18) / 0.8796),
        "f64": (-np.sqrt(3), np.sqrt(3)), "unit_scaling": (-np.sqrt(1.5), np.sqrt(1.5)),
    }
    with g.as_default():
        found = {v.op.name.split("/")[-1]: v for v in gm.global_variables()}
    with gm.Session(graph=g) as sess:
        sess.run([found[n].initializer for n in limits])
        for name, (lo, hi) in limits.items():
            got = sess.run(found[name])
            assert got.shape == tuple(found[name].shape.as_list())
            assert lo <= got.min() and got.max() <= hi, name
    assert found["f64"].dtype.base_dtype == gm.float64


# -- behaviour beyond the fixtures ---------------------------------------------------------------
def test_auto_reuse_and_reuse_variables():
    with gm.Graph().as_default():
        for _ in range(3):
            with tf.variable_scope("s", reuse=tf.AUTO_REUSE):
                w = tf.get_variable("w", [1])
        assert [v.name for v in gm.global_variables()] == ["s/w:0"]
        with tf.variable_scope("s") as scope:
            assert scope.reuse is False
            scope.reuse_variables()
            with tf.variable_scope("inner") as inner:
                assert inner.reuse is True
            assert tf.get_variable("w") is w
        assert tf.get_variable_scope().name == "" and tf.get_variable_scope().reuse is False


def test_reentering_the_same_scope_object_and_values_graph():
    g = gm.Graph()
    with g.as_default():
        x = gm.constant(1.0)
    scope = tf.variable_scope("block", values=[x])
    with scope as s1:  # enters x's graph
        assert gm.get_default_graph() is g
        tf.get_variable("v", [1])
        assert gm.identity(x, name="i").name == "block/i:0"
    with scope as s2:
        assert s2.name == s1.name == "block"
        assert gm.identity(x, name="i").name == "block_1/i:0"
    assert gm.get_default_graph() is not g


def test_partitioned_variables_are_not_supported_yet():
    with gm.Graph().as_default():
        with pytest.raises(NotImplementedError, match="partition"):
            tf.get_variable("p", [4], partitioner=lambda shape, dtype: [2])
        assert gm.get_default_graph().get_operations() == []


def test_custom_getters_nest():
    calls = []

    def outer(getter, name, *args, **kwargs):
        calls.append(("outer", name))
        return getter(name, *args, **kwargs)

    def inner(getter, name, *args, **kwargs):
        calls.append(("inner", name))
        kwargs["trainable"] = False
        return getter(name, *args, **kwargs)

    with gm.Graph().as_default():
        with tf.variable_scope("a", custom_getter=outer):
            with tf.variable_scope("b", custom_getter=inner):
                v = tf.get_variable("v", [2])
        assert calls == [("inner", "a/b/v"), ("outer", "a/b/v")]
        assert v.name == "a/b/v:0" and gm.trainable_variables() == []


def test_local_variables_and_scope_collections():
    with gm.Graph().as_default():
        with tf.variable_scope("m") as scope:
            loc = tf.get_local_variable("count", [], dtype=gm.int64)
            w = tf.get_variable("w", [2])
        with tf.variable_scope("other"):
            tf.get_variable("w", [2])
        assert gm.local_variables() == [loc] and loc not in gm.global_variables()
        assert loc.dtype.base_dtype == gm.int64
        assert scope.trainable_variables() == [w] and scope.global_variables() == [w]
        assert scope.local_variables() == [loc]


def test_regularization_loss_rebuilds_on_conversion():
    with gm.Graph().as_default():
        with tf.variable_scope("r", regularizer=gm.nn.l2_loss):
            tf.get_variable("w", [2], initializer=tf.ones_initializer())
            tf.get_variable("b", [2], regularizer=vs_lib.no_regularizer)
        (loss,) = gm.get_collection(gm.GraphKeys.REGULARIZATION_LOSSES)
        assert loss.name == "r/w/Regularizer/L2Loss:0" and loss.dtype == gm.float32
        again = gm.convert_to_tensor(loss)
        assert again.name == "r/w/Regularizer/L2Loss_1:0"
        assert again.op.colocation_groups() == [b"loc:@r/w"]
        with gm.Session() as sess:
            sess.run(gm.global_variables_initializer())
            assert sess.run(again) == pytest.approx(1.0)


def test_default_initializers_by_dtype():
    with gm.Graph().as_default():
        s = tf.get_variable("s", [2], dtype=gm.string)
        b = tf.get_variable("b", [2], dtype=gm.bool)
        f = tf.get_variable("f", [2, 2], dtype=gm.float16)
        with pytest.raises(ValueError, match="An initializer for variable c of"):
            tf.get_variable("c", [1], dtype=gm.complex64)
        assert s.initial_value.op.type == "Const" and b.initial_value.op.type == "Const"
        assert f.initial_value.op.name == "f/Initializer/random_uniform"
        with gm.Session() as sess:
            sess.run([s.initializer, b.initializer])
            assert list(sess.run(s)) == [b"", b""] and not sess.run(b).any()


def test_initializer_objects():
    assert init_ops.glorot_uniform_initializer().get_config() == {"seed": None,
                                                                  "dtype": "float32"}
    cfg = init_ops.variance_scaling_initializer(scale=2.0, mode="fan_out").get_config()
    assert init_ops.VarianceScaling.from_config(cfg).mode == "fan_out"
    assert not isinstance(init_ops.TruncatedNormal(), init_ops.RandomNormal)
    with pytest.raises(ValueError, match="scale"):
        init_ops.variance_scaling_initializer(scale=0.0)
    with pytest.raises(ValueError, match="mode"):
        init_ops.variance_scaling_initializer(mode="fan")
    with pytest.raises(ValueError, match="floating point"):
        init_ops.truncated_normal_initializer(dtype=gm.int32)
    with pytest.raises(TypeError, match="Invalid type"):
        init_ops.constant_initializer({"a": 1})
    with gm.Graph().as_default():
        t = init_ops.ones_initializer(dtype=gm.int32)([40, 30])
        assert (t.op.type, t.op.name) == ("Fill", "ones")
        with pytest.raises(ValueError, match="two-dimensional"):
            init_ops.orthogonal_initializer()([3])
    assert set(init_ops.__all__) <= set(dir(init_ops))
