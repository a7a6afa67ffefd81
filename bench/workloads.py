"""Benchmark workloads, written once against the tf.compat.v1 API.

Each workload is ``setup(tf, workdir) -> step`` (a no-argument callable to time) plus its timing
policy. ``bench/__main__.py`` times them with gmeta in-process and, with ``--compare-tf``, the very
same functions with TensorFlow in its own venv (``bench/tf_side.py``), so both run the same graph.
"""

from __future__ import annotations

import math
import os
from typing import Callable, NamedTuple

import numpy as np

# TensorFlow's tf.compat.v1.nn.rnn_cell (lstm_train) needs tf-keras; TF reads this on first use.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


class Workload(NamedTuple):
    setup: Callable
    unit: str = "s"  # what the figure means: "s" per call, or "MB/s" throughput
    megabytes: float = 0.0
    heavy: bool = False  # seconds per call: few repeats
    inference: bool = False  # also timed in ONNX Runtime (tf_side.py), when it is installed


def _session(tf, fetches, feed):
    sess = tf.Session()
    sess.run(tf.global_variables_initializer())

    def step():
        return sess.run(fetches, feed)

    step.session, step.fetches, step.feed = sess, fetches, feed  # for the ONNX Runtime side
    return step


def tiny_add(tf, workdir):
    """Session.run(a + b) on two scalar constants: the per-call overhead."""
    return _session(tf, tf.constant(1.0) + tf.constant(2.0), None)


def _mlp(tf, sizes, batch):
    x = tf.placeholder(tf.float32, [batch, sizes[0]], name="images")
    h = x
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        with tf.name_scope(f"layer{i}"):
            w = tf.Variable(tf.truncated_normal([n_in, n_out], stddev=1.0 / math.sqrt(n_in)),
                            name="weights")
            b = tf.Variable(tf.zeros([n_out]), name="biases")
            h = tf.matmul(h, w) + b
            if i < len(sizes) - 2:
                h = tf.nn.relu(h)
    feed = np.random.default_rng(0).random((batch, sizes[0]), dtype=np.float32)
    return x, h, feed


def seed_mlp_forward(tf, workdir):
    """The seed's MLP (28-128-32-10) forward on a fed batch of 100."""
    x, logits, feed = _mlp(tf, [28, 128, 32, 10], 100)
    return _session(tf, logits, {x: feed})


# The seed model as real TensorFlow 2.21 wrote it (tests/fixtures/make_meta_fixtures.py):
# MetaGraph and V2 checkpoint.
SEED_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests",
                         "fixtures", "data", "meta", "seed_guide", "my-save-dir",
                         "my-model-10000")


def seed_mlp_forward_imported(tf, workdir):
    """The same forward from the file TF wrote: import_meta_graph of the seed's .meta,
    Saver.restore of its checkpoint, then the logits for a batch of 100 fed into the graph's
    images constant (the guide's graph has no placeholder)."""
    saver = tf.train.import_meta_graph(SEED_FILE + ".meta")
    sess = tf.Session()
    saver.restore(sess, SEED_FILE)
    graph = tf.get_default_graph()
    logits = tf.get_collection("logits")[0]
    images = graph.get_operation_by_name("hidden1/MatMul").inputs[0]  # the images constant
    feed = {images: np.random.default_rng(0).random((100, 28), dtype=np.float32)}

    def step():
        return sess.run(logits, feed)

    step.session, step.fetches, step.feed = sess, logits, feed
    return step


def _train_step(tf, sizes, batch):
    x, logits, feed = _mlp(tf, sizes, batch)
    labels = tf.placeholder(tf.int32, [batch], name="labels")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                         logits=logits))
    train = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
    y = np.random.default_rng(1).integers(0, sizes[-1], batch).astype(np.int32)
    return _session(tf, [train, loss], {x: feed, labels: y})


def seed_mlp_train(tf, workdir):
    """One SGD step of the seed MLP (28-128-32-10), batch 100: forward, gradients, update."""
    return _train_step(tf, [28, 128, 32, 10], 100)


def mnist_mlp_train(tf, workdir):
    """One SGD step of an MNIST-size MLP (784-1024-1024-10), batch 512."""
    return _train_step(tf, [784, 1024, 1024, 10], 512)


def lstm_train(tf, workdir):
    """One Adam step of a dynamic_rnn LSTMCell(128) classifier: batch 32, 20 time steps, 32
    inputs, logits from the last output, sparse softmax cross-entropy (v1 while loop, stacks)."""
    batch, steps, n_in, units, classes = 32, 20, 32, 128, 10
    x = tf.placeholder(tf.float32, [batch, steps, n_in], name="x")
    labels = tf.placeholder(tf.int32, [batch], name="labels")
    outputs, _ = tf.nn.dynamic_rnn(tf.nn.rnn_cell.LSTMCell(units), x, dtype=tf.float32)
    with tf.variable_scope("out"):
        w = tf.get_variable("w", [units, classes])
        b = tf.get_variable("b", [classes], initializer=tf.zeros_initializer())
    logits = tf.matmul(outputs[:, -1, :], w) + b
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                         logits=logits))
    train = tf.train.AdamOptimizer(1e-3).minimize(loss)
    rng = np.random.default_rng(2)
    feed = {x: rng.standard_normal((batch, steps, n_in)).astype(np.float32),
            labels: rng.integers(0, classes, batch).astype(np.int32)}
    return _session(tf, [train, loss], feed)


def _deep_graph(tf, layers=2250, width=8):
    """``layers`` x (Variable + MatMul + add + Relu): 8 nodes a layer, 18,001 in all."""
    h = tf.placeholder(tf.float32, [None, width], name="x")
    for i in range(layers):
        with tf.name_scope(f"l{i}"):
            w = tf.Variable(tf.zeros([width, width]), name="w")
            h = tf.nn.relu(tf.matmul(h, w) + 1.0)
    return h


def import_18k(tf, workdir):
    """import_meta_graph of an ~18,000-node MetaGraph (2250 Variable+MatMul+add+Relu layers)."""
    path = os.path.join(workdir, "deep.meta")
    g = tf.Graph()
    with g.as_default():
        _deep_graph(tf)
        tf.train.export_meta_graph(path)
        nodes = len(g.get_operations())
    assert nodes > 17000, nodes

    def step():
        with tf.Graph().as_default():
            tf.train.import_meta_graph(path)

    return step


def export_18k(tf, workdir):
    """export_meta_graph (to a proto, with shapes) of the same ~18,000-node graph."""
    g = tf.Graph()
    with g.as_default():
        _deep_graph(tf)
    path = os.path.join(workdir, "export.meta")

    def step():
        with g.as_default():
            tf.train.export_meta_graph(path)

    return step


_CKPT_VARS, _CKPT_MB = 16, 256


def _ckpt_graph(tf):
    n = _CKPT_MB * 2 ** 20 // 4 // _CKPT_VARS
    rng = np.random.default_rng(0)
    phs, vs = [], []
    for i in range(_CKPT_VARS):
        ph = tf.placeholder(tf.float32, [n], name=f"init{i}")
        vs.append(tf.Variable(ph, name=f"v{i}"))
        phs.append(ph)
    sess = tf.Session()
    sess.run(tf.global_variables_initializer(),
             {ph: rng.random(n, dtype=np.float32) for ph in phs})
    return sess, tf.train.Saver(vs, max_to_keep=None)


def save_256mb(tf, workdir):
    """Saver.save of 256 MB in 16 float32 variables (gmeta fsyncs data and index)."""
    sess, saver = _ckpt_graph(tf)
    prefix = os.path.join(workdir, "big")
    return lambda: saver.save(sess, prefix, write_meta_graph=False, write_state=False)


def restore_256mb(tf, workdir):
    """Saver.restore of the same 256 MB checkpoint."""
    sess, saver = _ckpt_graph(tf)
    prefix = saver.save(sess, os.path.join(workdir, "big"), write_meta_graph=False,
                        write_state=False)
    return lambda: saver.restore(sess, prefix)


WORKLOADS = {
    "tiny_add": Workload(tiny_add),
    "seed_mlp_forward": Workload(seed_mlp_forward, inference=True),
    "seed_mlp_forward_imported": Workload(seed_mlp_forward_imported, inference=True),
    "seed_mlp_train": Workload(seed_mlp_train),
    "mnist_mlp_train": Workload(mnist_mlp_train, heavy=True),
    "lstm_train": Workload(lstm_train),  # about 15 ms a step: timed in batches
    "import_18k": Workload(import_18k, heavy=True),
    "export_18k": Workload(export_18k, heavy=True),
    "save_256mb": Workload(save_256mb, unit="MB/s", megabytes=_CKPT_MB, heavy=True),
    "restore_256mb": Workload(restore_256mb, unit="MB/s", megabytes=_CKPT_MB, heavy=True),
}
