"""The per-run shortcuts of a compiled plan: a feed validated once per signature
(``Session._convert_feeds``), in-place binary kernels and Relu remembering the last shapes that
fit (gmeta/kernels/__init__.py, gmeta/kernels/nn.py), and the floating-point error state set
without an errstate object (``executor.Plan.run``). Each must give what the full check gives
when the shapes, dtypes or static shapes change between runs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gmeta as tf
from gmeta import errors, executor
from gmeta.framework import op_def_library


def _f32(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _last_plan(sess):
    return list(sess._plans.values())[-1][0]


# -- feeds ---------------------------------------------------------------------------------------
def test_a_feed_that_passed_once_is_still_checked_when_its_shape_or_dtype_changes():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = x * 2.0
        with tf.Session() as sess:
            a = _f32(4, 3)
            np.testing.assert_array_equal(sess.run(y, {x: a}), a * 2)
            np.testing.assert_array_equal(sess.run(y, {x: a}), a * 2)  # the remembered path
            with pytest.raises(errors.FeedError, match=r"shape \(4, 2\).*'x:0'"):
                sess.run(y, {x: _f32(4, 2)})
            b = _f32(2, 3, seed=1)
            np.testing.assert_array_equal(sess.run(y, {x: b}), b * 2)  # another batch size
            f64 = a.astype(np.float64)  # converted, not passed through as it is
            got = sess.run(y, {x: f64})
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, a * 2)
            with pytest.raises(errors.FeedTypeError, match="'x:0'"):
                sess.run(y, {x: np.full((4, 3), "a")})


def test_a_feed_is_checked_again_after_set_shape_narrows_its_tensor():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        y = x + 1.0
        with tf.Session() as sess:
            a = _f32(4, 3)
            sess.run(y, {x: a})
            sess.run(y, {x: a})
            x.set_shape([2, 3])
            with pytest.raises(errors.FeedError, match=r"shape \(4, 3\)"):
                sess.run(y, {x: a})
            np.testing.assert_array_equal(sess.run(y, {x: a[:2]}), a[:2] + 1)


def test_a_fed_array_is_never_written_on_the_remembered_path():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [2, 2], name="x")
        z = tf.nn.relu(x - 1.0)  # elementwise kernels that write in place where they may
        with tf.Session() as sess:
            a = _f32(2, 2)
            keep = a.copy()
            outs = [sess.run(z, {x: a}) for _ in range(3)]
    np.testing.assert_array_equal(a, keep)
    for out in outs:
        np.testing.assert_array_equal(out, np.maximum(keep - 1, 0))


# -- in-place kernels that remember the last shapes ------------------------------------------------
def test_in_place_add_falls_back_when_a_later_run_grows_the_broadcast():
    with tf.Graph().as_default():
        p = tf.placeholder(tf.float32, None, name="p")
        q = tf.placeholder(tf.float32, None, name="q")
        eye = tf.constant(np.eye(3, dtype=np.float32))
        # both operands are fresh MatMul results dying with the add: it may write into either
        z = tf.add(tf.matmul(p, eye), tf.matmul(q, eye), name="sum")
        with tf.Session() as sess:
            cases = [((4, 3), (1, 3)), ((4, 3), (1, 3)), ((1, 3), (4, 3)), ((4, 3), (4, 3)),
                     ((4, 3), (1, 3))]
            for i, (ps, qs) in enumerate(cases):
                pv, qv = _f32(*ps, seed=i), _f32(*qs, seed=10 + i)
                np.testing.assert_allclose(sess.run(z, {p: pv, q: qv}), pv + qv, rtol=1e-6)
            assert any(getattr(fn, "_inplace", None) for fn, *_ in _last_plan(sess).steps)
            with pytest.raises(errors.InvalidArgumentError, match="Incompatible shapes"):
                sess.run(z, {p: _f32(4, 3), q: _f32(2, 3)})


def test_in_place_sub_with_one_dying_input_keeps_the_operand_order_across_shapes():
    with tf.Graph().as_default():
        p = tf.placeholder(tf.float32, None, name="p")
        b = tf.placeholder(tf.float32, None, name="b")  # a feed: never written
        z = tf.subtract(tf.matmul(p, tf.constant(np.eye(3, dtype=np.float32))), b)
        with tf.Session() as sess:
            for i, (ps, bs) in enumerate([((5, 3), (3,)), ((5, 3), (3,)), ((1, 3), (5, 3)),
                                          ((2, 3), (1, 3))]):
                pv, bv = _f32(*ps, seed=i), _f32(*bs, seed=20 + i)
                keep = bv.copy()
                np.testing.assert_allclose(sess.run(z, {p: pv, b: bv}), pv - bv, rtol=1e-6)
                np.testing.assert_array_equal(bv, keep)


@pytest.mark.parametrize("act,want", [(tf.nn.relu, lambda v: np.maximum(v, 0)),
                                      (tf.nn.relu6, lambda v: np.clip(v, 0, 6))])
def test_relu_in_place_is_right_whatever_the_batch_of_each_run(act, want):
    with tf.Graph().as_default():
        p = tf.placeholder(tf.float32, [None, 4], name="p")
        w = tf.constant(np.eye(4, dtype=np.float32) * 4)
        y = act(tf.matmul(p, w))
        with tf.Session() as sess:
            for i, n in enumerate([3, 3, 7, 1, 3, 50]):
                pv = _f32(n, 4, seed=i)
                np.testing.assert_array_equal(sess.run(y, {p: pv}), want(pv * 4))
            assert any(getattr(fn, "_inplace", None) for fn, *_ in _last_plan(sess).steps)


def test_matmul_errors_still_name_the_node_and_the_shapes():
    with tf.Graph().as_default():
        a = tf.placeholder(tf.float32, [None, None], name="a")
        b = tf.placeholder(tf.float32, None, name="b")  # rank unknown: MatMul still checks it
        m = op_def_library.apply_op("MatMul", a=a, b=b, name="mm")
        mt = tf.matmul(a, tf.reshape(b, [-1, 3]), transpose_b=True, name="mm_t")
        with tf.Session() as sess:
            np.testing.assert_allclose(sess.run(m, {a: _f32(2, 3), b: _f32(3, 4)}),
                                       _f32(2, 3) @ _f32(3, 4), rtol=1e-5)
            with pytest.raises(errors.InvalidArgumentError,
                               match=r"Matrix size-incompatible: In\[0\]: \[2,3\], "
                                     r"In\[1\]: \[2,4\] \(node 'mm', op MatMul\)"):
                sess.run(m, {a: _f32(2, 3), b: _f32(2, 4)})
            with pytest.raises(errors.InvalidArgumentError,
                               match=r"In\[1\] is not a matrix. Instead it has shape \[3\]"):
                sess.run(m, {a: _f32(2, 3), b: _f32(3)})
            with pytest.raises(errors.InvalidArgumentError,
                               match=r"size-incompatible.*'mm_t', op MatMul"):
                sess.run(mt, {a: _f32(2, 4), b: _f32(4, 3)})
            np.testing.assert_allclose(sess.run(mt, {a: _f32(2, 3), b: _f32(4, 3)}),
                                       _f32(2, 3) @ _f32(4, 3).T, rtol=1e-5)
            assert [o.type for o in (m.op, mt.op)] == ["MatMul", "MatMul"]


# -- floating-point error state --------------------------------------------------------------------
def _divide_by_zero_graph():
    x = tf.placeholder(tf.float32, [3], name="x")
    return x, x / tf.constant(np.zeros(3, np.float32))


def test_a_run_ignores_floating_point_errors_and_restores_the_callers_state():
    with tf.Graph().as_default():
        x, y = _divide_by_zero_graph()
        with tf.Session() as sess:
            with np.errstate(all="raise"):
                before = np.geterr()
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    got = sess.run(y, {x: np.array([1, -1, 0], np.float32)})
                assert np.geterr() == before
                with pytest.raises(FloatingPointError):  # the caller's own state is back
                    np.float32(1) / np.zeros(1, np.float32)
    assert np.isposinf(got[0]) and np.isneginf(got[1]) and np.isnan(got[2])


def test_a_failing_run_also_restores_the_floating_point_state():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, None, name="x")
        y = tf.matmul(x, x)
        with tf.Session() as sess:
            with np.errstate(divide="raise", invalid="warn"):
                before = np.geterr()
                with pytest.raises(errors.InvalidArgumentError):
                    sess.run(y, {x: _f32(3)})
                assert np.geterr() == before


def test_the_state_shortcut_sets_what_errstate_ignore_sets(monkeypatch):
    if executor._FP_STATE is None:  # numpy 1.x: the plan enters np.errstate itself
        pytest.skip("numpy 1.x keeps the floating-point state without a context variable")
    for bufsize in (8192, 16384, 8192):  # the caller's other settings are kept, as errstate does
        old = np.setbufsize(bufsize)
        try:
            with np.errstate(all="ignore"):
                want = (np.geterr(), np.getbufsize())
            token = executor._ignore_fp_errors()
            try:
                assert (np.geterr(), np.getbufsize()) == want
            finally:
                executor._FP_STATE.reset(token)
        finally:
            np.setbufsize(old)
    # and the errstate fallback (numpy 1.x) runs the same plans
    monkeypatch.setattr(executor, "_FP_STATE", None)
    with tf.Graph().as_default():
        x, y = _divide_by_zero_graph()
        with tf.Session() as sess, np.errstate(all="raise"):
            got = sess.run(y, {x: np.ones(3, np.float32)})
    assert np.isposinf(got).all()
