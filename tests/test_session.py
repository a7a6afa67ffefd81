"""Session.run: fetch structures, feeds, pruning, plan reuse, default sessions, and the errors
bad input gets (each names the node or tensor and what was expected)."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import gmeta as tf
from gmeta import errors


@pytest.fixture
def g():
    graph = tf.Graph()
    with graph.as_default():
        yield graph


def test_fetch_structures(g):
    a = tf.constant(1.0, name="a")
    b = tf.constant([2, 3], name="b")
    noop = tf.no_op(name="noop")
    Pair = collections.namedtuple("Pair", "x y")
    with tf.Session() as sess:
        assert sess.run(a) == np.float32(1.0) and isinstance(sess.run(a), np.float32)
        np.testing.assert_array_equal(sess.run("b:0"), [2, 3])
        assert sess.run(noop) is None
        assert sess.run("noop") is None
        out = sess.run({"k": [a, (b, noop)], "p": Pair(a, "b:0")})
        assert out["k"][0] == 1.0 and isinstance(out["k"][1], tuple)
        np.testing.assert_array_equal(out["k"][1][0], [2, 3])
        assert out["k"][1][1] is None
        assert isinstance(out["p"], Pair) and out["p"].x == 1.0
        assert sess.run([a, a])[0] == sess.run([a, a])[1]


def test_feeds_by_tensor_and_name_and_any_feedable_tensor(g):
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    y = x + 1.0
    z = y * 2.0
    with tf.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {x: [[1, 2]]}), [[2, 3]])
        np.testing.assert_array_equal(sess.run(y, {"x:0": np.ones((3, 2))}), np.full((3, 2), 2))
        # feeding an intermediate tensor replaces it: x need not be fed
        np.testing.assert_array_equal(sess.run(z, {y: [[10.0, 20.0]]}), [[20, 40]])


def test_pruning_runs_only_what_the_fetch_needs(g):
    x = tf.placeholder(tf.float32, name="x")
    a = tf.constant(3.0)
    unused = x * 2.0  # noqa: F841 - would fail without a feed if it ran
    with tf.Session() as sess:
        assert sess.run(a + 1.0) == 4.0


def test_plan_is_reused_and_rebuilt_when_the_graph_grows(g):
    a = tf.constant(2.0)
    b = a * 3.0
    with tf.Session() as sess:
        assert sess.run(b) == 6.0
        plans = len(sess._plans)
        assert sess.run(b) == 6.0
        assert len(sess._plans) == plans
        c = b + 1.0  # graph grows between runs, as TF allows
        assert sess.run(c) == 7.0
        assert sess.run(b) == 6.0


def test_variables_keep_state_across_runs_and_sessions_are_isolated(g):
    v = tf.Variable(1.0, name="v")
    inc = v.assign_add(2.0)
    init = tf.global_variables_initializer()
    with tf.Session() as s1, tf.Session() as s2:
        s1.run(init)
        s2.run(init)
        s1.run(inc)
        s1.run(inc)
        assert s1.run(v) == 5.0
        assert s2.run(v) == 1.0


def test_fetched_variable_values_are_copies(g):
    v = tf.Variable([1.0, 2.0], name="v")
    with tf.Session() as sess:
        sess.run(v.initializer)
        got = sess.run(v.value())
        got[0] = 100.0
        np.testing.assert_array_equal(sess.run(v), [1.0, 2.0])


def test_default_session_eval_and_run(g):
    a = tf.constant(5, name="a")
    op = tf.no_op()
    with tf.Session() as sess:
        assert tf.get_default_session() is sess
        assert a.eval() == 5
        op.run()
    assert tf.get_default_session() is None
    with pytest.raises(ValueError, match="No default session"):
        a.eval()


def test_interactive_session_installs_itself(g):
    sess = tf.InteractiveSession()
    try:
        assert tf.constant(3).eval() == 3
    finally:
        sess.close()
    assert tf.get_default_session() is None


def test_closed_session_refuses_to_run(g):
    sess = tf.Session()
    sess.close()
    with pytest.raises(RuntimeError, match="closed Session"):
        sess.run(tf.constant(1))


def test_make_callable(g):
    x = tf.placeholder(tf.int32, [], name="x")
    f = tf.Session().make_callable(x * 2, [x])
    assert f(21) == 42


# -- bad input --------------------------------------------------------------------------------
def test_feed_of_wrong_shape_names_the_tensor(g):
    x = tf.placeholder(tf.float32, [None, 3], name="images")
    with tf.Session() as sess:
        with pytest.raises(errors.InvalidArgumentError, match=r"shape \(2, 2\).*'images:0'.*"
                                                              r"\(None, 3\)"):
            sess.run(x, {x: np.zeros((2, 2))})
        with pytest.raises(ValueError):  # TF raises ValueError here: gmeta's error is both
            sess.run(x, {x: np.zeros((3,))})


def test_feed_of_wrong_dtype_names_the_tensor(g):
    x = tf.placeholder(tf.int32, [2], name="labels")
    with tf.Session() as sess:
        with pytest.raises(errors.InvalidArgumentError, match="float64.*'labels:0'.*int32"):
            sess.run(x, {x: np.array([0.5, 1.5])})
        with pytest.raises(TypeError):
            sess.run(x, {x: ["a", "b"]})
        np.testing.assert_array_equal(sess.run(x, {x: [1, 2]}), [1, 2])  # lists are fine


def test_unfed_placeholder_names_itself_dtype_and_shape(g):
    x = tf.placeholder(tf.float32, [None, 784], name="pixels")
    y = x * 2.0
    with tf.Session() as sess:
        with pytest.raises(errors.InvalidArgumentError) as info:
            sess.run(y)
    assert "placeholder tensor 'pixels'" in str(info.value)
    assert "float32" in str(info.value) and "[?,784]" in str(info.value)
    assert info.value.op.name == "pixels"


def test_uninitialised_variable_names_the_variable(g):
    v = tf.Variable(tf.zeros([2]), name="weights")
    y = v * 2.0
    with tf.Session() as sess:
        with pytest.raises(errors.FailedPreconditionError,
                           match="uninitialized value weights"):
            sess.run(y)


def test_names_that_do_not_exist(g):
    tf.constant(1.0, name="a")
    with tf.Session() as sess:
        with pytest.raises(errors.NotFoundError, match="nope"):
            sess.run("nope:0")
        with pytest.raises(errors.NotFoundError, match="'a:3'"):
            sess.run("a:3")
        with pytest.raises(errors.NotFoundError, match="missing"):
            sess.run("a:0", {"missing:0": 1.0})
        with pytest.raises(TypeError):
            sess.run(None)


def test_cycle_through_control_dependencies_names_the_nodes(g):
    a = tf.constant(1.0, name="a")
    b = tf.identity(a, name="b")
    c = tf.identity(b, name="c")
    a.op._add_control_input(c.op)
    with tf.Session() as sess:
        with pytest.raises(errors.InvalidArgumentError, match="cycle") as info:
            sess.run(c)
    msg = str(info.value)
    assert all(n in msg for n in ("a", "b", "c"))


def test_kernel_errors_carry_the_node(g):
    x = tf.placeholder(tf.float32, [None, None], name="x")
    w = tf.placeholder(tf.float32, [None, None], name="w")
    y = tf.matmul(x, w, name="project")
    with tf.Session() as sess:
        with pytest.raises(errors.InvalidArgumentError) as info:
            sess.run(y, {x: np.ones((2, 3)), w: np.ones((4, 5))})
    assert info.value.op is y.op
    assert "project" in str(info.value)


def test_feeding_a_tensor_value_is_refused(g):
    x = tf.placeholder(tf.float32, name="x")
    with tf.Session() as sess:
        with pytest.raises(TypeError, match="cannot be a tf.Tensor"):
            sess.run(x, {x: tf.constant(1.0)})


def test_initialized_value_depends_on_initialisation(g):
    a = tf.Variable(3.0, name="a")
    b = tf.Variable(a.initialized_value() * 2.0, name="b")  # TF's idiom for dependent inits
    iv = a.initialized_value()
    with tf.Session() as sess:
        assert sess.run(iv) == 3.0  # not initialised yet: the initial value
        sess.run(b.initializer)  # works before a is initialised
        assert sess.run(b) == 6.0
        sess.run(a.initializer)
        sess.run(a.assign(5.0))
        assert sess.run(iv) == 5.0  # initialised: the current value


def test_feed_keys_of_every_kind_and_a_tensor_of_another_graph():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [2], name="x")
        y = x * 2.0
    with g.as_default(), tf.Session(graph=g) as sess:
        one = np.ones(2, np.float32)
        for key in (x, "x:0"):  # a tensor of this graph (no lookup), a name
            np.testing.assert_array_equal(sess.run(y, {key: one}), [2.0, 2.0])
        other = tf.Graph()
        with other.as_default():
            stranger = tf.placeholder(tf.float32, [2], name="x")
        with pytest.raises(TypeError, match="Cannot interpret feed_dict key"):
            sess.run(y, {stranger: one})
