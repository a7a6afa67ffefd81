"""Simple while-loop frames run as straight-line steps (gmeta/_frame_exec.py).

Every case runs twice: with the straight-line frames and with the dataflow executor alone
(``_frame_exec.ENABLED = False``, as ``GMETA_DYNAMIC_LOOPS=1``); the values must be the same,
and the TF-made fixtures' values are checked against TF in test_while_v1.py either way.
"""

import json
import os

import numpy as np
import pytest

import gmeta as tf
from gmeta import _frame_exec, errors

DATA = os.path.join(os.path.dirname(__file__), "fixtures", "data", "while")
LSTM = os.path.join(DATA, "lstm_adam")
with open(os.path.join(DATA, "loops.json")) as _f:
    LOOP_SPEC = json.load(_f)
LOOPS = np.load(os.path.join(DATA, "loops.npz"))

# The frames of each TF-made case that are simple enough to run as straight-line steps: a
# loop that holds another loop, or a cond, stays with the dataflow executor.
STATIC = {
    "accumulate": {"accumulate/while/while_context"},
    "counter": {"counter/while/while_context"},
    "in_cond": {"in_cond/cond/while/while_context"},
    "in_cond_n2": {"in_cond/cond/while/while_context"},
    "maxiter": {"maxiter/while/while_context"},
    "maxiter_grad": {"maxiter_grad/while/while_context",
                     "maxiter_grad/gradients/maxiter_grad/while/while_context"},
    "nested": {"nested/while/while/while_context"},
    "nested_grad": {"nested_grad/while/while/while_context",
                    "nested_grad/gradients/nested_grad/while/while/while_context"},
    "power": {"power/while/while_context", "power/gradients/power/while/while_context"},
    "ta_ops": set(),
    "tensor_array": {"tensor_array/while/while_context"},
}


@pytest.fixture
def dynamic_only(monkeypatch):
    monkeypatch.setattr(_frame_exec, "ENABLED", False)


def _run_both(monkeypatch, build_and_run):
    """``build_and_run()`` with straight-line frames, then with the dataflow executor only."""
    static = build_and_run()
    monkeypatch.setattr(_frame_exec, "ENABLED", False)
    dynamic = build_and_run()
    monkeypatch.setattr(_frame_exec, "ENABLED", True)
    return static, dynamic


def _loop_graph():
    g = tf.Graph()
    with g.as_default():
        tf.train.import_meta_graph(os.path.join(DATA, "loops.pb"))
    return g


def _feed(g, case):
    fd = {g.get_tensor_by_name(k[3:]): LOOPS[k] for k in LOOPS.files if k.startswith("in/")}
    if case == "in_cond_n2":
        fd[g.get_tensor_by_name("n:0")] = np.int32(2)
    return fd


def _plan(sess):
    (plan, _, _, _), = sess._plans.values()
    return plan


@pytest.mark.parametrize("case", sorted(LOOP_SPEC))
def test_imported_loops_same_values_both_ways(case, monkeypatch):
    frames = []

    def run():
        g = _loop_graph()
        with tf.Session(graph=g) as sess:
            out = sess.run([g.get_tensor_by_name(n) for n in LOOP_SPEC[case]], _feed(g, case))
            plan = _plan(sess)
            frames.append((set(getattr(plan, "static_frames", ())), type(plan).__name__))
        return out

    static, dynamic = _run_both(monkeypatch, run)
    assert [f for f, _ in frames] == [STATIC[case], set()]
    # a loop inside a cond branch or inside another loop keeps the dataflow executor around it;
    # with every frame straight and no cond, the plan is one list of steps
    kind = ("Plan" if case == "ta_ops" else
            "LoopPlan" if case.startswith(("in_cond", "nested")) else "StraightPlan")
    assert [k for _, k in frames] == [kind, "Plan" if kind == "Plan" else "LoopPlan"]
    for i, (a, b) in enumerate(zip(static, dynamic)):
        np.testing.assert_array_equal(a, b, err_msg=f"{case} output {i}")
        np.testing.assert_allclose(a, LOOPS[f"out/{case}/{i}"], rtol=1e-6)


def _lstm_steps(steps=3, virtual_gpu=False, monkeypatch=None):
    if virtual_gpu:
        from gmeta.devices import discovery

        monkeypatch.setattr(discovery, "_probe_gpus", lambda: ([], "real GPUs hidden"))
        monkeypatch.setattr(discovery, "_virtual_gpus", 1)
    with open(os.path.join(LSTM, "spec.json")) as f:
        spec = json.load(f)
    expected = np.load(os.path.join(LSTM, "expected.npz"))
    g = tf.Graph()
    with g.as_default():
        saver = tf.train.import_meta_graph(os.path.join(LSTM, spec["meta"]),
                                           clear_devices=not virtual_gpu)
    fd = {g.get_tensor_by_name(k): expected["feed/" + k] for k in spec["feeds"]}
    loss = g.get_tensor_by_name(spec["loss"])
    train = g.get_operation_by_name(spec["train_op"])
    sess = tf.Session(graph=g)
    saver.restore(sess, os.path.join(LSTM, spec["checkpoint_prefix"]))
    losses = [sess.run([train, loss], fd)[1] for _ in range(steps)]
    plan = next(p for p, _, _, _ in sess._plans.values() if hasattr(p, "static_frames") and
                any(t is train for t in p.targets))
    variables = {v.op.name: sess.run(v) for v in g.get_collection("trainable_variables")}
    return losses, variables, plan, sess


def test_lstm_training_same_numbers_both_ways(monkeypatch):
    (l1, v1, plan, _), (l2, v2, plan2, _) = _run_both(monkeypatch, _lstm_steps)
    assert set(plan.static_frames) == {"rnn/while/while_context",
                                       "gradients/rnn/while/while_context"}
    assert plan2.static_frames == ()
    # every frame straight and no cond: the whole step is one list of steps
    assert type(plan).__name__ == "StraightPlan" and type(plan2).__name__ == "LoopPlan"
    np.testing.assert_array_equal(l1, l2)
    for name in v1:
        np.testing.assert_array_equal(v1[name], v2[name], err_msg=name)


def test_lstm_on_a_virtual_gpu_same_numbers_and_copies_both_ways(monkeypatch):
    def run():
        losses, variables, plan, sess = _lstm_steps(virtual_gpu=True, monkeypatch=monkeypatch)
        return losses, variables, plan.transfers.summary()

    (l1, v1, t1), (l2, v2, t2) = _run_both(monkeypatch, run)
    np.testing.assert_array_equal(l1, l2)
    for name in v1:
        np.testing.assert_array_equal(v1[name], v2[name], err_msg=name)
    # the frames copy what crosses devices, as the dataflow executor does, but once per value
    # and device (the dataflow executor copies per consumer), and never the loop predicate
    # (only its truth is read)
    assert t1["bytes_per_step"] > 0 and t1["cross_device_edges"] > 0
    edges = lambda t: {tuple(e.values()) for e in t["edges"]}  # noqa: E731
    assert edges(t1) < edges(t2)
    assert t1["bytes_per_step"] < t2["bytes_per_step"]
    assert not any("LoopCond" in e[0] for e in edges(t1))


def test_fetch_inside_a_frame_keeps_it_dynamic_and_raises():
    g = _loop_graph()
    with tf.Session(graph=g) as sess:
        with pytest.raises(errors.InvalidArgumentError, match="inside a while loop"):
            sess.run([g.get_tensor_by_name("counter/while/add:0"),
                      g.get_tensor_by_name(LOOP_SPEC["counter"][0])])


def test_kernel_error_inside_a_frame_names_the_node():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, None], name="x")
        w = tf.placeholder(tf.float32, [None, None], name="w")
        _, out = tf.while_loop(lambda i, h: i < 3, lambda i, h: (i + 1, tf.matmul(h, w)),
                               [tf.constant(0), x])
    with tf.Session(graph=g) as sess:
        with pytest.raises(errors.InvalidArgumentError, match=r"while/MatMul"):
            sess.run(out, {x: np.ones((2, 3), np.float32), w: np.ones((4, 4), np.float32)})
        assert _plan(sess).static_frames == ("while/while_context",)
        got = sess.run(out, {x: np.ones((2, 3), np.float32), w: np.eye(3, dtype=np.float32)})
    np.testing.assert_array_equal(got, np.ones((2, 3), np.float32))


def test_cond_inside_the_body_stays_dynamic(monkeypatch):
    def run():
        g = tf.Graph()
        with g.as_default():
            n = tf.placeholder(tf.int32, [], name="n")

            def body(i, acc):
                step = tf.cond(tf.equal(i % 2, 0), lambda: acc * 2.0, lambda: acc + 1.0)
                return i + 1, step

            _, out = tf.while_loop(lambda i, a: i < n, body, [tf.constant(0), tf.constant(1.0)])
        with tf.Session(graph=g) as sess:
            return sess.run(out, {n: 5}), _plan(sess).static_frames

    (a, frames), (b, _) = _run_both(monkeypatch, run)
    assert frames == ()
    assert a == b == ((((1 * 2 + 1) * 2 + 1) * 2))


def test_loop_that_never_runs_and_loop_in_untaken_branch(monkeypatch):
    def run():
        g = tf.Graph()
        with g.as_default():
            n = tf.placeholder(tf.int32, [], name="n")
            p = tf.placeholder(tf.bool, [], name="p")
            _, zero_iter = tf.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, a * 3.0),
                                         [tf.constant(0), tf.constant(2.0)])
            branch = tf.cond(p, lambda: tf.while_loop(lambda i: i < 4, lambda i: i + 1, [n]),
                             lambda: n * 10)
        with tf.Session(graph=g) as sess:
            return [sess.run([zero_iter, branch], {n: k, p: k % 2 == 0}) for k in (0, 1, 2, 7)]

    static, dynamic = _run_both(monkeypatch, run)
    assert static == dynamic
    assert [float(v[0]) for v in static] == [2.0, 6.0, 18.0, 4374.0]
    assert [int(v[1]) for v in static] == [4, 10, 4, 70]


def test_frames_write_into_dying_buffers_and_match_without(monkeypatch):
    from gmeta import executor

    def run():
        losses, variables, plan, _ = _lstm_steps()
        rewritten = [s[3].type for s in plan.steps if hasattr(s[0], "_inplace")]
        for s in plan.steps:
            for phase in getattr(s[0], "steps", ()):
                rewritten += [t[3].type for t in phase if hasattr(t[0], "_inplace")]
        return losses, variables, rewritten

    (l1, v1, r1), (l2, v2, r2) = _run_both(monkeypatch, run)
    monkeypatch.setattr(executor, "INPLACE", False)
    l3, v3, r3 = run()
    # gradient-loop activations dying in place (the forward values pushed on stacks never do)
    assert r1.count("SigmoidGrad") == 3 and r1.count("TanhGrad") == 2, r1
    assert r3 == []
    np.testing.assert_array_equal(l1, l3)
    np.testing.assert_array_equal(l1, l2)
    for name in v1:
        np.testing.assert_array_equal(v1[name], v3[name], err_msg=name)

