"""The README's main job at this stage: the seed's inference graph built, run and printed.

The seed is TensorFlow's "Exporting and Importing a MetaGraph" guide: an MNIST-style MLP
(28 -> hidden1 128 -> hidden2 32 -> softmax_linear 10) built with the tf.compat.v1 API, here
spelled ``import gmeta as tf``.
"""

from __future__ import annotations

import collections
import math
import time

import numpy as np


def build_seed(tf):
    """Builds the seed graph into the default graph (``tf`` is gmeta or
    ``tensorflow.compat.v1``); returns its important tensors and ops by name. The TF fixture
    scripts (tests/fixtures/seed_model.py) load this very function."""
    images = tf.constant(1.2, tf.float32, shape=[100, 28])
    layers = {}
    x = images
    for scope, n_in, n_out in (("hidden1", 28, 128), ("hidden2", 128, 32),
                               ("softmax_linear", 32, 10)):
        with tf.name_scope(scope):
            weights = tf.Variable(
                tf.truncated_normal([n_in, n_out], stddev=1.0 / math.sqrt(float(n_in))),
                name="weights")
            biases = tf.Variable(tf.zeros([n_out]), name="biases")
            x = tf.matmul(x, weights) + biases
            if scope != "softmax_linear":
                x = tf.nn.relu(x)
                layers[scope] = x
            else:
                tf.add_to_collection("logits", x)
        layers[f"{scope}/weights"], layers[f"{scope}/biases"] = weights, biases
    init_all_op = tf.global_variables_initializer()
    variables = [layers[f"{s}/{v}"] for s in ("hidden1", "hidden2", "softmax_linear")
                 for v in ("weights", "biases")]
    return {"images": images, **layers, "logits": x, "init_all_op": init_all_op,
            "variables": variables}


def main(out=print) -> int:
    import gmeta as tf

    g = tf.Graph()
    with g.as_default():
        tf.set_random_seed(0)
        start = time.perf_counter()
        model = build_seed(tf)
        logits, init_all_op = model["logits"], model["init_all_op"]
        built = time.perf_counter() - start
        with tf.Session() as sess:
            sess.run(init_all_op)
            start = time.perf_counter()
            values = sess.run(logits)
            first = time.perf_counter() - start
            start = time.perf_counter()
            for _ in range(100):
                sess.run(logits)
            steady = (time.perf_counter() - start) / 100
    ops = g.get_operations()
    counts = collections.Counter(op.type for op in ops)
    out("gmeta demo: the seed's inference graph (TF's MetaGraph guide), built and run on numpy")
    out(f"graph: {len(ops)} nodes built in {built * 1e3:.1f} ms — " +
        ", ".join(f"{n} {t}" for t, n in counts.most_common()))
    out("variables: " + ", ".join(f"{v.op.name} {v.shape.as_list()}"
                                  for v in g.get_collection("variables")))
    out(f"logits {logits.name}: shape {values.shape}, dtype {values.dtype}; first run "
        f"{first * 1e3:.2f} ms (plan compiled), then {steady * 1e6:.0f} µs per run")
    with np.printoptions(precision=4, suppress=True, linewidth=120):
        out(f"logits[0] = {values[0]}")
    out(f"argmax over the batch: {np.bincount(values.argmax(axis=1), minlength=10).tolist()} "
        "(every row sees the same image)")
    return 0
