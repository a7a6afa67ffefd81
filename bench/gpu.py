"""GPU benchmarks: ``python -m bench.gpu [--only FIGURE,...] [--min-time S] [--rounds N]
[--virtual] [--small]``.

Three figures, each timed in one invocation with gmeta and with a reference on the same GPU:

- ``matmul``: a 4096x4096 float32 ``tf.matmul`` of two GPU-resident variables, fetched with
  ``Session(device_arrays=True)`` (no device-to-host copy is timed), against ``cupy.matmul`` on
  the same arrays. Target: gmeta at 80% or more of cupy's speed (time ratio <= 1.25).
- ``mnist_mlp_train``: one SGD step (lr 0.01) of the MNIST-size MLP of ``bench/workloads.py``
  (784-1024-1024-10, relu, sparse softmax cross-entropy, batch 512) built under ``/gpu:0``,
  against the same model in PyTorch (``torch.nn.Linear`` layers, ``torch.optim.SGD``).
- ``cnn_train``: one SGD step of a small CNN (28x28x1, batch 128: conv 5x5x32 SAME + relu +
  max-pool 2, conv 5x5x64 + relu + max-pool 2, dense 1024 relu, dense 10), NHWC in gmeta as in
  TensorFlow, NCHW in PyTorch.

Each gmeta figure runs twice: as is, and with ``Session(cuda_graphs=True)`` when this gmeta has
that keyword (else its rows say "cuda_graphs: not supported by this gmeta"). PyTorch starts from
gmeta's initial weights (converted to its layouts), so both report the same first-step loss
(``loss_step1``), and runs in float32 (TF32 off for cuBLAS and cuDNN, as gmeta computes in
float32). Both sides take the training batch from host memory each step, as a TF1 ``feed_dict``
loop does. Without PyTorch (or without CUDA in it) those rows say so.

Timing: warm-up calls, then batches of calls with the device synchronised before each clock
read (``measure_synced``), the median of 7 batches. Steps run asynchronously within a batch, as
a training loop does; nothing synchronises per call.

Placement is checked, not assumed: after building, ``Session.placement`` of the timed fetches
must put every MatMul / Conv2D / MaxPool node (and their gradients) on the GPU, else the figure
is an error row. Each gmeta row counts the step's nodes on the GPU and on the CPU (int32 shape
arithmetic stays on the host, as in TensorFlow).

Output: one JSON line per (implementation, figure, round), then a table with the ratios.
Without CuPy or a CUDA device: one JSON line ``{"skipped": ...}`` saying why, exit status 0.

``--virtual`` runs the gmeta workloads on a numpy-backed virtual GPU
(``gm.config.set_virtual_gpus``), real GPUs hidden, and the references on the CPU (numpy,
PyTorch on CPU): it exercises this suite's code on any machine; its rows are labelled
"virtual GPU (numpy)" and are not GPU figures. ``--small`` shrinks every workload (matmul 128,
MLP 784-64-64-10 batch 32, CNN depths 4/8, dense 32, batch 8).
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import platform
import sys
from collections import Counter
from typing import Callable, NamedTuple, Optional

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gmeta  # noqa: E402
from bench import workloads  # noqa: E402
from bench.timing import measure  # noqa: E402
from gmeta.devices import discovery  # noqa: E402

FIGURES = ("matmul", "mnist_mlp_train", "cnn_train")
VIRTUAL_LABEL = "virtual GPU (numpy)"
MATMUL_TARGET = 0.80  # gmeta's speed as a share of cupy's


class Sizes(NamedTuple):
    matmul: int  # n of the n x n matmul
    mlp: tuple  # layer widths
    mlp_batch: int
    cnn: tuple  # (conv1 depth, conv2 depth, dense units)
    cnn_batch: int


FULL = Sizes(4096, (784, 1024, 1024, 10), 512, (32, 64, 1024), 128)
SMALL = Sizes(128, (784, 64, 64, 10), 32, (4, 8, 32), 8)

_CONV_HEAVY = frozenset(["Conv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput", "MaxPool",
                         "MaxPoolGrad"])
HEAVY = {"matmul": frozenset(["MatMul"]), "mnist_mlp_train": frozenset(["MatMul"]),
         "cnn_train": frozenset(["MatMul"]) | _CONV_HEAVY}


def describe(figure: str, sizes: Sizes) -> str:
    if figure == "matmul":
        return f"{sizes.matmul}x{sizes.matmul} float32 matmul"
    if figure == "mnist_mlp_train":
        return f"MLP {'-'.join(map(str, sizes.mlp))}, batch {sizes.mlp_batch}, SGD step"
    c1, c2, dense = sizes.cnn
    return (f"CNN 28x28x1: conv5x5x{c1}+pool, conv5x5x{c2}+pool, dense {dense}, dense 10; "
            f"batch {sizes.cnn_batch}, SGD step")


# -- the gmeta graphs ------------------------------------------------------------------------------
class Built(NamedTuple):
    """One figure's graph: what a step runs and feeds, how to initialise it, its inputs."""

    fetches: object
    feed: Optional[dict]
    init: object
    init_feed: Optional[dict]
    loss: object  # the loss tensor (training figures) or None
    inputs: dict  # the numpy arrays the step computes on, by name


def build_matmul(tf, n: int, device: str, seed: int = 0) -> Built:
    """``tf.matmul(a, b)`` of two n x n float32 variables on ``device``, set from numpy inputs."""
    rng = np.random.default_rng(seed)
    a_np = rng.standard_normal((n, n), dtype=np.float32)
    b_np = rng.standard_normal((n, n), dtype=np.float32)
    with tf.device(device):
        pa = tf.placeholder(tf.float32, [n, n], name="a_init")
        pb = tf.placeholder(tf.float32, [n, n], name="b_init")
        a = tf.Variable(pa, name="a")
        b = tf.Variable(pb, name="b")
        product = tf.matmul(a, b, name="product")
        init = tf.variables_initializer([a, b])
    return Built(product, None, init, {pa: a_np, pb: b_np}, None, {"a": a_np, "b": b_np})


def _train(tf, logits, batch: int, classes: int, lr: float, x, x_np, seed: int):
    labels = tf.placeholder(tf.int32, [batch], name="labels")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                         logits=logits))
    train = tf.train.GradientDescentOptimizer(lr).minimize(loss)
    y = np.random.default_rng(seed).integers(0, classes, batch).astype(np.int32)
    init = tf.global_variables_initializer()
    return Built([train, loss], {x: x_np, labels: y}, init, None, loss, {"x": x_np, "y": y})


def build_mlp_train(tf, sizes, batch: int, device: str, lr: float = 0.01) -> Built:
    """The training step of ``bench/workloads.py`` (``_mlp`` + the same loss, SGD and data), with
    every node built under ``device``."""
    with tf.device(device):
        x, logits, x_np = workloads._mlp(tf, list(sizes), batch)
        return _train(tf, logits, batch, sizes[-1], lr, x, x_np, seed=1)


def build_cnn_train(tf, depths, batch: int, device: str, lr: float = 0.01) -> Built:
    """conv 5x5 (SAME) + bias + relu + 2x2 max-pool, twice; dense relu; dense 10; NHWC.
    Initial values as ``bench/workloads.py`` draws them: truncated normal, stddev 1/sqrt(fan-in),
    zero biases."""
    c1, c2, dense = depths
    with tf.device(device):
        x = tf.placeholder(tf.float32, [batch, 28, 28, 1], name="images")
        h = x
        for i, (c_in, c_out) in enumerate([(1, c1), (c1, c2)]):
            with tf.name_scope(f"conv{i}"):
                w = tf.Variable(tf.truncated_normal([5, 5, c_in, c_out],
                                                    stddev=1.0 / math.sqrt(25 * c_in)),
                                name="filter")
                b = tf.Variable(tf.zeros([c_out]), name="biases")
                h = tf.nn.conv2d(h, w, strides=[1, 1, 1, 1], padding="SAME")
                h = tf.nn.relu(tf.nn.bias_add(h, b))
                h = tf.nn.max_pool(h, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1],
                                   padding="VALID")
        h = tf.reshape(h, [batch, 7 * 7 * c2])
        for i, (n_in, n_out) in enumerate([(7 * 7 * c2, dense), (dense, 10)]):
            with tf.name_scope(f"dense{i}"):
                w = tf.Variable(tf.truncated_normal([n_in, n_out],
                                                    stddev=1.0 / math.sqrt(n_in)),
                                name="weights")
                b = tf.Variable(tf.zeros([n_out]), name="biases")
                h = tf.matmul(h, w) + b
                if i == 0:
                    h = tf.nn.relu(h)
        x_np = np.random.default_rng(0).random((batch, 28, 28, 1), dtype=np.float32)
        return _train(tf, h, batch, 10, lr, x, x_np, seed=1)


def build(tf, figure: str, sizes: Sizes, device: str) -> Built:
    if figure == "matmul":
        return build_matmul(tf, sizes.matmul, device)
    if figure == "mnist_mlp_train":
        return build_mlp_train(tf, sizes.mlp, sizes.mlp_batch, device)
    return build_cnn_train(tf, sizes.cnn, sizes.cnn_batch, device)


# -- placement -------------------------------------------------------------------------------------
def _device_type(assigned: str) -> str:
    return assigned.rsplit("/", 1)[-1].split(":")[1]  # ".../device:GPU:0" -> "GPU"


def placement_summary(rows: list, heavy: frozenset) -> dict:
    """Counts of a step's nodes per device type, of its heavy nodes on the GPU, and the op types
    left on the CPU."""
    on_gpu = [r for r in rows if _device_type(r["assigned"]) == "GPU"]
    on_cpu = [r for r in rows if _device_type(r["assigned"]) != "GPU"]
    heavy_rows = [r for r in rows if r["op"] in heavy]
    return {"nodes_gpu": len(on_gpu), "nodes_cpu": len(on_cpu),
            "heavy_nodes": len(heavy_rows),
            "heavy_on_gpu": sum(_device_type(r["assigned"]) == "GPU" for r in heavy_rows),
            "heavy_ops": dict(sorted(Counter(r["op"] for r in heavy_rows).items())),
            "gpu_virtual": sorted({bool(r["virtual"]) for r in on_gpu}),
            "cpu_ops": dict(sorted(Counter(r["op"] for r in on_cpu).items()))}


def check_placement(rows: list, heavy: frozenset, virtual: bool) -> dict:
    """``placement_summary`` of ``rows``, after checking that every heavy node runs on a GPU of
    the wanted kind (virtual or real); raises RuntimeError naming the nodes that do not."""
    summary = placement_summary(rows, heavy)
    if not summary["heavy_nodes"]:
        raise RuntimeError(f"the step has no {'/'.join(sorted(heavy))} node")
    wrong = [r for r in rows if r["op"] in heavy and (
        _device_type(r["assigned"]) != "GPU" or bool(r["virtual"]) != virtual)]
    if wrong:
        kind = "a virtual GPU" if virtual else "a real GPU"
        listing = "; ".join(f"{r['node']} ({r['op']}) -> {r['assigned']}"
                            f"{' (virtual)' if r['virtual'] else ''} [{r['reason']}"
                            f"{': ' + r['detail'] if r['detail'] else ''}]" for r in wrong[:5])
        raise RuntimeError(f"{len(wrong)} heavy node(s) not on {kind}: {listing}")
    return summary


# -- where the run goes ----------------------------------------------------------------------------
class Target(NamedTuple):
    virtual: bool
    device: str  # the gmeta device string the graphs are built under
    label: str  # the GPU's name, or VIRTUAL_LABEL
    sync: Callable[[], None]  # waits for the device (a no-op on the virtual GPU)


def _no_sync():
    pass


def gpu_target() -> tuple:
    """``(Target on real GPU:0, None)``, or ``(None, why there is none)``."""
    discovery.set_virtual_gpus(0)  # only real GPUs, whatever GMETA_VIRTUAL_GPUS says
    inv = discovery.inventory()
    if not any(d.real_gpu for d in inv.gpus):
        return None, inv.gpu_reason or "no usable GPU"
    import cupy

    name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    return Target(False, "/gpu:0", name, lambda: cupy.cuda.Device().synchronize()), None


def virtual_target(hide_real=True) -> Target:
    """One numpy-backed virtual GPU. ``hide_real``: real GPUs are hidden from this process where
    CUDA has not started yet (``CUDA_VISIBLE_DEVICES=""``); they are not used in any case, as the
    graphs ask for the virtual GPU's index."""
    if hide_real and "cupy" not in sys.modules:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    discovery.set_virtual_gpus(1)
    gpu = [d for d in discovery.inventory().gpus if d.virtual][0]
    return Target(True, f"/gpu:{gpu.index}", VIRTUAL_LABEL, _no_sync)


# -- timing ----------------------------------------------------------------------------------------
def measure_synced(fn, sync, min_time=0.5, repeats=7, warmup=5) -> dict:
    """``bench.timing.measure`` with ``sync()`` (the device's) before every clock read."""
    return measure(fn, min_time=min_time, repeats=repeats, warmup=warmup, sync=sync)


# -- gmeta -----------------------------------------------------------------------------------------
def supports_cuda_graphs(tf=gmeta) -> bool:
    return "cuda_graphs" in inspect.signature(tf.Session.__init__).parameters


def _host(x):
    return x.get() if hasattr(x, "get") else np.asarray(x)


class GmetaStep(NamedTuple):
    step: Callable  # runs one step; returns the fetched values (device arrays on a real GPU)
    session: object
    built: Built
    placement: dict  # check_placement's summary


def gmeta_step(tf, figure: str, sizes: Sizes, target: Target, cuda_graphs=False) -> GmetaStep:
    """Builds ``figure`` in a new graph on ``target``, initialises it and checks its placement."""
    graph = tf.Graph()
    with graph.as_default():
        built = build(tf, figure, sizes, target.device)
        kwargs = {"device_arrays": True}
        if cuda_graphs:
            kwargs["cuda_graphs"] = True
        sess = tf.Session(graph=graph, **kwargs)
        sess.run(built.init, built.init_feed)
        rows = sess.placement(built.fetches, built.feed)
        summary = check_placement(rows, HEAVY[figure], target.virtual)
    fetches, feed = built.fetches, built.feed
    return GmetaStep(lambda: sess.run(fetches, feed), sess, built, summary)


def run_gmeta(tf, figure, sizes, target, min_time, cuda_graphs, shared) -> dict:
    g = gmeta_step(tf, figure, sizes, target, cuda_graphs)
    row = {"placement": g.placement}
    try:
        if not cuda_graphs and figure != "matmul":  # the initial values, for PyTorch
            with g.session.graph.as_default():
                shared["weights"] = [_host(v) for v in g.session.run(tf.trainable_variables())]
        first = g.step()
        if figure == "matmul":
            row.update(_matmul_check(_host(first), g.built.inputs, shared))
        else:
            row["loss_step1"] = float(_host(first[1]))
        row.update(measure_synced(g.step, target.sync, min_time))
        row["transfers_per_step"] = g.session.transfers(g.built.fetches,
                                                        g.built.feed)["copies_per_step"]
        if cuda_graphs and hasattr(g.session, "cuda_graph_status"):
            status = g.session.cuda_graph_status(g.built.fetches, g.built.feed)
            row["cuda_graphs"] = {k: status.get(k) for k in ("captured", "launches", "reason",
                                                               "failed")}
        if cuda_graphs and figure == "matmul":  # the replayed graph's product, checked too
            err = _matmul_check(_host(g.step()), g.built.inputs, shared)
            row["max_rel_err_vs_numpy_after_timing"] = err["max_rel_err_vs_numpy"]
    finally:
        g.session.close()
    return row


def _matmul_check(result, inputs, shared) -> dict:
    """How far the timed product is from numpy's on the same inputs (computed once a round)."""
    ref = shared.get("matmul_ref")
    if ref is None:
        ref = shared["matmul_ref"] = inputs["a"] @ inputs["b"]
    err = float(np.max(np.abs(result - ref)) / np.max(np.abs(ref)))
    if not err < 1e-4:
        raise RuntimeError(f"the matmul result differs from numpy's: max relative error {err:g}")
    return {"max_rel_err_vs_numpy": err}


# -- references ------------------------------------------------------------------------------------
class Skip(Exception):
    """An implementation that cannot run here; its message says why."""


def _import_torch():
    try:
        import torch
    except ImportError:
        raise Skip("torch not installed") from None
    except Exception as e:  # a broken install fails at import
        raise Skip(f"torch failed to import: {e}") from None
    return torch


def tf_to_torch(figure: str, arrays: list, sizes: Sizes) -> list:
    """gmeta's trainable variables (creation order) in PyTorch's parameter order and layouts:
    ``Linear.weight`` is (out, in); ``Conv2d.weight`` is OIHW where TF's filter is HWIO; the
    first dense layer of the CNN reads a channels-first flatten (c, h, w) where TF's reads
    (h, w, c)."""
    out = []
    for i, a in enumerate(arrays):
        if a.ndim == 1:
            out.append(a)
        elif a.ndim == 4:
            out.append(a.transpose(3, 2, 0, 1))
        elif figure == "cnn_train" and i == 4:  # dense0's weights, after the convolutions
            c2 = sizes.cnn[1]
            out.append(a.reshape(7, 7, c2, -1).transpose(2, 0, 1, 3).reshape(49 * c2, -1).T)
        else:
            out.append(a.T)
    return [np.ascontiguousarray(a) for a in out]


def torch_model(torch, figure: str, sizes: Sizes):
    """The figure's model as ``torch.nn.Sequential``, initialised as gmeta's is (truncated normal
    within 2 stddev, stddev 1/sqrt(fan-in); zero biases)."""
    nn = torch.nn
    if figure == "mnist_mlp_train":
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes.mlp, sizes.mlp[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(sizes.mlp) - 2:
                layers.append(nn.ReLU())
    else:
        c1, c2, dense = sizes.cnn
        layers = [nn.Conv2d(1, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                  nn.Linear(7 * 7 * c2, dense), nn.ReLU(), nn.Linear(dense, 10)]
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.zero_()
            else:
                std = 1.0 / math.sqrt(p[0].numel())  # fan-in: in, or in * kh * kw
                nn.init.trunc_normal_(p, std=std, a=-2 * std, b=2 * std)
    return model


def run_torch(figure, sizes, target, min_time, shared) -> dict:
    torch = _import_torch()
    if target.virtual:
        dev, label = torch.device("cpu"), "CPU (torch)"
        sync = _no_sync
    else:
        if not torch.cuda.is_available():
            raise Skip(f"torch {torch.__version__} has no CUDA device "
                       f"(built for CUDA {torch.version.cuda})")
        dev, label = torch.device("cuda:0"), torch.cuda.get_device_name(0)
        sync = torch.cuda.synchronize
        torch.backends.cuda.matmul.allow_tf32 = False  # float32, as gmeta computes
        torch.backends.cudnn.allow_tf32 = False
    model = torch_model(torch, figure, sizes)
    row = {"device": label, "tf32": False, "weights": "torch's own init"}
    if "weights" in shared:
        with torch.no_grad():
            for p, a in zip(model.parameters(), tf_to_torch(figure, shared["weights"], sizes)):
                p.copy_(torch.from_numpy(a))
        row["weights"] = "gmeta's initial values"
    model = model.to(dev)
    # the same batch as gmeta's (NCHW for the CNN), in host memory, copied over each step
    built = _data_only(gmeta, figure, sizes)
    x_np = built["x"] if figure == "mnist_mlp_train" else built["x"].transpose(0, 3, 1, 2)
    x_host = torch.from_numpy(np.ascontiguousarray(x_np))
    y_host = torch.from_numpy(built["y"].astype(np.int64))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = torch.nn.functional.cross_entropy

    def step():
        x, y = x_host.to(dev), y_host.to(dev)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    row["loss_step1"] = float(step().item())
    row.update(measure_synced(step, sync, min_time))
    return row


def _data_only(tf, figure, sizes) -> dict:
    """The numpy batch a figure's gmeta graph is fed (built on the CPU, not run)."""
    with tf.Graph().as_default():
        return build(tf, figure, sizes, "/cpu:0").inputs


def run_matmul_reference(sizes, target, min_time, shared) -> dict:
    inputs = _data_only(gmeta, "matmul", sizes)
    a_np, b_np = inputs["a"], inputs["b"]
    if target.virtual:
        row = {"device": "CPU (numpy)"}
        a, b, xp = a_np, b_np, np
    else:
        import cupy as xp

        row = {"device": target.label}
        a, b = xp.asarray(a_np), xp.asarray(b_np)
    row.update(_matmul_check(_host(xp.matmul(a, b)), inputs, shared))
    row.update(measure_synced(lambda: xp.matmul(a, b), target.sync, min_time))
    return row


# -- the run ---------------------------------------------------------------------------------------
def _versions() -> dict:
    out = {"gmeta": gmeta.__version__}
    for mod in ("cupy", "torch"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = m.__version__
    return out


def _impls(figure: str, target: Target) -> list:
    """(impl key, runner) for one figure: gmeta, gmeta with CUDA graphs, the reference."""
    ref = "numpy" if target.virtual and figure == "matmul" else \
        "cupy" if figure == "matmul" else "torch"
    return [("gmeta", "gmeta"), ("gmeta cuda_graphs", "gmeta_cg"), (ref, ref)]


def run_figure(figure, sizes, target, min_time, round_, machine) -> list:
    """The rows of one figure in one round: gmeta, gmeta + cuda_graphs, the reference."""
    shared: dict = {}
    rows = []
    for impl, kind in _impls(figure, target):
        row = {"impl": impl, "figure": figure, "size": describe(figure, sizes),
               "device": target.label, "virtual": target.virtual, "round": round_,
               "machine": machine}
        try:
            if kind == "gmeta":
                row.update(run_gmeta(gmeta, figure, sizes, target, min_time, False, shared))
            elif kind == "gmeta_cg":
                if not supports_cuda_graphs():
                    raise Skip("cuda_graphs: not supported by this gmeta")
                row.update(run_gmeta(gmeta, figure, sizes, target, min_time, True, shared))
            elif kind == "torch":
                row.update(run_torch(figure, sizes, target, min_time, shared))
            else:
                row.update(run_matmul_reference(sizes, target, min_time, shared))
        except Skip as e:
            row["skipped"] = str(e)
        except Exception as e:  # one broken implementation must not hide the others' figures
            row["error"] = f"{type(e).__name__}: {e}"
        if target.virtual:
            row["note"] = "virtual GPU run: not a GPU figure"
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(FIGURES), help="comma-separated figures")
    p.add_argument("--min-time", type=float, default=0.5,
                   help="seconds per figure and implementation")
    p.add_argument("--rounds", type=int, default=1,
                   help="run every implementation this many times, alternating; the table shows "
                        "each figure's median round")
    p.add_argument("--virtual", action="store_true",
                   help="gmeta on a numpy-backed virtual GPU, references on the CPU: checks this "
                        "suite's code anywhere; not GPU figures")
    p.add_argument("--small", action="store_true", help="small sizes of every workload")
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        p.error(f"unknown figure(s): {', '.join(unknown)}; known: {', '.join(FIGURES)}")
    sizes = SMALL if args.small else FULL
    if args.virtual:
        target = virtual_target()
    else:
        target, why = gpu_target()
        if target is None:
            print(json.dumps({"skipped": why, "hint": "--virtual runs this suite's code on a "
                              "numpy-backed virtual GPU (not GPU figures)"}), flush=True)
            return 0
    machine = f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    rows = []
    for round_ in range(max(1, args.rounds)):
        for name in names:
            rows.extend(run_figure(name, sizes, target, args.min_time, round_, machine))
    _table(rows, names, target)
    return 1 if any("error" in r for r in rows) else 0


def _median_rounds(rows) -> dict:
    by = {}
    for key in dict.fromkeys((r["impl"], r["figure"]) for r in rows):
        runs = [r for r in rows if (r["impl"], r["figure"]) == key]
        timed = sorted((r for r in runs if "median_s" in r), key=lambda r: r["median_s"])
        by[key] = timed[len(timed) // 2] if timed else runs[0]
    return by


def _fmt(s: float) -> str:
    return f"{s * 1e3:.3f} ms" if s >= 1e-3 else f"{s * 1e6:.1f} µs"


def _table(rows, names, target):
    by = _median_rounds(rows)
    versions = _versions()
    print()
    if target.virtual:
        print(f"VIRTUAL GPU (numpy-backed): gmeta on {VIRTUAL_LABEL}, references on the CPU. "
              "These are not GPU figures.")
    else:
        print(f"GPU: {target.label}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    cols = ["gmeta", "gmeta cuda_graphs", "reference"]
    print(f"{'figure':<17}" + "".join(f"{c:>20}" for c in cols) +
          f"{'gmeta/ref':>11}{'graphs/ref':>11}  nodes GPU/CPU")
    notes = []
    for n in names:
        cells, times = [], []
        impls = [i for i, _ in _impls(n, target)]
        for impl in impls:
            r = by.get((impl, n))
            label = "" if impl.startswith("gmeta") else impl + " "
            if r is None:
                cells.append("-")
                times.append(None)
            elif "median_s" in r:
                cells.append(label + _fmt(r["median_s"]))
                times.append(r["median_s"])
            else:
                why = r.get("skipped") or r.get("error")
                notes.append(f"{n} / {impl}: {why}")
                cells.append(label + ("skipped" if "skipped" in r else "error"))
                times.append(None)
        ratios = [f"{t / times[2]:.2f}x" if t and times[2] else "-" for t in times[:2]]
        pl = by.get(("gmeta", n), {}).get("placement")
        nodes = f"{pl['nodes_gpu']}/{pl['nodes_cpu']}" if pl else "-"
        print(f"{n:<17}" + "".join(f"{c:>20}" for c in cells) + f"{ratios[0]:>11}"
              f"{ratios[1]:>11}  {nodes}")
        if n == "matmul" and times[0] and times[2] and not target.virtual:
            share = times[2] / times[0]
            verdict = "met" if share >= MATMUL_TARGET else "MISSED"
            notes.insert(0, f"matmul: gmeta at {share:.0%} of cupy's speed (target >= "
                            f"{MATMUL_TARGET:.0%}): {verdict}")
        graphs = by.get((impls[1], n), {}).get("cuda_graphs")
        if graphs and not graphs.get("captured"):
            notes.append(f"{n} / {impls[1]}: ran eagerly, not captured: {graphs.get('reason')}"
                         + (f" {graphs['failed']}" if graphs.get("failed") else ""))
        losses = [by.get((i, n), {}).get("loss_step1") for i in (impls[0], impls[2])]
        if all(v is not None for v in losses):
            notes.append(f"{n}: first-step loss gmeta {losses[0]:.5f}, {impls[2]} "
                         f"{losses[1]:.5f} (same initial weights and batch)")
    print("(x/ref: time ratio, lower is better; 1.25x is 80% of the reference's speed. "
          "nodes: the gmeta step's nodes on the GPU / on the CPU)")
    rounds = len({r["round"] for r in rows})
    if rounds > 1:
        print(f"(each cell: the median of {rounds} alternating rounds)")
    for line in notes:
        print(line)


if __name__ == "__main__":
    sys.exit(main())
