"""Benchmark workloads, written once against the tf.compat.v1 API.

Each workload is ``build(tf) -> (fetches, feed_dict)``; ``bench/__main__.py`` times
``sess.run(fetches, feed_dict)`` with gmeta in-process and, with ``--compare-tf``, the very same
functions with TensorFlow in its own venv (``bench/tf_side.py``), so both sides run the same graph.
"""

from __future__ import annotations

import math

import numpy as np


def tiny_add(tf):
    """Session.run(a + b) on two scalar constants: the per-call overhead."""
    a = tf.constant(1.0)
    b = tf.constant(2.0)
    return a + b, None


def seed_mlp_forward(tf):
    """The seed's MLP (28-128-32-10) forward on a fed batch of 100."""
    images = tf.placeholder(tf.float32, [100, 28], name="images")
    x = images
    sizes = [28, 128, 32, 10]
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        with tf.name_scope(f"layer{i}"):
            w = tf.Variable(tf.truncated_normal([n_in, n_out], stddev=1.0 / math.sqrt(n_in)),
                            name="weights")
            b = tf.Variable(tf.zeros([n_out]), name="biases")
            x = tf.matmul(x, w) + b
            if i < len(sizes) - 2:
                x = tf.nn.relu(x)
    feed = np.random.default_rng(0).random((100, 28), dtype=np.float32)
    return x, {images: feed}


WORKLOADS = {"tiny_add": tiny_add, "seed_mlp_forward": seed_mlp_forward}
