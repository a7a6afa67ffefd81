"""Dead-branch pruning: a v1 cond whose predicate is known when the plan is compiled runs only
its taken branch, in a lean plan (executor._static_conds); every value equals the dead-tensor
plan's (GMETA_NO_COND_PRUNING)."""

import numpy as np
import pytest

import gmeta as tf
from gmeta import errors, executor
from gmeta.ops.while_v1 import merge, switch


def _plan(sess):
    (plan, _, _, _), = sess._plans.values()
    return plan


def _kind(sess):
    return type(_plan(sess)).__name__


def _ops(sess):
    return [op.type for op in _plan(sess).ops]


def _both(monkeypatch, fn):
    pruned = fn()
    monkeypatch.setattr(executor, "PRUNE_CONDS", False)
    kept = fn()
    monkeypatch.setattr(executor, "PRUNE_CONDS", True)
    return pruned, kept


@pytest.mark.parametrize("pred", [True, False])
def test_constant_predicate_runs_one_branch_in_a_lean_plan(pred, monkeypatch):
    def run():
        g = tf.Graph()
        with g.as_default():
            x = tf.placeholder(tf.float32, [3], name="x")
            out = tf.cond(tf.constant(pred), lambda: tf.square(x) * 2.0, lambda: tf.exp(x) + 1.0)
        with tf.Session(graph=g) as sess:
            value = sess.run(out, {x: np.array([1.0, 2.0, 3.0], np.float32)})
            return value, _kind(sess), _ops(sess)

    (v1, kind1, ops1), (v2, kind2, ops2) = _both(monkeypatch, run)
    np.testing.assert_array_equal(v1, v2)
    want = np.array([1.0, 4.0, 9.0]) * 2 if pred else np.exp([1.0, 2.0, 3.0]) + 1
    np.testing.assert_allclose(v1, want, rtol=1e-6)
    assert kind1 == "Plan" and kind2 == "DeadAwarePlan"
    assert "Switch" not in ops1 and "Merge" not in ops1
    assert ("Exp" in ops1) != pred and ("Square" in ops1) == pred  # the other branch is gone
    assert "Exp" in ops2 and "Square" in ops2


def test_placeholder_with_default_pruned_unless_fed():
    g = tf.Graph()
    with g.as_default():
        training = tf.placeholder_with_default(False, [], name="training")
        x = tf.placeholder(tf.float32, [2, 4], name="x")
        y = tf.layers.batch_normalization(x, training=training, name="bn")
        update = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    data = np.arange(8, dtype=np.float32).reshape(2, 4)
    with tf.Session(graph=g) as sess:
        sess.run(tf.global_variables_initializer())
        sess._plans.clear()
        inference = sess.run(y, {x: data})
        assert _kind(sess) == "Plan"  # not fed: the default (False) is known, one branch runs
        sess._plans.clear()
        np.testing.assert_array_equal(sess.run(y, {x: data, training: False}), inference)
        assert _kind(sess) == "DeadAwarePlan"  # fed: known only when the plan runs
        sess._plans.clear()
        train_out, _ = sess.run([y, update], {x: data, training: True})
    # inference: moving mean 0 / variance 1 (epsilon 1e-3); training: batch statistics
    np.testing.assert_allclose(inference, data / np.sqrt(1 + 1e-3), rtol=1e-5)
    mean, var = data.mean(0), data.var(0)
    np.testing.assert_allclose(train_out, (data - mean) / np.sqrt(var + 1e-3), rtol=1e-4)


def test_dead_fetch_still_raises_and_value_index_keeps_the_dead_plan():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [], name="x")
        sw_false, sw_true = switch(x, tf.constant(True))
        merged, index = merge([sw_false * 2.0, sw_true + 1.0])
    with tf.Session(graph=g) as sess:
        with pytest.raises(errors.InvalidArgumentError, match="does not have value"):
            sess.run(sw_false, {x: 1.0})
        sess._plans.clear()
        assert sess.run(merged, {x: 1.0}) == 2.0
        assert _kind(sess) == "Plan"
        sess._plans.clear()
        assert sess.run([merged, index], {x: 1.0}) == [2.0, 1]
        assert _kind(sess) == "DeadAwarePlan"


def test_nested_conds_with_known_predicates(monkeypatch):
    def run():
        g = tf.Graph()
        with g.as_default():
            x = tf.placeholder(tf.float32, [], name="x")
            outer = tf.placeholder_with_default(True, [], name="outer")
            inner = tf.logical_not(tf.constant(True))
            out = tf.cond(outer,
                          lambda: tf.cond(inner, lambda: x * 10.0, lambda: x - 1.0),
                          lambda: x * 100.0)
        with tf.Session(graph=g) as sess:
            return sess.run(out, {x: 5.0}), _kind(sess)

    (v1, k1), (v2, k2) = _both(monkeypatch, run)
    assert v1 == v2 == 4.0
    assert k1 == "Plan" and k2 == "DeadAwarePlan"
