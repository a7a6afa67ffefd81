"""The lean plan paths (gmeta/executor.py) and the import GC handling (gmeta/framework/_gc.py):
constants filled in at compile time, identities sharing their input's slot, no-op steps dropped,
and objects made during an import promoted to the oldest GC generation yet still collectable."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import gmeta as tf
from gmeta.framework._gc import paused_gc


def test_a_fetched_constant_can_be_mutated_without_changing_the_next_run():
    with tf.Graph().as_default():
        c = tf.constant([1.0, 2.0, 3.0], name="c")
        i = tf.identity(c, name="i")
        with tf.Session() as sess:
            a, b = sess.run([c, i])
            a[0] = 100.0
            b[1] = 200.0
            np.testing.assert_array_equal(sess.run(c), [1.0, 2.0, 3.0])
            np.testing.assert_array_equal(sess.run(i), [1.0, 2.0, 3.0])


def test_identity_under_control_dependencies_reads_after_the_assign():
    with tf.Graph().as_default():
        v = tf.Variable(1.0, name="v")
        assign = tf.assign(v, 5.0)
        with tf.control_dependencies([assign]):
            after = v.read_value()  # a read of the ref made after the assign (as in TF)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            assert float(sess.run(after)) == 5.0


def test_identity_of_a_variable_is_a_snapshot_not_its_storage():
    with tf.Graph().as_default():
        v = tf.Variable([1.0, 2.0], name="v")
        snap = tf.identity(v)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            got = sess.run(snap)
            got[0] = 9.0
            np.testing.assert_array_equal(sess.run(v), [1.0, 2.0])


def test_lean_plan_has_no_steps_for_constants_identities_and_no_ops():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [2], name="x")
        y = tf.identity(x * tf.constant(2.0), name="y")
        with tf.control_dependencies([y]):
            done = tf.no_op(name="done")
        with tf.Session() as sess:
            out, _ = sess.run([y, done], {x: [1.0, 2.0]})
            np.testing.assert_array_equal(out, [2.0, 4.0])
            plan = next(iter(sess._plans.values()))[0]
    assert [op.type for _, _, _, op in plan.steps] == ["Mul"]


def test_objects_made_under_paused_gc_are_still_collected():
    class Node:
        pass

    with paused_gc():
        a, b = Node(), Node()
        a.other, b.other = b, a  # a reference cycle: only the cyclic collector frees it
        ref = weakref.ref(a)
    assert gc.isenabled()
    del a, b
    gc.collect()
    assert ref() is None


def test_paused_gc_leaves_the_programs_frozen_objects_frozen():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with paused_gc():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_subgraphs_of_constants_are_folded_when_the_plan_is_built():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [3], name="x")
        scale = tf.cast(tf.reduce_sum(tf.constant([1, 2, 3])), tf.float32, name="scale")  # 6.0
        y = tf.multiply(x, scale, name="y")
        with tf.Session() as sess:
            np.testing.assert_array_equal(sess.run(y, {x: [1.0, 2.0, 3.0]}), [6.0, 12.0, 18.0])
            plan = next(iter(sess._plans.values()))[0]
            assert [op.name for _, _, _, op in plan.steps] == ["y"]
            vec = tf.cast(tf.constant([1, 2, 3]), tf.float32) * 2.0
            got = sess.run(vec)
            got[0] = -1.0  # a fetched folded value is the caller's copy
            np.testing.assert_array_equal(sess.run(vec), [2.0, 4.0, 6.0])


def test_random_and_stateful_ops_are_not_folded():
    with tf.Graph().as_default():
        r = tf.random_uniform([4], seed=1) * tf.constant(2.0)
        v = tf.Variable(0.0)
        inc = tf.assign_add(v, tf.constant(1.0))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            assert not np.array_equal(sess.run(r), sess.run(r))  # the stream advances
            assert [float(sess.run(inc)) for _ in range(3)] == [1.0, 2.0, 3.0]


def test_a_failing_constant_subgraph_still_fails_at_run_time_naming_its_node():
    with tf.Graph().as_default():
        bad = tf.check_numerics(tf.constant([1.0, np.nan]), "found it", name="check")
        with tf.Session() as sess:
            with pytest.raises(tf.errors.InvalidArgumentError, match="found it"):
                sess.run(bad)
