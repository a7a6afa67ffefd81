"""Random ops: seeds combined as TF combines them, repeatable streams, distributions' bounds.

Streams are not bit-identical to TF's (README: Differences), so values are checked by property.
"""

from __future__ import annotations

import numpy as np
import pytest

import gmeta as tf


def _run(build, graph_seed=None, runs=1):
    g = tf.Graph()
    with g.as_default():
        if graph_seed is not None:
            tf.set_random_seed(graph_seed)
        t = build()
        with tf.Session() as sess:
            return [sess.run(t) for _ in range(runs)]


def test_graph_seed_makes_ops_repeatable_across_sessions_and_advancing_within_one():
    first = _run(lambda: tf.random_normal([1000]), graph_seed=7, runs=2)
    again = _run(lambda: tf.random_normal([1000]), graph_seed=7, runs=2)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])  # the stream advances between runs


def test_no_seed_is_not_repeatable():
    a = _run(lambda: tf.random_uniform([1000]))[0]
    b = _run(lambda: tf.random_uniform([1000]))[0]
    assert not np.array_equal(a, b)


def test_op_seed_without_graph_seed_uses_tf_default_graph_seed():
    g = tf.Graph()
    with g.as_default():
        t = tf.random_uniform([3], seed=5)
    assert (t.op.get_attr("seed"), t.op.get_attr("seed2")) == (87654321, 5)


def test_graph_seed_with_no_op_seed_counts_the_seedless_ops():
    g = tf.Graph()
    with g.as_default():
        tf.set_random_seed(3)
        tf.constant(1.0)
        t = tf.random_normal([2])
        u = tf.random_uniform([2])
    seeds = [(o.name, o.get_attr("seed"), o.get_attr("seed2")) for o in g.get_operations()
             if o.type.startswith("Random")]
    # TF 2.21 (recorded): a per-graph counter of the random ops that took a seed, from 0
    assert seeds == [("random_normal/RandomStandardNormal", 3, 0),
                     ("random_uniform/RandomUniform", 3, 1)]
    assert t.op.inputs[0].op.inputs[0].op.type == "RandomStandardNormal"
    assert u.dtype == tf.float32


def test_zero_seeds_are_remapped_as_tf_does():
    g = tf.Graph()
    with g.as_default():
        tf.set_random_seed(0)
        t = tf.random_uniform([2], seed=0)
    assert (t.op.get_attr("seed"), t.op.get_attr("seed2")) == (0, 2 ** 31 - 1)


def test_distributions():
    normal, trunc, uni, uni_range, ints = _run(lambda: [
        tf.random_normal([20000], mean=2.0, stddev=3.0),
        tf.truncated_normal([20000], mean=-1.0, stddev=0.5),
        tf.random_uniform([20000]),
        tf.random_uniform([20000], minval=-2.0, maxval=6.0, dtype=tf.float64),
        tf.random_uniform([20000], minval=-3, maxval=4, dtype=tf.int64),
    ], graph_seed=1)[0]
    assert abs(normal.mean() - 2.0) < 0.1 and abs(normal.std() - 3.0) < 0.1
    assert normal.dtype == np.float32
    assert trunc.min() >= -2.0 and trunc.max() <= 0.0  # mean ± 2 stddev
    assert abs(trunc.std() - 0.5 * 0.8796) < 0.02  # truncation at 2σ shrinks σ by 0.8796
    assert 0.0 <= uni.min() and uni.max() < 1.0 and uni.dtype == np.float32
    assert -2.0 <= uni_range.min() and uni_range.max() < 6.0 and uni_range.dtype == np.float64
    assert set(np.unique(ints)) == set(range(-3, 4)) and ints.dtype == np.int64


def test_integer_uniform_needs_maxval():
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match="maxval"):
            tf.random_uniform([2], dtype=tf.int32)


def test_shapes_from_tensors_and_bad_shapes():
    g = tf.Graph()
    with g.as_default():
        n = tf.placeholder(tf.int32, [], name="n")
        t = tf.random_uniform(tf.stack([n, 3]))
        with tf.Session() as sess:
            assert sess.run(t, {n: 4}).shape == (4, 3)
            with pytest.raises(tf.errors.InvalidArgumentError, match="negative"):
                sess.run(t, {n: -1})
