"""The seed model (TF's "Exporting and Importing a MetaGraph" guide) built with gmeta: the same
NodeDefs TF builds, the same logits from the same weights, the same static shapes."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import gmeta as tf
from gmeta.proto import GraphDef, parse_text

HERE = os.path.dirname(__file__)
DATA = os.path.join(HERE, "fixtures", "data")
sys.path.insert(0, os.path.join(HERE, "fixtures"))

from seed_model import build_seed  # noqa: E402

_VARS = ["hidden1/weights", "hidden1/biases", "hidden2/weights", "hidden2/biases",
         "softmax_linear/weights", "softmax_linear/biases"]


@pytest.fixture
def seed():
    g = tf.Graph()
    with g.as_default():
        tf.set_random_seed(0)
        model = build_seed(tf)
    return g, model


def _without_seeds(gd):
    for n in gd.node:
        if n.op == "TruncatedNormal":
            del n.attr["seed"]
            del n.attr["seed2"]
    return gd


def test_node_defs_equal_tensorflow(seed):
    g, _ = seed
    want = GraphDef()
    parse_text(open(os.path.join(DATA, "seed_graph.pbtxt")).read(), want)
    got = g.as_graph_def()
    assert [n.name for n in got.node] == [n.name for n in want.node]
    for mine, theirs in zip(_without_seeds(got).node, _without_seeds(want).node):
        assert mine == theirs, f"node {mine.name} differs from TF's:\n{mine}\nvs\n{theirs}"
    assert got.versions.producer == want.versions.producer


def test_random_seed_attrs_are_set(seed):
    g, _ = seed
    op = g.get_operation_by_name("hidden1/truncated_normal/TruncatedNormal")
    assert (op.get_attr("seed"), op.get_attr("seed2")) != (0, 0)


def test_static_shapes_equal_tensorflow(seed):
    g, _ = seed
    shapes = json.load(open(os.path.join(DATA, "seed_shapes.json")))
    assert set(shapes) == {op.name for op in g.get_operations()}
    for op in g.get_operations():
        assert shapes[op.name]["op"] == op.type
        want = shapes[op.name]["outputs"]
        assert len(want) == len(op.outputs)
        for t, w in zip(op.outputs, want):
            assert t.dtype.name == w["dtype"], t.name
            got = None if t.shape.ndims is None else t.shape.as_list()
            assert got == w["shape"], f"{t.name}: {got} vs TF {w['shape']}"


def test_logits_equal_tensorflow_for_the_same_weights(seed):
    g, model = seed
    values = np.load(os.path.join(DATA, "seed_values.npz"))
    with tf.Session(graph=g) as sess:
        sess.run(model["init_all_op"])
        for name in _VARS:
            var = model[name]
            sess.run(var.initializer, {var.initializer.inputs[1]: values[name]})
        logits, h1, h2 = sess.run([model["logits"], "hidden1/Relu:0", "hidden2/Relu:0"])
    np.testing.assert_allclose(h1, values["hidden1/Relu:0"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h2, values["hidden2/Relu:0"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logits, values["softmax_linear/add:0"], rtol=1e-5, atol=1e-5)


def test_initialisation_is_repeatable_and_in_range(seed):
    g, model = seed
    with tf.Session(graph=g) as sess:
        sess.run(model["init_all_op"])
        w1 = sess.run(model["hidden1/weights"])
        b1 = sess.run(model["hidden1/biases"])
    with tf.Session(graph=g) as sess:
        sess.run(model["init_all_op"])
        again = sess.run(model["hidden1/weights"])
    np.testing.assert_array_equal(w1, again)  # graph seed set: same values in a new Session
    stddev = 1.0 / np.sqrt(28.0)
    assert w1.shape == (28, 128) and w1.dtype == np.float32
    assert np.abs(w1).max() <= 2 * stddev + 1e-6  # truncated at two standard deviations
    assert 0.8 * stddev < w1.std() < 1.0 * stddev  # truncation shrinks the std to ~0.88
    np.testing.assert_array_equal(b1, np.zeros(128, np.float32))


def test_seed_inference_snippet_runs_as_written():
    """The guide's code, verbatim apart from ``import gmeta as tf``."""
    import math

    g = tf.Graph()
    with g.as_default():
        images = tf.constant(1.2, tf.float32, shape=[100, 28])
        with tf.name_scope("hidden1"):
            weights = tf.Variable(tf.truncated_normal([28, 128],
                                                      stddev=1.0 / math.sqrt(float(28))),
                                  name="weights")
            biases = tf.Variable(tf.zeros([128]), name="biases")
            hidden1 = tf.nn.relu(tf.matmul(images, weights) + biases)
        with tf.name_scope("hidden2"):
            weights = tf.Variable(tf.truncated_normal([128, 32],
                                                      stddev=1.0 / math.sqrt(float(128))),
                                  name="weights")
            biases = tf.Variable(tf.zeros([32]), name="biases")
            hidden2 = tf.nn.relu(tf.matmul(hidden1, weights) + biases)
        with tf.name_scope("softmax_linear"):
            weights = tf.Variable(tf.truncated_normal([32, 10],
                                                      stddev=1.0 / math.sqrt(float(32))),
                                  name="weights")
            biases = tf.Variable(tf.zeros([10]), name="biases")
            logits = tf.matmul(hidden2, weights) + biases
            tf.add_to_collection("logits", logits)
        init_all_op = tf.global_variables_initializer()
        with tf.Session() as sess:
            sess.run(init_all_op)
            out = sess.run(logits)
    assert out.shape == (100, 10) and out.dtype == np.float32
    assert np.isfinite(out).all()
    # every row sees the same image, so every row of logits is the same
    np.testing.assert_allclose(out, np.broadcast_to(out[0], out.shape), rtol=1e-6)
    assert g.get_collection("logits") == [logits]
    assert logits.name == "softmax_linear/add:0"
