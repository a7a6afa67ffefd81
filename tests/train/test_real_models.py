"""The issue's "real models" against TensorFlow (tests/fixtures/data/real/*, made by
tests/fixtures/make_real_fixtures.py from tests/fixtures/real_models.py):

- ``cond_embedding_adagrad``: a TF-saved model with an embedding lookup (sparse gradients,
  ``SparseApplyAdagrad``), a v1 ``tf.cond`` train/eval switch and ``/job:ps`` / GPU device
  strings, imported unedited, restored and trained 3 steps to TF's numbers; rows of the
  embedding no id touches stay as they were;
- ``lstm_extend``: the TF-trained dynamic_rnn LSTM (data/while/lstm_adam) imported, restored and
  extended with a new head, loss and Momentum optimizer, trained to TF's numbers.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import gmeta as tf

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")
DATA = os.path.join(FIXTURES, "data", "real")
sys.path.insert(0, FIXTURES)

import real_models as R  # noqa: E402

RTOL, ATOL = 2e-4, 1e-6


def _load(name):
    d = os.path.join(DATA, name)
    with open(os.path.join(d, "spec.json")) as f:
        return d, json.load(f), np.load(os.path.join(d, "expected.npz"))


# -- cond + embedding + Adagrad -------------------------------------------------------------------
CE_DIR, CE_SPEC, CE = _load("cond_embedding_adagrad")


def _import_cond_embedding(clear_devices):
    g = tf.Graph()
    with g.as_default():
        saver = tf.train.import_meta_graph(os.path.join(CE_DIR, CE_SPEC["meta"]),
                                           clear_devices=clear_devices)
    return g, saver


def test_cond_embedding_fixture_keeps_its_devices():
    assert {"/job:ps/task:0", "/device:GPU:0"} <= set(CE_SPEC["devices"])
    g, _ = _import_cond_embedding(clear_devices=False)
    assert {op.device for op in g.get_operations()} >= {"/job:ps/task:0", "/device:GPU:0"}


def test_cond_embedding_graph_has_sparse_adagrad_and_a_v1_cond():
    g, _ = _import_cond_embedding(clear_devices=True)
    types = [op.type for op in g.get_operations()]
    assert types.count("SparseApplyAdagrad") == 1
    assert "ApplyAdagrad" in types  # the dense variables
    assert "Switch" in types and "Merge" in types
    update = next(op for op in g.get_operations() if op.type == "SparseApplyAdagrad")
    assert update.inputs[0].op.name == CE_SPEC["embedding"]
    assert len(g.get_collection("cond_context")) >= 1


@pytest.mark.parametrize("clear_devices", [True, False])
def test_cond_embedding_trains_like_tf(clear_devices):
    g, saver = _import_cond_embedding(clear_devices)
    fd = {g.get_tensor_by_name(k): CE["feed/" + k] for k in CE_SPEC["feeds"]}
    training = g.get_tensor_by_name(CE_SPEC["training"])
    loss, logits = (g.get_tensor_by_name(CE_SPEC[k]) for k in ("loss", "logits"))
    train = g.get_operation_by_name(CE_SPEC["train_op"])
    with tf.Session(graph=g) as sess:
        saver.restore(sess, os.path.join(CE_DIR, CE_SPEC["checkpoint_prefix"]))
        for name in CE_SPEC["variables"]:
            np.testing.assert_array_equal(sess.run(name + ":0"), CE["init/" + name])
        for k in range(CE_SPEC["steps"]):
            got = sess.run(logits, {**fd, training: False})
            np.testing.assert_allclose(got, CE[f"step{k}/eval_logits"], rtol=RTOL, atol=ATOL,
                                       err_msg=f"eval logits before update {k + 1}")
            lv, lg, _ = sess.run([loss, logits, train], {**fd, training: True})
            np.testing.assert_allclose(lv, CE[f"step{k}/loss"], rtol=RTOL,
                                       err_msg=f"loss before update {k + 1}")
            np.testing.assert_allclose(lg, CE[f"step{k}/logits"], rtol=RTOL, atol=ATOL,
                                       err_msg=f"train logits before update {k + 1}")
        final = {name: sess.run(name + ":0") for name in CE_SPEC["variables"]}
    for name, value in final.items():
        np.testing.assert_allclose(value, CE["final/" + name], rtol=RTOL, atol=ATOL,
                                   err_msg=name)
    emb, rows = CE_SPEC["embedding"], CE_SPEC["untouched_rows"]
    assert rows and set(rows) >= set(range(R.USED_IDS, R.VOCAB))
    for name in (emb, emb + "/Adagrad"):  # the variable and its accumulator slot
        np.testing.assert_array_equal(final[name][rows], CE["init/" + name][rows], err_msg=name)
    touched = sorted(set(range(R.VOCAB)) - set(rows))
    assert not np.allclose(final[emb][touched], CE["init/" + emb][touched])


# -- extending the imported LSTM ------------------------------------------------------------------
LX_DIR, LX_SPEC, LX = _load("lstm_extend")


@pytest.mark.parametrize("clear_devices", [True, False])
def test_extended_lstm_trains_like_tf(clear_devices):
    init = {k[5:]: LX[k] for k in LX.files if k.startswith("init/")}
    for k, v in R.lstm_extend_init().items():
        np.testing.assert_array_equal(init[k], v)  # the recorded init is what the builder makes
    g = tf.Graph()
    with g.as_default():
        m = R.extend_lstm(tf, init, clear_devices=clear_devices)
        assert (m["loss"].name, m["logits"].name, m["train_op"].name) == \
            (LX_SPEC["loss"], LX_SPEC["logits"], LX_SPEC["train_op"])
        assert [v.op.name for v in m["trained"]] == LX_SPEC["trained"]
        assert sorted(v.op.name for v in tf.global_variables()
                      if v.op.name.startswith("new_head/")) == LX_SPEC["new_variables"]
        fd = {m["x"]: LX["feed/x:0"], m["new_labels"]: LX["feed/new_labels:0"]}
        with tf.Session() as sess:
            m["saver"].restore(sess, os.path.join(R.LSTM_DIR, "model"))
            sess.run(m["init_new"])
            for k in range(LX_SPEC["steps"] + 1):
                lv, lg = sess.run([m["loss"], m["logits"]], fd)
                np.testing.assert_allclose(lv, LX[f"step{k}/loss"], rtol=RTOL,
                                           err_msg=f"loss after {k} updates")
                np.testing.assert_allclose(lg, LX[f"step{k}/logits"], rtol=RTOL, atol=ATOL,
                                           err_msg=f"new head's logits after {k} updates")
                if k < LX_SPEC["steps"]:
                    sess.run(m["train_op"], fd)
            for v in m["trained"]:
                np.testing.assert_allclose(sess.run(v), LX["final/" + v.op.name], rtol=RTOL,
                                           atol=ATOL, err_msg=v.op.name)
