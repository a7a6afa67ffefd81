"""gmeta's real-GPU code paths (CuPy kernels, copies, fused kernels, CUDA-graph capture) run
against the numpy-backed fake CuPy of tests/fake_cuda.py, which refuses host arrays in device
operations and counts host synchronisations, as CuPy and CUDA do.

Cases that fail because of a gmeta bug go into ``XFAIL`` (eager runs) or ``GRAPH_XFAIL``
(CUDA-graph runs), strict: fixing gmeta flips them. A failure due to the fake itself must be
fixed in tests/fake_cuda.py instead.
"""

from __future__ import annotations

import functools
import sys

import numpy as np
import pytest

import gmeta as gm
from gmeta import executor
from tests.devices.test_kernels_on_devices import GPU_UNCHECKED, _check, check_unchecked
from tests.fake_cuda import DeviceArray, fake_cuda
from tests.test_cuda_graph import OPTIMIZERS, _batches, _mlp
from tests.test_kernel_cases import CASES, _build, _expected, _feed_dict

# case name -> why it fails on a real GPU (a gmeta bug); none found so far.
XFAIL: dict = {}



# case name -> why its graphed run (Session(cuda_graphs=True)) fails (a gmeta bug); none now.
# This harness found two, fixed since: a scalar feed's static buffer was filled from a 1-d copy
# (CupyBackend.upload), and a strided fetched value was cloned with a contiguous-only copy.
GRAPH_XFAIL: dict = {}
# Captures CUDA refuses because a kernel reads a device value on the host (not bugs: the plan
# runs eagerly, as designed; each costs one host synchronisation per step). case -> the read.
GRAPH_REFUSED = {
    # int64 division/modulo by zero and negative integer exponents are checked with bool()
    "floordiv_i64_bcast": "bool", "floormod_i64_bcast": "bool", "pow_i64_python_exp": "bool",
    # Where(condition): the output size is the number of true elements
    "where_1arg_1d_bool": "cupy.argwhere", "where_1arg_bool": "cupy.argwhere",
    "where_1arg_f32": "cupy.argwhere", "where_1arg_none_true": "cupy.argwhere",
}


def _params(xfail=XFAIL, names=None):
    out = []
    for name in sorted(CASES) if names is None else names:
        marks = [pytest.mark.xfail(strict=True, reason=xfail[name])] if name in xfail else []
        out.append(pytest.param(name, marks=marks))
    return out


@pytest.fixture
def host_outputs(monkeypatch):
    """Every kernel bound to the fake CuPy checked: its outputs must be device arrays (a numpy
    array or numpy scalar for a tensor on the GPU is a missing copy). Yields the violations."""
    seen = []
    bind = executor.bind_kernel

    def bind_checked(op, device_type, xp, state, device=None):
        fn = bind(op, device_type, xp, state, device)
        if getattr(xp, "__name__", "") != "cupy" or not callable(fn):
            return fn

        @functools.wraps(fn)
        def run(*args):
            out = fn(*args)
            for v in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(v, (np.ndarray, np.generic)) and not isinstance(v, DeviceArray) \
                        and v.dtype.kind != "O":
                    seen.append(f"{op.type} '{op.name}' returned {type(v).__name__}")
            return out

        return run

    monkeypatch.setattr(executor, "bind_kernel", bind_checked)
    yield seen


@pytest.mark.parametrize("name", _params())
def test_case_on_a_fake_real_gpu(name, host_outputs):
    with fake_cuda(1) as fake:
        if name in GPU_UNCHECKED:
            check_unchecked(name)
        else:
            sess = _check(name)
            assert all(r["assigned"].endswith(("GPU:0", "CPU:0")) for r in sess.placement())
        assert fake.capturing is None
    assert not host_outputs, host_outputs


@pytest.mark.parametrize("name", _params(GRAPH_XFAIL, sorted(
    n for n, c in CASES.items() if not c.raises)))
def test_case_in_a_cuda_graph_on_a_fake_gpu(name):
    """Each case run twice by Session(cuda_graphs=True): the second run captures the step and
    launches the graph. The fake's launch replays nothing (its values are not TF's), so only
    that the run succeeds, the fetched dtypes and shapes, and why a capture was refused are
    checked."""
    case = CASES[name]
    g, feeds, outs = _build(case)
    fd = _feed_dict(case, feeds)
    with fake_cuda(1) as fake:
        with gm.Session(graph=g, cuda_graphs=True) as sess:
            sess.run(outs, fd)
            got = sess.run(outs, fd)
            status = sess.cuda_graph_status(outs, fd)
    for i, value in enumerate(got):
        want = _expected(case, i)
        value = np.asarray(value)
        assert (value.dtype, value.shape) == (want.dtype, want.shape) or want.dtype == object
    if name in GRAPH_REFUSED:
        assert fake.refused == [GRAPH_REFUSED[name]] and status["captured"] == 0, status
    else:
        assert not fake.refused and status["failed"] == {}, status
        assert status["captured"] == fake.captures == fake.graph_launches


# -- training --------------------------------------------------------------------------------
def _train(optimizer, n_steps, **session_kwargs):
    g, x, y, loss, train, init, vs = _mlp(optimizer)
    losses = []
    with gm.Session(graph=g, **session_kwargs) as sess:
        sess.run(init)
        for bx, by in _batches(n_steps):
            losses.append(float(np.asarray(sess.run([loss, train], {x: bx, y: by})[0])))
        final = [np.array(np.asarray(v)) for v in sess.run(vs)]
        rows = sess.placement()
    return losses, final, rows


@pytest.mark.parametrize("opt, fused", [
    ("sgd", {"gmeta_apply_gradient_descent": 3, "gmeta_relu_grad": 1}),
    ("adam", {"gmeta_apply_adam": 3, "gmeta_relu_grad": 1})])
def test_training_on_the_fake_gpu_equals_the_cpu(opt, fused):
    cpu_losses, cpu_final, cpu_rows = _train(OPTIMIZERS[opt], 4)
    assert all(r["assigned"].endswith("CPU:0") for r in cpu_rows)
    with fake_cuda(1) as fake:
        losses, final, rows = _train(OPTIMIZERS[opt], 4)
        launches = list(fake.launches)
    assert any(r["assigned"].endswith("GPU:0") and r["op"] == "MatMul" for r in rows)
    np.testing.assert_allclose(losses, cpu_losses, rtol=1e-5)
    for a, b in zip(final, cpu_final):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for name, per_step in fused.items():
        # pick() launches each kernel once on one element (the build check), then per step
        assert launches.count(name) == 1 + 4 * per_step, (name, launches)


def test_host_synchronisations_per_training_step():
    """An MLP step (relu, sparse softmax cross-entropy, Adam) synchronises with the host 0
    times: the labels are not checked on the device (TF's GPU kernel does not either), shapes
    are read from array metadata, and Adam's power accumulators stay on the device. The fetched
    loss stays on the device here (``device_arrays=True``); a fetch to numpy adds one ``.get()``
    (also 1 with the default Session on real CuPy: ``_to_user`` calls ``.get()``; the fake's
    DeviceArray is an ndarray subclass, so there it is returned as it is)."""
    with fake_cuda(1) as fake:
        g, x, y, loss, train, init, vs = _mlp(OPTIMIZERS["adam"])
        batches = _batches(4)
        with gm.Session(graph=g, device_arrays=True) as sess:
            sess.run(init)
            sess.run([loss, train], {x: batches[0][0], y: batches[0][1]})  # warm-up (plan)
            fake.reset_counters()
            for bx, by in batches[1:]:
                out = sess.run([loss, train], {x: bx, y: by})
            per_step = fake.total_syncs / 3
            uploads = fake.uploads / 3
            assert isinstance(out[0], DeviceArray)
            float(out[0])  # the user reads the loss: the one sync of a step
        assert dict(fake.syncs) == {"float": 1}
    assert per_step == 0, "no sync inside the step (besides the user's read of the loss)"
    # host-to-device copies (not syncs): the feeds x and y, and the batch size (int32
    # gradients/Mean_grad/Prod, computed on the host from the fed shape) for a Cast on the GPU
    assert uploads == 3


def test_a_traced_step_waits_for_each_gpu_kernel_and_an_untraced_one_for_none():
    """FULL_TRACE on a GPU times each kernel and copy to its completion: one stream
    synchronisation per recorded GPU kernel call or host-to-device copy (the device's time, not
    the launch's); the untraced plan of the same step still makes none."""
    with fake_cuda(1) as fake:
        g, x, y, loss, train, init, vs = _mlp(OPTIMIZERS["sgd"])
        (bx, by), = _batches(1)
        with gm.Session(graph=g, device_arrays=True) as sess:
            sess.run(init)
            sess.run([loss, train], {x: bx, y: by})
            fake.reset_counters()
            md = gm.RunMetadata()
            sess.run([loss, train], {x: bx, y: by}, run_metadata=md,
                     options=gm.RunOptions(trace_level=gm.RunOptions.FULL_TRACE))
            traced_syncs = dict(fake.syncs)
            fake.reset_counters()
            sess.run([loss, train], {x: bx, y: by})
            assert fake.total_syncs == 0
    gpu = [ds for ds in md.step_stats.dev_stats if ds.device.endswith("GPU:0")]
    memcpy = [ds for ds in md.step_stats.dev_stats if ds.device.endswith("GPU:0/memcpy")]
    assert len(gpu) == len(memcpy) == 1
    copies = {gm.timeline.op_and_inputs(ns)[0] for ns in memcpy[0].node_stats}
    assert copies == {"MEMCPYHtoD"}  # the feeds (and the host's batch size) going in
    calls = len(gpu[0].node_stats) + len(memcpy[0].node_stats)
    names = {ns.node_name for ns in gpu[0].node_stats}
    assert {"MatMul", "MatMul_1", "Relu", "gradients/MatMul_grad/MatMul_1",
            "gradients/Relu_grad/ReluGrad", "GradientDescent/update_w1/ApplyGradientDescent",
            "SparseSoftmaxCrossEntropyWithLogits/SparseSoftmaxCrossEntropyWithLogits"} <= names
    assert traced_syncs == {"stream.synchronize": calls}
    alloc = {o.tensor_description.allocation_description.allocator_name
             for ns in gpu[0].node_stats for o in ns.output}
    assert alloc == {"GPU_0"}


def test_cuda_graph_capture_of_a_training_step_is_not_refused():
    """Session(cuda_graphs=True) through gmeta's CupyBackend on the fake: the capture of the
    step is accepted (no host synchronisation inside it, every CuPy call gmeta makes exists).
    The fake runs kernels eagerly during the capture and its Graph.launch runs nothing, so the
    values of graphed runs are not compared with eager ones (tests/test_cuda_graph.py does that
    with a faithful emulation of the backend)."""
    with fake_cuda(1) as fake:
        g, x, y, loss, train, init, vs = _mlp(OPTIMIZERS["adam"])
        batches = _batches(4)
        with gm.Session(graph=g, cuda_graphs=True) as sess:
            sess.run(init)
            for bx, by in batches[:2]:
                sess.run([loss, train], {x: bx, y: by})
            at_capture = (fake.uploads_in_capture, fake.uploads_beside_capture)  # run 2
            fake.reset_counters()
            for bx, by in batches[2:]:
                sess.run([loss, train], {x: bx, y: by})
            # a replayed run: the feeds x and y uploaded, one launch, and one synchronisation
            # (CupyBackend.synchronize, once the launch's fetches are copied out)
            assert dict(fake.syncs) == {"stream.synchronize": 2} and fake.uploads == 4
            status = sess.cuda_graph_status([loss, train], {x: batches[0][0],
                                                            y: batches[0][1]})
    assert status["captured"] == 1 and status["failed"] == {}, status
    assert status["launches"] == 3  # run 1 eager, run 2 captures and launches, 3..4 launch
    assert fake.captures == 1 and fake.graph_launches == 3 and not fake.refused
    # host-to-device copies recorded into the graph would read freed host memory on replay:
    # none is. The feeds are uploaded before each launch; the batch size (Mean_grad/Prod, fixed
    # per feed signature) once, at the capture, on a side stream (CupyBackend.outside)
    assert at_capture == (0, 1)


# -- more real-GPU paths: two GPUs, checkpoints --------------------------------------------
def _two_device_model():
    g = gm.Graph()
    rng = np.random.RandomState(1)
    with g.as_default():
        x = gm.placeholder(gm.float32, [None, 4], name="x")
        with gm.device("/gpu:0"):
            w = gm.Variable(rng.randn(4, 5).astype(np.float32), name="w")
            h = gm.nn.tanh(gm.matmul(x, w))
        with gm.device("/gpu:1"):
            v = gm.Variable(rng.randn(5, 2).astype(np.float32), name="v")
            out = gm.reduce_sum(gm.matmul(h, v) ** 2)
        train = gm.train.MomentumOptimizer(0.05, 0.9).minimize(out)
        init = gm.global_variables_initializer()
    return g, x, out, train, init, [w, v]


def _run_two_devices(n_gpus):
    g, x, out, train, init, vs = _two_device_model()
    feed = {x: np.random.RandomState(2).randn(3, 4).astype(np.float32)}
    with gm.Session(graph=g) as sess:
        sess.run(init)
        losses = [float(np.asarray(sess.run([out, train], feed)[0])) for _ in range(3)]
        final = [np.array(np.asarray(a)) for a in sess.run(vs)]
        rows = {r["node"]: r["assigned"] for r in sess.placement()}
        edges = sess.transfers([out, train], feed)["edges"]
    return losses, final, rows, edges


def test_a_model_split_over_two_fake_gpus_equals_the_cpu():
    cpu_losses, cpu_final, _, _ = _run_two_devices(0)
    with fake_cuda(2) as fake:
        losses, final, rows, edges = _run_two_devices(2)
    assert rows["MatMul"].endswith("GPU:0") and rows["MatMul_1"].endswith("GPU:1")
    assert any(e["from"].endswith("GPU:0") and e["to"].endswith("GPU:1") for e in edges)
    np.testing.assert_allclose(losses, cpu_losses, rtol=1e-5)
    for a, b in zip(final, cpu_final):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # one build check per (kernel, dtype), then one launch per variable and step
    assert fake.launches.count("gmeta_apply_momentum") == 1 + 3 * 2
    assert fake.launches.count("gmeta_tanh_grad") == 1 + 3


def test_each_gpu_reads_only_its_own_arrays():
    """Kernels are built inside their GPU's CUDA context (_device_steps.building_on), so plan-time
    constants of a node on GPU:1 live on GPU:1 (this harness found them on GPU:0 before)."""
    with fake_cuda(2) as fake:
        _run_two_devices(2)
    assert fake.cross_device_ops == 0  # each GPU's kernels run on that GPU's arrays


def test_save_and_restore_variables_of_the_fake_gpu(tmp_path):
    with fake_cuda(1):
        g, x, y, loss, train, init, vs = _mlp(OPTIMIZERS["adam"])
        with g.as_default():
            saver = gm.train.Saver()
        bx, by = _batches(1)[0]
        with gm.Session(graph=g) as sess:
            sess.run(init)
            sess.run(train, {x: bx, y: by})
            want = [np.array(np.asarray(v)) for v in sess.run(vs)]
            path = saver.save(sess, str(tmp_path / "model"))
            sess.run(train, {x: bx, y: by})
            saver.restore(sess, path)
            got = [np.array(np.asarray(v)) for v in sess.run(vs)]
            sess.run(train, {x: bx, y: by})  # the restored (host-read) values train on
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


# -- the fake itself -------------------------------------------------------------------------
def test_the_fake_refuses_host_arrays_and_counts_syncs():
    with fake_cuda(1) as fake:
        import cupy as cp

        a = cp.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
        for mix in (lambda: a + np.ones(3, np.float32), lambda: np.ones(3) * a,
                    lambda: cp.add(a, np.array(2.0)), lambda: cp.exp(np.ones(2)),
                    lambda: np.concatenate([a, np.ones((2, 3))]),
                    lambda: cp.stack([a, np.ones((2, 3))])):
            with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
                mix()
        assert isinstance(a * 2 + np.float32(1), DeviceArray)
        assert isinstance(a.sum(), DeviceArray) and a.sum().ndim == 0
        assert fake.total_syncs == 0
        assert int(a[0, 1]) == 1 and float(a.max()) == 5 and a.tolist()[1] == [3, 4, 5]
        assert type(cp.asnumpy(a)) is np.ndarray and type(a.get()) is np.ndarray
        assert dict(fake.syncs) == {"int": 1, "float": 1, "tolist": 1, "asnumpy": 1, "get": 1}
        stream = cp.cuda.Stream(non_blocking=True)
        with stream:
            stream.begin_capture()
            b = a * 2  # kernels are fine in a capture
            with pytest.raises(RuntimeError, match="cudaErrorStreamCaptureUnsupported"):
                b.item()
            with pytest.raises(RuntimeError, match="Invalidated"):
                stream.end_capture()
    assert sys.modules.get("cupy") is not fake.module


def test_the_real_gpu_sweep_runs_clean_on_the_fake_gpu():
    """tests/devices/test_kernels_on_devices.py's sweep for real GPUs (skipped without one),
    run here against the fake: it must pass, so that on a GPU machine it reports GPU problems
    only (it once stopped at the first error case, which TF's GPU kernels do not raise)."""
    from tests.devices.test_kernels_on_devices import test_every_case_on_each_real_gpu

    with fake_cuda(1):
        test_every_case_on_each_real_gpu()


def test_a_host_memory_argument_made_on_the_gpu_is_copied_to_the_host():
    """Range takes start/limit/delta in host memory (as in TF): a start computed on the GPU is
    copied to the host for it (one device-to-host copy), not read in the kernel as a device
    array; a constant bound is copied once, when the plan is compiled."""
    with fake_cuda(1) as fake:
        g = gm.Graph()
        with g.as_default(), gm.device("/gpu:0"):
            x = gm.placeholder(gm.float32, [])
            start = x * 2.0
            out = gm.range(start, 10.0, 1.5)
        with gm.Session(graph=g, device_arrays=True) as sess:
            got = sess.run(out, {x: np.float32(1.0)})
            edges = sess.transfers(out, {x: np.float32(1.0)})["edges"]
            rows = {r["node"]: r["assigned"] for r in sess.placement(out, {x: np.float32(1.0)})}
        np.testing.assert_allclose(np.asarray(got), np.arange(2.0, 10.0, 1.5, dtype=np.float32))
        assert rows[out.op.name].endswith("GPU:0") and rows[start.op.name].endswith("GPU:0")
        to_host = [e for e in edges if e["consumer"] == out.op.name]
        assert [(e["tensor"], e["from"], e["to"]) for e in to_host] == [
            (start.name, "/device:GPU:0", "/device:CPU:0")]
        assert fake.syncs.get("item", 0) == 0  # the kernel read host values
