"""Reverse round trip of training: a graph gmeta builds and trains (Adam, global_step) is exported
and saved; TensorFlow imports it, restores it and continues training to gmeta's numbers."""

from __future__ import annotations

import os

import numpy as np
import pytest

import gmeta as tf

pytestmark = pytest.mark.tf

STEPS = 3


def _build():
    x = tf.placeholder(tf.float32, [None, 6], name="x")
    labels = tf.placeholder(tf.int32, [None], name="labels")
    with tf.variable_scope("mlp"):
        h = tf.nn.relu(tf.matmul(x, tf.get_variable("w1", [6, 8])) + tf.get_variable(
            "b1", [8], initializer=tf.zeros_initializer()))
        logits = tf.matmul(h, tf.get_variable("w2", [8, 3]))
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                         logits=logits))
    step = tf.train.get_or_create_global_step()
    train = tf.train.AdamOptimizer(0.05).minimize(loss, global_step=step, name="train")
    return x, labels, loss, step, train


def test_tf_continues_gmeta_adam_training(run_tf, tmp_path):
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((16, 6)).astype(np.float32),
             "labels": rng.integers(0, 3, 16).astype(np.int32)}
    np.savez(tmp_path / "feeds.npz", **feeds)
    g = tf.Graph()
    with g.as_default():
        tf.set_random_seed(1)
        x, labels, loss, step, train = _build()
        saver = tf.train.Saver()
        fd = {x: feeds["x"], labels: feeds["labels"]}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(2):
                sess.run(train, fd)
            prefix = saver.save(sess, str(tmp_path / "model"), global_step=step)
            mine = []
            for _ in range(STEPS):  # gmeta continues from the saved state
                sess.run(train, fd)
                mine.append(sess.run([loss, step, "mlp/w1:0", "mlp/w1/Adam_1:0"], fd))
    assert prefix.endswith("model-2")
    result = run_tf({"runs": [{
        "label": "continue", "meta": prefix + ".meta", "restore": {"prefix": prefix},
        "feeds_npz": str(tmp_path / "feeds.npz"), "feeds": {"x:0": "x", "labels:0": "labels"},
        "train": {"op": "train", "steps": STEPS, "out_npz": str(tmp_path / "tf.npz"),
                  "fetches": [loss.name, "global_step:0", "mlp/w1:0", "mlp/w1/Adam_1:0"]},
    }]})
    run = result["runs"][0]
    assert run["ok"], run
    theirs = np.load(tmp_path / "tf.npz")
    for s, values in enumerate(mine):
        for i, v in enumerate(values):
            np.testing.assert_allclose(theirs[f"s{s}_f{i}"], v, rtol=2e-4, atol=1e-6,
                                       err_msg=f"step {s} fetch {i}")
    assert int(theirs[f"s{STEPS - 1}_f1"]) == 2 + STEPS
    assert os.path.exists(prefix + ".index")
