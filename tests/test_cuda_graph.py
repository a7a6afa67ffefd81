"""Whole-step CUDA-graph capture (gmeta/_cuda_graph.py), driven through a numpy emulation of
stream capture on a virtual GPU: every test compares a graphed Session with an eager one run on
the same inputs, so the capture logic (feed buffers, variable write-back, rebinding guards,
fetch copies, what is refused and why) is checked against the executor's own semantics.

The emulation keeps CUDA's two rules that the logic depends on: a capture runs nothing (the
arrays it was told persist come out of it unchanged) and a launch runs exactly what the capture
recorded (here: the same body again). What it cannot check is CuPy's side: that CUDA accepts each
kernel in a capture. That needs a GPU (bench/gpu.py measures it there).
"""

from __future__ import annotations

import numpy as np
import pytest

import gmeta as gm
from gmeta import _cuda_graph
from gmeta.devices import discovery


class EmulatedCuda:
    """A numpy stand-in for :class:`gmeta._cuda_graph.CupyBackend`."""

    made: list = []

    def __init__(self, ordinal):
        self.captures = 0
        self.launches = 0
        self.outside_calls = 0
        self.capturing = False
        EmulatedCuda.made.append(self)

    @staticmethod
    def supports(dev):
        return dev.is_gpu

    def accepts(self, dev):
        return dev.is_gpu

    def owns(self, x):
        return isinstance(x, np.ndarray)

    def empty(self, shape, dtype):
        return np.full(shape, np.nan if np.dtype(dtype).kind == "f" else 0, dtype)

    def capture(self, body, persistent, bindings):
        saved = [(a, a.copy()) for a in persistent]
        self.captures += 1  # attempts
        self.capturing = True
        try:
            body()
        finally:  # a real capture runs nothing: memory is as it was
            self.capturing = False
            for a, before in saved:
                a[...] = before
        return (body, list(bindings))

    def copy_into(self, dst, src):
        dst[...] = src

    def clone(self, x):
        return x.copy()

    def upload(self, buf, value):
        buf[...] = value

    def follow(self):
        pass

    def outside(self, fn, *args):
        self.outside_calls += 1
        return fn(*args)

    def launch(self, graph):
        """The recorded work on the recorded addresses: each variable read from the array it
        had at the capture, whatever it is bound to now; no Python state changes."""
        self.launches += 1
        body, bindings = graph
        now = [(ref, ref.value) for ref, _ in bindings]
        for ref, array in bindings:
            ref.value = array
        try:
            body()
        finally:
            for ref, value in now:
                ref.value = value

    def synchronize(self):
        pass


class RefusingCuda(EmulatedCuda):
    """CUDA refusing the capture after the body ran (a kernel synchronised with the host)."""

    def capture(self, body, persistent, bindings):
        super().capture(body, persistent, bindings)
        raise RuntimeError("cudaErrorStreamCaptureUnsupported: operation not permitted when "
                           "stream is capturing")


class RefusingMidStep(EmulatedCuda):
    """CUDA refusing an operation in the middle of the capture, after kernels rebound
    variables to new arrays (here: the first write-back copy)."""

    def copy_into(self, dst, src):
        if self.capturing:
            raise RuntimeError("cudaErrorStreamCaptureInvalidated: operation failed due to a "
                               "previous error during capture")
        dst[...] = src


@pytest.fixture
def vgpu(monkeypatch):
    monkeypatch.setattr(discovery, "_probe_gpus", lambda: ([], "real GPUs hidden by the test"))
    monkeypatch.setattr(discovery, "_virtual_gpus", 1)
    monkeypatch.setattr(_cuda_graph, "backend_factory", EmulatedCuda)
    monkeypatch.delenv(_cuda_graph.ENV, raising=False)
    EmulatedCuda.made = []


def _mlp(optimizer, use_resource=False, seed=3):
    """A two-layer classifier on /gpu:0: (graph, x, y, loss, train, [variables])."""
    g = gm.Graph()
    rng = np.random.RandomState(seed)
    with g.as_default(), gm.device("/gpu:0"):
        x = gm.placeholder(gm.float32, [None, 6], name="x")
        y = gm.placeholder(gm.int32, [None], name="y")
        w1 = gm.Variable(rng.randn(6, 8).astype(np.float32) * 0.5, name="w1",
                         use_resource=use_resource)
        b1 = gm.Variable(np.zeros(8, np.float32), name="b1", use_resource=use_resource)
        w2 = gm.Variable(rng.randn(8, 3).astype(np.float32) * 0.5, name="w2",
                         use_resource=use_resource)
        h = gm.nn.relu(gm.matmul(x, w1) + b1)
        logits = gm.matmul(h, w2)
        loss = gm.reduce_mean(gm.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=logits))
        train = optimizer().minimize(loss)
        init = gm.global_variables_initializer()
    return g, x, y, loss, train, init, [w1, b1, w2]


def _batches(n, batch=5, seed=0):
    rng = np.random.RandomState(seed)
    return [(rng.randn(batch, 6).astype(np.float32), rng.randint(0, 3, batch).astype(np.int32))
            for _ in range(n)]


def _train(cuda_graphs, optimizer, use_resource=False, batches=None, fetch_vars=False):
    g, x, y, loss, train, init, vs = _mlp(optimizer, use_resource)
    with g.as_default():
        fetches = [loss, train] + ([gm.identity(v) for v in vs] if fetch_vars else [])
    out = []
    with gm.Session(graph=g, cuda_graphs=cuda_graphs) as sess:
        sess.run(init)
        for bx, by in batches:
            out.append(sess.run(fetches, {x: bx, y: by}))
        final = sess.run(vs)
        status = sess.cuda_graph_status(fetches, {x: batches[0][0], y: batches[0][1]})
    return out, final, status


OPTIMIZERS = {
    "sgd": lambda: gm.train.GradientDescentOptimizer(0.1),
    "momentum": lambda: gm.train.MomentumOptimizer(0.1, 0.9),
    "adam": lambda: gm.train.AdamOptimizer(0.01),
}


@pytest.mark.parametrize("use_resource", [False, True], ids=["ref", "resource"])
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_graphed_training_matches_eager(vgpu, opt, use_resource):
    batches = _batches(6)
    eager, eager_final, _ = _train(False, OPTIMIZERS[opt], use_resource, batches)
    graphed, final, status = _train(True, OPTIMIZERS[opt], use_resource, batches)
    np.testing.assert_allclose([r[0] for r in graphed], [r[0] for r in eager], rtol=1e-6)
    for a, b in zip(final, eager_final):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert status["captured"] == 1 and status["failed"] == {}, status
    assert status["launches"] == 5  # run 1 warms the kernels eagerly; 2..6 replay the graph
    backend = EmulatedCuda.made[-1]
    assert backend.captures == 1 and backend.launches == 5


def test_losses_differ_between_steps(vgpu):
    """The replayed graph reads each run's feeds (not those it was captured with)."""
    graphed, _, _ = _train(True, OPTIMIZERS["sgd"], batches=_batches(4))
    losses = [r[0] for r in graphed]
    assert len(set(np.round(losses, 6))) == 4


@pytest.mark.parametrize("use_resource", [False, True], ids=["ref", "resource"])
def test_fetched_reads_keep_their_value_from_before_the_update(vgpu, use_resource):
    batches = _batches(4)
    eager, _, _ = _train(False, OPTIMIZERS["adam"], use_resource, batches, fetch_vars=True)
    graphed, _, status = _train(True, OPTIMIZERS["adam"], use_resource, batches,
                                fetch_vars=True)
    assert status["captured"] == 1
    for got, want in zip(graphed, eager):
        for a, b in zip(got[2:], want[2:]):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_each_feed_signature_gets_its_own_graph(vgpu):
    g, x, y, loss, train, init, vs = _mlp(OPTIMIZERS["sgd"])
    small, big = _batches(3, batch=4), _batches(3, batch=9, seed=1)
    with gm.Session(graph=g, cuda_graphs=True) as sess, \
            gm.Session(graph=g, cuda_graphs=False) as ref:
        sess.run(init)
        ref.run(init)
        for (a, b), (c, d) in zip(small, big):
            for s in (sess, ref):
                s.run(train, {x: a, y: b})
                s.run(train, {x: c, y: d})
        for got, want in zip(sess.run(vs), ref.run(vs)):
            np.testing.assert_allclose(got, want, rtol=1e-6)
        status = sess.cuda_graph_status(train, {x: small[0][0], y: small[0][1]})
    assert status["captured"] == 2
    assert sorted(s[0][0] for s in status["signatures"]) == [4, 9]


@pytest.mark.parametrize("use_resource", [False, True], ids=["ref", "resource"])
def test_a_variable_rebound_outside_the_graph_is_seen_by_it(vgpu, use_resource):
    """An assign run by another plan (or a restore) rebinds the variable to a new array; the
    next launch copies it into the buffer the graph was captured on."""
    batches = _batches(5)
    results = []
    for cuda_graphs in (True, False):
        g, x, y, loss, train, init, vs = _mlp(OPTIMIZERS["momentum"], use_resource)
        with g.as_default():
            reset = vs[0].assign(np.full((6, 8), 0.25, np.float32))
        with gm.Session(graph=g, cuda_graphs=cuda_graphs) as sess:
            sess.run(init)
            losses = [sess.run([loss, train], {x: a, y: b})[0] for a, b in batches[:3]]
            sess.run(reset)
            losses += [sess.run([loss, train], {x: a, y: b})[0] for a, b in batches[3:]]
            results.append((losses, sess.run(vs)))
            if cuda_graphs:
                a, b = batches[0]
                assert sess.cuda_graph_status([loss, train], {x: a, y: b})["launches"] == 4
    (lg, vg), (le, ve) = results
    np.testing.assert_allclose(lg, le, rtol=1e-6)
    for a, b in zip(vg, ve):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_saver_restore_between_graphed_steps(vgpu, tmp_path):
    batches = _batches(4)
    g, x, y, loss, train, init, vs = _mlp(OPTIMIZERS["sgd"])
    with g.as_default():
        saver = gm.train.Saver(vs)
    with gm.Session(graph=g, cuda_graphs=True) as sess:
        sess.run(init)
        prefix = saver.save(sess, str(tmp_path / "m"))
        first = [sess.run([loss, train], {x: a, y: b})[0] for a, b in batches]
        saver.restore(sess, prefix)
        again = [sess.run([loss, train], {x: a, y: b})[0] for a, b in batches]
        status = sess.cuda_graph_status([loss, train], {x: batches[0][0], y: batches[0][1]})
        assert status["captured"] == 1 and status["launches"] == 7
    np.testing.assert_allclose(again, first, rtol=1e-6)


@pytest.mark.parametrize("backend", [RefusingCuda, RefusingMidStep])
def test_refused_capture_changes_nothing_and_runs_eagerly(vgpu, monkeypatch, backend):
    monkeypatch.setattr(_cuda_graph, "backend_factory", backend)
    batches = _batches(4)
    eager, eager_final, _ = _train(False, OPTIMIZERS["adam"], True, batches)
    graphed, final, status = _train(True, OPTIMIZERS["adam"], True, batches)
    np.testing.assert_allclose([r[0] for r in graphed], [r[0] for r in eager], rtol=1e-6)
    for a, b in zip(final, eager_final):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert status["captured"] == 0
    (why,) = status["failed"].values()
    assert "cudaErrorStreamCapture" in why
    assert EmulatedCuda.made[-1].captures == 1  # tried once for the signature, not every run


def test_device_arrays_are_copies_of_the_graph_buffers(vgpu):
    g, x, y, loss, train, init, vs = _mlp(OPTIMIZERS["sgd"])
    with g.as_default():
        logits_like = gm.identity(gm.matmul(x, vs[0]))
    with gm.Session(graph=g, cuda_graphs=True, device_arrays=True) as sess:
        sess.run(init)
        (a, b), (c, d) = _batches(2)
        sess.run(logits_like, {x: a})
        first = sess.run(logits_like, {x: a})  # the captured run
        keep = first.copy()
        second = sess.run(logits_like, {x: c})
        assert sess.cuda_graph_status(logits_like, {x: a})["launches"] == 2
    np.testing.assert_array_equal(first, keep)  # not overwritten by the next launch
    assert not np.array_equal(first, second)


def test_fetching_a_feed_and_an_operation(vgpu):
    g, x, y, loss, train, init, vs = _mlp(OPTIMIZERS["sgd"])
    with gm.Session(graph=g, cuda_graphs=True) as sess:
        sess.run(init)
        for a, b in _batches(3):
            got_x, got_loss, none = sess.run([x, loss, train], {x: a, y: b})
            np.testing.assert_array_equal(got_x, a)
            assert none is None and np.isfinite(got_loss)
        assert sess.cuda_graph_status([x, loss, train], {x: a, y: b})["launches"] == 2


def test_environment_variable_turns_it_on(vgpu, monkeypatch):
    g, x, y, loss, train, init, vs = _mlp(OPTIMIZERS["sgd"])
    with gm.Session(graph=g) as sess:
        assert "off" in sess.cuda_graph_status(loss, {x: _batches(1)[0][0],
                                                      y: _batches(1)[0][1]})["reason"]
    monkeypatch.setenv(_cuda_graph.ENV, "1")
    with gm.Session(graph=g) as sess:
        sess.run(init)
        for a, b in _batches(3):
            sess.run(train, {x: a, y: b})
        assert sess.cuda_graph_status(train, {x: a, y: b})["captured"] == 1


def _reason(g, fetches, feed):
    with gm.Session(graph=g, cuda_graphs=True) as sess:
        sess.run(gm.global_variables_initializer()) if g.get_collection(
            gm.GraphKeys.GLOBAL_VARIABLES) else None
        for _ in range(3):
            sess.run(fetches, feed)
        return sess.cuda_graph_status(fetches, feed)


def test_random_ops_are_not_captured(vgpu):
    g = gm.Graph()
    with g.as_default(), gm.device("/gpu:0"):
        x = gm.placeholder(gm.float32, [4, 4])
        out = gm.nn.dropout(x, rate=0.5)
    status = _reason(g, out, {x: np.ones((4, 4), np.float32)})
    assert status["captured"] == 0 and "random" in status["reason"]


def test_a_cpu_step_is_not_captured(vgpu):
    g = gm.Graph()
    with g.as_default():
        x = gm.placeholder(gm.float32, [4])
        with gm.device("/gpu:0"):
            a = x * 2.0
        with gm.device("/cpu:0"):
            b = a + 1.0
    status = _reason(g, b, {x: np.ones(4, np.float32)})
    assert status["captured"] == 0 and "CPU:0" in status["reason"]


def test_a_feed_read_on_the_host_is_not_captured(vgpu):
    g = gm.Graph()
    with g.as_default(), gm.device("/gpu:0"):
        x = gm.placeholder(gm.float32, [None])
        shape = gm.placeholder(gm.int32, [2])
        out = gm.reshape(x, shape) * 2.0
    status = _reason(g, out, {x: np.arange(6, dtype=np.float32),
                              shape: np.array([2, 3], np.int32)})
    assert status["captured"] == 0 and "reads a feed in host memory" in status["reason"]


def test_loops_are_not_captured(vgpu):
    g = gm.Graph()
    with g.as_default(), gm.device("/gpu:0"):
        x = gm.placeholder(gm.float32, [3])
        out = gm.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2.0),
                            [gm.constant(0), x])[1]
    status = _reason(g, out, {x: np.ones(3, np.float32)})
    assert status["captured"] == 0 and "loops" in status["reason"]


def test_no_gpu_no_graph(monkeypatch):
    monkeypatch.setattr(discovery, "_probe_gpus", lambda: ([], "real GPUs hidden by the test"))
    monkeypatch.setattr(discovery, "_virtual_gpus", 0)
    g = gm.Graph()
    with g.as_default():
        x = gm.placeholder(gm.float32, [3])
        out = x + 1.0
    status = _reason(g, out, {x: np.ones(3, np.float32)})
    assert status["captured"] == 0 and "no GPU" in status["reason"]


def test_a_virtual_gpu_is_not_a_cuda_device(vgpu, monkeypatch):
    monkeypatch.setattr(_cuda_graph, "backend_factory", _cuda_graph.CupyBackend)
    graphed, _, status = _train(True, OPTIMIZERS["sgd"], batches=_batches(3))
    eager, _, _ = _train(False, OPTIMIZERS["sgd"], batches=_batches(3))
    np.testing.assert_allclose([r[0] for r in graphed], [r[0] for r in eager], rtol=1e-6)
    assert status["captured"] == 0 and "not a CUDA device" in status["reason"]


def test_uninitialized_variable_fails_the_same_way(vgpu):
    g, x, y, loss, train, init, vs = _mlp(OPTIMIZERS["sgd"])
    (a, b), = _batches(1)
    with gm.Session(graph=g, cuda_graphs=True) as sess:
        for _ in range(3):
            with pytest.raises(gm.errors.FailedPreconditionError, match="uninitialized"):
                sess.run(train, {x: a, y: b})
        status = sess.cuda_graph_status(train, {x: a, y: b})
    assert status["captured"] == 0
    assert any("no value on the GPU" in why for why in status["failed"].values())


def test_shape_arithmetic_on_the_host_is_captured_per_signature(vgpu):
    """A GPU value's shape read into host int32 arithmetic (a reshape's target; placement keeps
    Shape on the host) is fixed per feed signature: the step is captured, and each signature
    gets its own graph."""
    g = gm.Graph()
    with g.as_default():
        with gm.device("/gpu:0"):
            x = gm.placeholder(gm.float32, [None, 4])
            h = x * 2.0
            shape = gm.shape(h)
        with gm.device("/cpu:0"):
            flat = gm.stack([shape[0] * shape[1]])
        with gm.device("/gpu:0"):
            out = gm.reshape(h, flat) + 1.0
    with gm.Session(graph=g, cuda_graphs=True) as sess:
        rows = {r["node"]: r["assigned"] for r in sess.placement()}
        for n in (3, 5):
            a = np.arange(n * 4, dtype=np.float32).reshape(n, 4)
            for _ in range(3):
                np.testing.assert_array_equal(sess.run(out, {x: a}), a.reshape(-1) * 2 + 1)
        status = sess.cuda_graph_status(out, {x: a})
    assert rows[shape.op.name].endswith("CPU:0") and rows[flat.op.name].endswith("CPU:0")
    assert rows[out.op.name].endswith("GPU:0")
    assert status["captured"] == 2 and status["launches"] == 4, status  # 2 per signature


def test_concurrent_runs_of_a_graphed_step_match_serial_ones(vgpu):
    """Session.run is threadsafe in TF; a graphed step's buffers serve one run at a time."""
    import sys
    import threading

    g = gm.Graph()
    with g.as_default(), gm.device("/gpu:0"):
        x = gm.placeholder(gm.float32, [64, 32])
        w = gm.Variable(np.random.default_rng(1).normal(size=(32, 16)).astype(np.float32))
        out = gm.reduce_sum(gm.tanh(gm.matmul(x, w)), axis=1)
        init = gm.global_variables_initializer()
    inputs = [np.random.default_rng(i).normal(size=(64, 32)).astype(np.float32)
              for i in range(8)]
    with gm.Session(graph=g, cuda_graphs=True) as sess:
        sess.run(init)
        want = [np.tanh(a @ sess.run(w)).sum(axis=1) for a in inputs]
        for a in inputs[:2]:
            sess.run(out, {x: a})  # warm, then capture
        got = [None] * len(inputs)
        errors_seen = []

        def worker(k):
            try:
                for _ in range(20):
                    got[k] = sess.run(out, {x: inputs[k]})
            except Exception as e:  # noqa: BLE001  (reported below)
                errors_seen.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(inputs))]
        switch = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # threads interleave at every chance
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            sys.setswitchinterval(switch)
        status = sess.cuda_graph_status(out, {x: inputs[0]})
    assert not errors_seen
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    assert status["captured"] == 1 and status["launches"] == 1 + 8 * 20
