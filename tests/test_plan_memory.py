"""Memory planning of lean plans (gmeta/executor.py): kernels that declare an ``inplace``
variant write their result into an input buffer that dies with them, when the plan owns it (made
in this run by a ``fresh`` kernel, read by no other step, not fed, fetched, constant or a
variable's), and large values are dropped after their last reader. Results are identical with
both switched off (``executor.INPLACE``/``RELEASE``, env GMETA_NO_INPLACE=1/GMETA_NO_RELEASE=1);
feeds, fetches, constants and variables are never written."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import gmeta as tf
from gmeta import errors, executor
from gmeta.ops.resource_variable_ops import ResourceVariable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def inplace(monkeypatch):
    """Sets ``executor.INPLACE`` and ``executor.RELEASE`` (read when a plan is compiled)."""

    def set_(flag: bool, release: bool = True):
        monkeypatch.setattr(executor, "INPLACE", flag)
        monkeypatch.setattr(executor, "RELEASE", release)

    set_(True)
    return set_


def _plan(sess):
    return list(sess._plans.values())[-1][0]


def _inplace_steps(sess) -> dict:
    """``{node name: input indices written}`` of the last plan's in-place steps."""
    return {op.name: fn._inplace for fn, _, _, op in _plan(sess).steps
            if getattr(fn, "_inplace", None)}


def _rng(seed=0):
    return np.random.default_rng(seed)


def _f32(*shape, seed=0):
    return _rng(seed).standard_normal(shape).astype(np.float32)


# -- where it applies --------------------------------------------------------------------------
def _mlp_train(optimizer="sgd", resource=False, sizes=(6, 8, 5, 3), batch=4):
    x = tf.placeholder(tf.float32, [None, sizes[0]], name="x")
    labels = tf.placeholder(tf.int32, [None], name="labels")
    h, params = x, []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w0 = _f32(n_in, n_out, seed=i) / np.float32(np.sqrt(n_in))
        b0 = _f32(n_out, seed=10 + i) * np.float32(0.1)
        make = ResourceVariable if resource else tf.Variable
        w, b = make(w0, name=f"w{i}"), make(b0, name=f"b{i}")
        params += [w, b]
        h = tf.matmul(h, w) + b
        if i < len(sizes) - 2:
            h = tf.nn.relu(h)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                         logits=h))
    opt = {"sgd": lambda: tf.train.GradientDescentOptimizer(0.1),
           "momentum": lambda: tf.train.MomentumOptimizer(0.1, 0.9),
           "adam": lambda: tf.train.AdamOptimizer(0.01)}[optimizer]()
    train = opt.minimize(loss)
    feed = {x: _f32(batch, sizes[0], seed=99),
            labels: _rng(5).integers(0, sizes[-1], batch).astype(np.int32)}
    return x, loss, train, params, feed


def _train(flag, inplace, steps=3, **kw):
    inplace(flag, release=flag)
    with tf.Graph().as_default():
        x, loss, train, params, feed = _mlp_train(**kw)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            losses = [sess.run([train, loss], feed)[1] for _ in range(steps)]
            used = _inplace_steps(sess)
            values = sess.run(params)
    return losses, values, used


def test_mlp_train_step_writes_in_place_where_buffers_die(inplace):
    _, _, used = _train(True, inplace, steps=1, batch=64)
    # forward: bias adds into the MatMul results, Relu into the sums
    assert used["add"] == (0,) and used["Relu"] == (0,)
    assert used["add_1"] == (0,) and used["Relu_1"] == (0,) and used["add_2"] == (0,)
    # backward: the loss gradient into the softmax backprop, ReluGrad into the MatMul gradient
    grads = {name: ks for name, ks in used.items() if name.startswith("gradients/")}
    assert any(name.endswith("ReluGrad") for name in grads)
    assert any(name.endswith("_grad/mul") and ks == (1,) for name, ks in grads.items())
    # the SGD updates of the weights use the dying gradient as their scratch buffer
    updates = {name for name, ks in used.items() if "ApplyGradientDescent" in name}
    assert {f"GradientDescent/update_w{i}/ApplyGradientDescent" for i in range(3)} <= updates
    assert all(used[name] == (2,) for name in updates)


def test_switch_off_compiles_no_in_place_step(inplace):
    _, _, used = _train(False, inplace, steps=1)
    assert used == {}


@pytest.mark.parametrize("kw, update", [
    ({"optimizer": "sgd"}, "ApplyGradientDescent"),
    ({"optimizer": "momentum"}, "ApplyMomentum"),
    ({"optimizer": "adam"}, "ApplyAdam"),
    ({"optimizer": "sgd", "resource": True}, "ResourceApplyGradientDescent"),
    ({"optimizer": "adam", "resource": True}, None),  # copy-on-write: the formula's new arrays
], ids=["sgd", "momentum", "adam", "sgd-resource", "adam-resource"])
def test_training_is_bit_identical_with_and_without_in_place(inplace, kw, update):
    losses_on, values_on, used = _train(True, inplace, **kw)
    losses_off, values_off, none = _train(False, inplace, **kw)
    assert used and not none
    updates = {name for name in used if name.rsplit("/", 1)[-1].startswith(("Apply",
                                                                            "ResourceApply"))}
    if update is None:
        assert not updates
    else:
        assert {name.rsplit("/", 1)[-1] for name in updates} == {update}
        assert len(updates) == 3  # the weights' gradients (MatMul results) die with the update
    np.testing.assert_array_equal(losses_on, losses_off)
    for a, b in zip(values_on, values_off):
        np.testing.assert_array_equal(a, b)


def test_resource_sgd_keeps_a_value_read_before_the_update(inplace):
    with tf.Graph().as_default():
        v = ResourceVariable(np.ones((2, 3), np.float32), name="v")
        a = tf.placeholder(tf.float32, [2, 2], name="a")
        before = v.read_value()
        g = tf.matmul(a, tf.ones([2, 3]))  # a fresh gradient, read by the update alone
        with tf.control_dependencies([before]):
            train = tf.train.GradientDescentOptimizer(0.5).apply_gradients([(g, v)])
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            got, _ = sess.run([before, train], {a: np.ones((2, 2), np.float32)})
            assert any("ResourceApplyGradientDescent" in n for n in _inplace_steps(sess))
            np.testing.assert_array_equal(got, np.ones((2, 3)))
            np.testing.assert_array_equal(sess.run(v), np.zeros((2, 3)))
            got, _ = sess.run([before, train], {a: np.ones((2, 2), np.float32)})
            np.testing.assert_array_equal(got, np.zeros((2, 3)))
            np.testing.assert_array_equal(sess.run(v), -np.ones((2, 3)))


# -- elementwise kernels -----------------------------------------------------------------------
def _eye(n):
    return tf.constant(np.eye(n, dtype=np.float32))


def _matmul_of(shape, name):
    """A fresh, plan-owned value of ``shape`` (an identity matrix product of a placeholder)."""
    p = tf.placeholder(tf.float32, [None] * len(shape), name=name)
    return p, tf.matmul(p, _eye(shape[1])), _f32(*shape, seed=len(name))


@pytest.mark.parametrize("build, want", [
    (lambda m, o: m + o, lambda m, o: m + o),
    (lambda m, o: o - m, lambda m, o: o - m),
    (lambda m, o: m * o, lambda m, o: m * o),
    (lambda m, o: tf.realdiv(o, m), lambda m, o: o / m),
    (lambda m, o: tf.maximum(m, o), np.maximum),
    (lambda m, o: tf.nn.bias_add(m, o[0]), lambda m, o: m + o[0]),
    (lambda m, o: tf.tanh(m), lambda m, o: np.tanh(m)),
    (lambda m, o: tf.exp(m), lambda m, o: np.exp(m)),
    (lambda m, o: tf.negative(m), lambda m, o: -m),
    (lambda m, o: tf.nn.relu6(m * 4), lambda m, o: np.clip(m * 4, 0, 6)),
], ids=["add", "sub", "mul", "realdiv", "maximum", "bias_add", "tanh", "exp", "neg", "relu6"])
def test_elementwise_kernels_in_place_match(inplace, build, want):
    with tf.Graph().as_default():
        p, m, mv = _matmul_of((3, 4), "p")
        o = tf.placeholder(tf.float32, [3, 4], name="o")
        ov = _f32(3, 4, seed=7)
        z = build(m, o)
        with tf.Session() as sess:
            got = sess.run(z, {p: mv, o: ov})
            assert _inplace_steps(sess)
    np.testing.assert_allclose(got, want(mv, ov), rtol=1e-6)


def test_broadcasting_writes_into_the_input_that_has_the_result_shape(inplace):
    with tf.Graph().as_default():
        p, m, mv = _matmul_of((3, 4), "p")
        q, row, rv = _matmul_of((1, 4), "q")  # fresh too, but it would have to grow
        left = m + row
        right = tf.matmul(q, _eye(4)) * tf.matmul(p, _eye(4))
        with tf.Session() as sess:
            a, b = sess.run([left, right], {p: mv, q: rv})
            used = _inplace_steps(sess)
    assert sorted(used.values()) == [(0, 1), (0, 1)]  # both inputs die: chosen at run time
    np.testing.assert_allclose(a, mv + rv, rtol=1e-6)
    np.testing.assert_allclose(b, rv * mv, rtol=1e-6)


def test_a_broadcast_that_grows_every_input_falls_back(inplace):
    with tf.Graph().as_default():
        p, col, cv = _matmul_of((3, 1), "p")
        q, row, rv = _matmul_of((1, 4), "q")
        z = col + row  # [3, 1] + [1, 4] -> [3, 4]: neither buffer fits
        with tf.Session() as sess:
            got = sess.run(z, {p: cv, q: rv})
            assert _inplace_steps(sess)
    np.testing.assert_allclose(got, cv + rv, rtol=1e-6)


def test_in_place_step_reports_bad_shapes_like_the_kernel(inplace):
    with tf.Graph().as_default():
        a, b, c, d = (tf.placeholder(tf.float32, None, name=n) for n in "abcd")
        z = tf.add(tf.matmul(a, b), tf.matmul(c, d), name="bad_add")  # shapes unknown here
        with tf.Session() as sess:
            feed = {a: _f32(3, 2), b: _f32(2, 4), c: _f32(3, 2), d: _f32(2, 5)}
            with pytest.raises(errors.InvalidArgumentError, match="Incompatible shapes"):
                sess.run(z, feed)
            assert _inplace_steps(sess) == {"bad_add": (0, 1)}


def test_relu_and_gradient_kernels_in_place(inplace):
    with tf.Graph().as_default():
        p, m, mv = _matmul_of((4, 3), "p")
        h = tf.matmul(tf.nn.relu(m), _eye(3))
        # MatMuls after tanh/sigmoid: their gradients reach TanhGrad/SigmoidGrad fresh
        t = tf.matmul(tf.tanh(h), _eye(3))
        s = tf.matmul(tf.sigmoid(tf.matmul(p, _eye(3))), _eye(3))
        loss = tf.reduce_sum(t * s)
        grad = tf.gradients(loss, p)[0]
        fetches = [loss, grad]
        with tf.Session() as sess:
            on = sess.run(fetches, {p: mv})
            used = {name.rsplit("/", 1)[-1] for name in _inplace_steps(sess)}
        inplace(False)
        with tf.Session() as sess:
            off = sess.run(fetches, {p: mv})
    assert {"Relu", "ReluGrad", "TanhGrad", "SigmoidGrad"} <= used
    for a, b in zip(on, off):
        np.testing.assert_array_equal(a, b)


# -- where it must not apply -------------------------------------------------------------------
def test_a_fetched_input_is_not_overwritten(inplace):
    with tf.Graph().as_default():
        p, m, mv = _matmul_of((2, 3), "p")
        z = m + 1.0
        with tf.Session() as sess:
            got_m, got_z = sess.run([m, z], {p: mv})
            assert _inplace_steps(sess) == {}
    np.testing.assert_allclose(got_m, mv, rtol=1e-6)
    np.testing.assert_allclose(got_z, mv + 1, rtol=1e-6)


def test_a_fed_array_is_never_written(inplace):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [2, 3], name="x")
        z = tf.nn.relu(x * 2.0) + tf.exp(x)
        feed = _f32(2, 3)
        kept = feed.copy()
        with tf.Session() as sess:
            got = sess.run(z, {x: feed})
            assert set(_inplace_steps(sess)) == {"Relu", "add"}  # the fresh values only
    np.testing.assert_array_equal(feed, kept)
    np.testing.assert_allclose(got, np.maximum(kept * 2, 0) + np.exp(kept), rtol=1e-6)


def test_constants_and_variables_are_never_written(inplace):
    with tf.Graph().as_default():
        c = tf.constant(_f32(2, 3), name="c")
        v = tf.Variable(_f32(2, 3, seed=1), name="v")
        p, m, mv = _matmul_of((2, 3), "p")
        z = tf.nn.relu(c) + tf.exp(v) + m  # relu(c) is folded; exp(v) reads the variable
        w = tf.negative(v) * c
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            first = sess.run([z, w], {p: mv})
            second = sess.run([z, w], {p: mv})
            np.testing.assert_array_equal(sess.run(c), _f32(2, 3))
            np.testing.assert_array_equal(sess.run(v), _f32(2, 3, seed=1))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    cv, vv = _f32(2, 3), _f32(2, 3, seed=1)
    np.testing.assert_allclose(first[0], np.maximum(cv, 0) + np.exp(vv) + mv, rtol=1e-6)
    np.testing.assert_allclose(first[1], -vv * cv, rtol=1e-6)


def test_a_value_read_twice_is_not_overwritten(inplace):
    with tf.Graph().as_default():
        p, m, mv = _matmul_of((2, 3), "p")
        twice = m + m
        a, b = m + 1.0, m * 2.0
        with tf.Session() as sess:
            got = sess.run([twice, a, b], {p: mv})
            assert _inplace_steps(sess) == {}
    np.testing.assert_allclose(got[0], mv + mv, rtol=1e-6)
    np.testing.assert_allclose(got[1], mv + 1, rtol=1e-6)
    np.testing.assert_allclose(got[2], mv * 2, rtol=1e-6)


def test_views_are_not_owned(inplace):
    with tf.Graph().as_default():
        p, m, mv = _matmul_of((2, 3), "p")
        r = tf.reshape(m, [3, 2]) + 1.0  # the reshape may be a view of m: not owned
        t = tf.transpose(m)
        z = m * 3.0  # m is read by the transpose too: not dying here
        parts = tf.split(tf.matmul(p, _eye(3)), 3, axis=1)
        s = parts[0] + 1.0
        with tf.Session() as sess:
            got = sess.run([r, t, z, s, parts[1]], {p: mv})
            assert _inplace_steps(sess) == {}
    np.testing.assert_allclose(got[0], mv.reshape(3, 2) + 1, rtol=1e-6)
    np.testing.assert_allclose(got[1], mv.T, rtol=1e-6)
    np.testing.assert_allclose(got[2], mv * 3, rtol=1e-6)
    np.testing.assert_allclose(got[3], mv[:, :1] + 1, rtol=1e-6)
    np.testing.assert_allclose(got[4], mv[:, 1:2], rtol=1e-6)


def test_dtype_changing_ops_do_not_write_in_place(inplace):
    with tf.Graph().as_default():
        p, m, mv = _matmul_of((2, 3), "p")
        less = tf.less(m, 0.0)  # float -> bool
        flipped = tf.logical_not(less)  # bool -> bool: in place
        with tf.Session() as sess:
            got = sess.run(flipped, {p: mv})
            used = _inplace_steps(sess)
    assert list(used) == ["LogicalNot"]
    np.testing.assert_array_equal(got, ~(mv < 0))


def test_repeated_runs_of_one_plan_are_identical(inplace):
    with tf.Graph().as_default():
        p, m, mv = _matmul_of((5, 4), "p")
        z = tf.nn.relu(tf.nn.bias_add(m, tf.constant(_f32(4, seed=3)))) * 2.0
        with tf.Session() as sess:
            runs = [sess.run(z, {p: mv}) for _ in range(3)]
            assert len(_inplace_steps(sess)) == 3
    assert not np.shares_memory(runs[0], runs[1])
    for r in runs[1:]:
        np.testing.assert_array_equal(r, runs[0])


def test_env_var_turns_in_place_off():
    code = "from gmeta import executor; print(executor.INPLACE)"
    env = {**os.environ, "GMETA_NO_INPLACE": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "False"


# -- releasing dead values ---------------------------------------------------------------------
def _chain(n=6, size=256):
    """``n`` MatMuls in a row on a fed [size, size] matrix (no in-place kernels)."""
    x = tf.placeholder(tf.float32, [size, size], name="x")
    h, eye = x, _eye(size)
    for _ in range(n):
        h = tf.matmul(h, eye)
    return x, h


def _peak_of_run(flag, release, inplace, fetch_middle=False):
    inplace(flag, release=release)
    with tf.Graph().as_default():
        x, h = _chain()
        middle = h.op.inputs[0]
        feed = _f32(256, 256)
        with tf.Session() as sess:
            fetches = [h, middle] if fetch_middle else [h]
            sess.run(fetches, {x: feed})
            tracemalloc.start()
            try:
                got = sess.run(fetches, {x: feed})
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    for g in got:
        np.testing.assert_allclose(g, feed, rtol=1e-6)
    return peak


def test_large_values_are_dropped_after_their_last_reader(inplace):
    value = 256 * 256 * 4
    kept = _peak_of_run(False, False, inplace)
    dropped = _peak_of_run(False, True, inplace)
    assert kept >= 6 * value  # every MatMul result lives until the run ends
    assert dropped <= 3 * value  # at most the input, the output and the fetched result


def test_a_fetched_value_is_never_dropped(inplace):
    assert _peak_of_run(False, True, inplace, fetch_middle=True) <= 4 * 256 * 256 * 4


def test_small_values_get_no_release_steps(inplace):
    with tf.Graph().as_default():
        p, m, mv = _matmul_of((3, 4), "p")
        z = tf.matmul(m, _eye(4)) * 2.0
        with tf.Session() as sess:
            sess.run(z, {p: mv})
            assert all(ins for _, ins, _, _ in _plan(sess).steps)
