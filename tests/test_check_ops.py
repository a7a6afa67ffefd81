"""Opt-in numeric checks: a NaN or Inf stops the run with an error naming the tensor."""

from __future__ import annotations

import numpy as np
import pytest

import gmeta as tf


def test_check_numerics_passes_finite_values_and_names_the_bad_tensor():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2], name="x")
        y = tf.log(x, name="logx")
        checked = tf.check_numerics(y, "loss went bad")
        with tf.Session() as sess:
            np.testing.assert_allclose(sess.run(checked, {x: [1.0, np.e]}), [0.0, 1.0],
                                       atol=1e-6)
            with pytest.raises(tf.errors.InvalidArgumentError,
                               match=r"loss went bad : Tensor had Inf values.*logx:0"):
                sess.run(checked, {x: [0.0, 1.0]})
            with pytest.raises(tf.errors.InvalidArgumentError, match="NaN"):
                sess.run(checked, {x: [-1.0, 1.0]})


def test_add_check_numerics_ops_guards_every_float_output():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        w = tf.Variable(2.0, name="w")
        loss = tf.reduce_mean(tf.sqrt(x) * w, name="loss")
        check = tf.add_check_numerics_ops()
        with tf.Session() as sess:
            sess.run(w.initializer)
            assert sess.run([loss, check], {x: [4.0, 16.0]})[0] == pytest.approx(6.0)
            with pytest.raises(tf.errors.InvalidArgumentError, match="Sqrt:0"):
                sess.run([loss, check], {x: [-4.0]})
