"""The GPU benchmark suite (bench/gpu.py), on a machine without a GPU: its skip line, a whole
``--virtual --small`` run, and the builders it times (on a numpy-backed virtual GPU)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import gmeta as tf
from bench import gpu
from gmeta.devices import discovery

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAVE_TORCH = importlib.util.find_spec("torch") is not None


def _run(args, code=None):
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "bench.gpu", *args]
    env = {k: v for k, v in os.environ.items() if k != discovery.VIRTUAL_GPUS_ENV}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc, rows


@pytest.fixture
def virtual(monkeypatch):
    """One virtual GPU for this test (the setting is put back after it)."""
    monkeypatch.setattr(discovery, "_virtual_gpus", discovery._virtual_gpus)
    return gpu.virtual_target(hide_real=False)


# -- the command -----------------------------------------------------------------------------------
def test_without_cupy_prints_one_skip_line_and_exits_0():
    # cupy made unimportable, whatever this machine has
    proc, rows = _run(None, "import sys; sys.modules['cupy'] = None\n"
                            "from bench.gpu import main; raise SystemExit(main([]))")
    assert proc.returncode == 0, proc.stderr
    assert len(rows) == 1 and "cupy is not installed" in rows[0]["skipped"]
    assert proc.stdout.strip().count("\n") == 0


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="cupy is installed")
def test_module_without_cupy_skips():
    proc, rows = _run([])
    assert proc.returncode == 0, proc.stderr
    assert rows == [{"skipped": rows[0]["skipped"], "hint": rows[0]["hint"]}]
    assert "cupy is not installed" in rows[0]["skipped"]


@pytest.fixture(scope="module")
def virtual_run():
    return _run(["--virtual", "--small", "--min-time", "0.01", "--rounds", "2"])


def test_virtual_small_runs_every_workload(virtual_run):
    proc, rows = virtual_run
    by = {}
    for r in rows:
        assert r["virtual"] is True and r["device"] != "" and "not a GPU figure" in r["note"]
        by.setdefault((r["impl"], r["figure"]), []).append(r)
    assert {f for _, f in by} == set(gpu.FIGURES)
    assert all(len(v) == 2 for v in by.values())  # two rounds
    for figure in gpu.FIGURES:
        for r in by[("gmeta", figure)]:
            assert r["device"] == gpu.VIRTUAL_LABEL
            assert math.isfinite(r["median_s"]) and r["median_s"] > 0, r
            pl = r["placement"]
            assert pl["heavy_nodes"] > 0 and pl["heavy_on_gpu"] == pl["heavy_nodes"], pl
            assert pl["nodes_gpu"] >= pl["heavy_nodes"] and pl["gpu_virtual"] == [True]
            assert pl["nodes_cpu"] == sum(pl["cpu_ops"].values())
        ref = "numpy" if figure == "matmul" else "torch"
        for r in by[(ref, figure)]:
            if ref == "torch" and not HAVE_TORCH:
                assert r["skipped"] == "torch not installed"
            else:
                assert r["median_s"] > 0 and not r["device"].startswith("virtual"), r
    assert set(by[("gmeta", "cnn_train")][0]["placement"]["heavy_ops"]) >= {
        "Conv2D", "Conv2DBackpropFilter", "MaxPool", "MaxPoolGrad", "MatMul"}
    assert by[("gmeta", "matmul")][0]["max_rel_err_vs_numpy"] < 1e-5
    out = proc.stdout
    assert "VIRTUAL GPU (numpy-backed)" in out and "not GPU figures" in out
    assert "median of 2 alternating rounds" in out
    errors = [r for r in rows if "error" in r]
    assert proc.returncode == (1 if errors else 0), proc.stderr


def test_virtual_cuda_graphs_rows(virtual_run):
    _, rows = virtual_run
    graphed = [r for r in rows if r["impl"] == "gmeta cuda_graphs"]
    assert len(graphed) == 2 * len(gpu.FIGURES)
    if not gpu.supports_cuda_graphs():
        assert all(r["skipped"] == "cuda_graphs: not supported by this gmeta" for r in graphed)
        return
    for r in graphed:
        assert r["median_s"] > 0, r
        # nothing is captured on a numpy-backed GPU; the reason says so
        assert r["cuda_graphs"]["captured"] == 0 and r["cuda_graphs"]["reason"], r


# -- what is timed ---------------------------------------------------------------------------------
def test_matmul_step_computes_numpys_product(virtual):
    g = gpu.gmeta_step(tf, "matmul", gpu.SMALL, virtual)
    a, b = g.built.inputs["a"], g.built.inputs["b"]
    assert a.shape == (128, 128) and a.dtype == np.float32
    out = g.step()
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-4)
    assert g.placement["heavy_ops"] == {"MatMul": 1} and g.placement["heavy_on_gpu"] == 1


@pytest.mark.parametrize("figure", ["mnist_mlp_train", "cnn_train"])
def test_training_builders_reduce_the_loss(virtual, figure):
    g = gpu.gmeta_step(tf, figure, gpu.SMALL, virtual)
    losses = [float(g.step()[1]) for _ in range(8)]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0], losses
    assert sum(b < a for a, b in zip(losses, losses[1:])) >= 6, losses  # one fixed batch


def test_placement_check_rejects_heavy_nodes_off_the_gpu(virtual):
    with tf.Graph().as_default():
        built = gpu.build_matmul(tf, 4, "/cpu:0")
        sess = tf.Session()
        rows = sess.placement(built.fetches)
    with pytest.raises(RuntimeError, match=r"1 heavy node\(s\) not on a virtual GPU: product"):
        gpu.check_placement(rows, gpu.HEAVY["matmul"], virtual=True)
    summary = gpu.placement_summary(rows, gpu.HEAVY["matmul"])
    assert summary["nodes_gpu"] == 0 and summary["heavy_on_gpu"] == 0


def test_measure_synced_syncs_before_each_clock_read():
    calls = []
    r = gpu.measure_synced(lambda: calls.append("f"), lambda: calls.append("s"), min_time=0.0,
                           repeats=3, warmup=2)
    assert r["calls"] == 3 and r["median_s"] > 0
    assert calls == ["f", "f", "s", "f", "s"] + ["s", "f", "s"] * 3


# -- the PyTorch side's weights ----------------------------------------------------------------
def _np_forward_torch_layout(figure, params, x):
    """A numpy stand-in for the PyTorch model of ``figure`` (NCHW, PyTorch's weight layouts)."""
    h = x
    params = list(params)
    if figure == "cnn_train":
        for _ in range(2):
            w, b = params.pop(0), params.pop(0)  # OIHW, (O,)
            pad = np.pad(h, ((0, 0), (0, 0), (2, 2), (2, 2)))
            win = np.lib.stride_tricks.sliding_window_view(pad, (5, 5), axis=(2, 3))
            h = np.maximum(np.einsum("bchwij,ocij->bohw", win, w) + b[None, :, None, None], 0)
            n, c, hh, ww = h.shape
            h = h.reshape(n, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))
        h = h.reshape(h.shape[0], -1)  # channels-first flatten, as torch.nn.Flatten
    while params:
        w, b = params.pop(0), params.pop(0)  # (out, in), (out,)
        h = h @ w.T + b
        if params:
            h = np.maximum(h, 0)
    return h


def _xent(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


@pytest.mark.parametrize("figure", ["mnist_mlp_train", "cnn_train"])
def test_weights_in_torch_layout_give_gmetas_first_loss(virtual, figure):
    g = gpu.gmeta_step(tf, figure, gpu.SMALL, virtual)
    with g.session.graph.as_default():
        weights = g.session.run(tf.trainable_variables())
    loss = float(g.step()[1])
    params = gpu.tf_to_torch(figure, weights, gpu.SMALL)
    x = g.built.inputs["x"]
    if figure == "cnn_train":
        assert params[0].shape == (4, 1, 5, 5) and params[4].shape == (32, 7 * 7 * 8)
        x = x.transpose(0, 3, 1, 2)
    logits = _np_forward_torch_layout(figure, params, x.astype(np.float64))
    assert _xent(logits, g.built.inputs["y"]) == pytest.approx(loss, rel=1e-5)


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_torch_models_match_the_parameter_layouts():
    import torch

    for figure in ("mnist_mlp_train", "cnn_train"):
        model = gpu.torch_model(torch, figure, gpu.SMALL)
        n = 6 if figure == "mnist_mlp_train" else 8
        assert len(list(model.parameters())) == n


def test_gpu_table_reports_ratios_and_the_matmul_target(capsys):
    """The table of a real-GPU run, from made-up rows (no GPU here)."""
    target = gpu.Target(False, "/gpu:0", "NVIDIA H100 80GB HBM3", lambda: None)
    pl = {"nodes_gpu": 60, "nodes_cpu": 11}

    def row(impl, figure, median, **kw):
        return {"impl": impl, "figure": figure, "median_s": median, "round": 0, **kw}

    rows = [row("gmeta", "matmul", 2.5e-3, placement=pl), row("cupy", "matmul", 2.4e-3),
            row("gmeta cuda_graphs", "matmul", 2.45e-3, cuda_graphs={"captured": 1}),
            row("gmeta", "mnist_mlp_train", 1e-3, placement=pl, loss_step1=2.3),
            row("gmeta cuda_graphs", "mnist_mlp_train", 4e-4,
                cuda_graphs={"captured": 0, "reason": "a reason"}),
            {"impl": "torch", "figure": "mnist_mlp_train", "round": 0,
             "skipped": "torch not installed"}]
    gpu._table(rows, ["matmul", "mnist_mlp_train"], target)
    out = capsys.readouterr().out
    assert "GPU: NVIDIA H100 80GB HBM3" in out and "VIRTUAL" not in out
    assert "cupy 2.400 ms" in out and "1.04x" in out and "1.02x" in out
    assert "matmul: gmeta at 96% of cupy's speed (target >= 80%): met" in out
    assert "mnist_mlp_train / torch: torch not installed" in out
    assert "mnist_mlp_train / gmeta cuda_graphs: ran eagerly, not captured: a reason" in out


def test_the_gpu_branch_runs_on_a_fake_cuda_device(capsys, monkeypatch):
    """The suite's real-GPU path (gpu_target, device syncs, device-array fetches) run against
    tests/fake_cuda.py: every gmeta row is placed on the (fake) real GPU, the matmul matches
    numpy's, and each step is captured as a CUDA graph with nothing refused. The fake's times
    mean nothing (its Graph.launch runs nothing), only that this code runs."""
    from gmeta.devices import discovery
    from tests.fake_cuda import fake_cuda

    monkeypatch.setattr(discovery, "_virtual_gpus", discovery._virtual_gpus)  # main sets it
    with fake_cuda(1):
        rc = gpu.main(["--small", "--min-time", "0.01"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()
            if line.startswith("{")]
    assert rc == 0
    gmeta_rows = [r for r in rows if r["impl"].startswith("gmeta")]
    assert len(gmeta_rows) == 2 * len(gpu.FIGURES)
    for r in gmeta_rows:
        assert r["virtual"] is False and r["placement"]["gpu_virtual"] == [False], r
        assert r["placement"]["heavy_on_gpu"] == r["placement"]["heavy_nodes"], r
    for r in (r for r in gmeta_rows if r["impl"] == "gmeta cuda_graphs"):
        assert r["cuda_graphs"]["captured"] == 1 and not r["cuda_graphs"]["failed"], r
    matmul = [r for r in rows if r["figure"] == "matmul"]
    assert all(r["max_rel_err_vs_numpy"] < 1e-6 for r in matmul)
