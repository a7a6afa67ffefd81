"""Placement benchmarks: ``python -m bench.placement [--virtual-gpus N] [--json OUT.json]
[--png OUT.png] [--only MODEL,...] [--min-time S]``.

One SGD training step of three models -- the seed MLP (28-128-32-10, batch 100), an MNIST-size
MLP (784-1024-1024-10, batch 512) and a small CNN (28x28x1: conv 5x5x16, relu, max-pool 2; conv
5x5x32, relu, max-pool 2; dense 10; batch 64) -- under each placement strategy:

- ``cpu``: everything on CPU:0 (``ConfigProto(device_count={'GPU': 0})``).
- ``default``: no device requested; default placement puts nodes on GPU:0 when there is one.
- ``recorded``: built under ``/gpu:0``, exported and imported with its device strings (honoured).
- ``remapped``: recorded on ``/job:worker/task:0/device:GPU:2`` and ``GPU:3`` (alternate layers),
  imported unedited: soft placement maps GPU:i to GPU:(i mod n) on the n GPUs present.
- ``remapped-map``: the same file imported with ``device_map`` rules GPU:2 -> GPU:0, GPU:3 -> GPU:1.
- ``split``: alternate layers on ``/gpu:0`` and ``/gpu:1``, built here.

Gradients are colocated with their forward ops (``colocate_gradients_with_ops=True``), as
multi-GPU TF models do. A strategy that needs more GPUs than the inventory has is reported as
skipped, with the reason. Each row gives the median step time (``bench.timing.measure``), the
cross-device copies and bytes moved per step (``Session.transfers``) and the devices the step
ran on (``Session.placement``). Without a real GPU (and no ``--virtual-gpus``) the run uses 2
numpy-backed virtual GPUs and says so: step times then show the cost of placement and copies,
not GPU speed.

Output: one JSON line per row, then a table; ``--json`` writes the rows with a machine and
inventory header, ``--png`` a bar chart (``bench/png.py``) whose layout the JSON's ``chart``
entry documents.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import sys
import tempfile
from collections import Counter
from typing import Callable, NamedTuple, Optional

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gmeta  # noqa: E402
from bench.png import PALETTE, bar_chart  # noqa: E402
from bench.timing import measure  # noqa: E402
from gmeta.devices import discovery  # noqa: E402
from gmeta.framework.op_def_library import apply_op  # noqa: E402


# -- models ----------------------------------------------------------------------------------------
class Model(NamedTuple):
    input_shape: tuple  # one example's shape
    batch: int
    layers: list  # layer(tf, h) -> h; layer i is built under the strategy's device for i
    classes: int = 10
    about: str = ""


def _dense(n_out, relu=True):
    def layer(tf, h):
        if len(h.shape) > 2:
            h = tf.reshape(h, [int(h.shape[0]), -1])
        n_in = int(h.shape[1])
        w = tf.Variable(tf.truncated_normal([n_in, n_out], stddev=1.0 / math.sqrt(n_in)),
                        name="weights")
        b = tf.Variable(tf.zeros([n_out]), name="biases")
        h = tf.matmul(h, w) + b
        return tf.nn.relu(h) if relu else h

    return layer


def _conv_pool(k, depth):
    """conv k x k x depth (SAME) + bias + relu + 2x2 max-pool. gmeta has the Conv2D and MaxPool
    kernels and gradients but no ``tf.nn.conv2d`` / ``max_pool`` wrappers: the ops are added
    with ``apply_op``, which builds the same NodeDefs."""

    def layer(tf, h):
        c_in = int(h.shape[-1])
        w = tf.Variable(tf.truncated_normal([k, k, c_in, depth],
                                            stddev=1.0 / math.sqrt(k * k * c_in)), name="filter")
        b = tf.Variable(tf.zeros([depth]), name="biases")
        h = apply_op("Conv2D", input=h, filter=w, strides=[1, 1, 1, 1], padding="SAME")
        h = tf.nn.relu(tf.nn.bias_add(h, b))
        return apply_op("MaxPool", input=h, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1],
                        padding="VALID")

    return layer


MODELS = {
    "seed_mlp": Model((28,), 100, [_dense(128), _dense(32), _dense(10, relu=False)],
                      about="the seed's MLP 28-128-32-10, batch 100"),
    "mnist_mlp": Model((784,), 512, [_dense(1024), _dense(1024), _dense(10, relu=False)],
                       about="MNIST-size MLP 784-1024-1024-10, batch 512"),
    "small_cnn": Model((28, 28, 1), 64, [_conv_pool(5, 16), _conv_pool(5, 32),
                                         _dense(10, relu=False)],
                       about="28x28x1, conv5x5x16+pool, conv5x5x32+pool, dense 10; batch 64"),
}


def _on(tf, device):
    return tf.device(device) if device else contextlib.nullcontext()


def build(tf, model: Model, device_of) -> tuple:
    """Builds ``model``'s training step in the default graph, layer ``i`` (its variables, forward
    ops and, colocated, their gradients) under ``device_of(i)`` (None: no request); the inputs go
    with layer 0, labels, loss and optimizer with the last layer.

    Returns ``(train op name, loss tensor name, {placeholder name: value})``: names, so that the
    step can be found again in a graph imported from an export of this one.
    """
    last = len(model.layers) - 1
    with _on(tf, device_of(0)):
        x = tf.placeholder(tf.float32, [model.batch, *model.input_shape], name="images")
    h = x
    for i, layer in enumerate(model.layers):
        with _on(tf, device_of(i)), tf.name_scope(f"layer{i}"):
            h = layer(tf, h)
    with _on(tf, device_of(last)):
        labels = tf.placeholder(tf.int32, [model.batch], name="labels")
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=h), name="loss")
        train = tf.train.GradientDescentOptimizer(0.01).minimize(
            loss, colocate_gradients_with_ops=True)
    rng = np.random.default_rng(0)
    feed = {x.name: rng.random((model.batch, *model.input_shape), dtype=np.float32),
            labels.name: rng.integers(0, model.classes, model.batch).astype(np.int32)}
    return train.name, loss.name, feed


# -- strategies ------------------------------------------------------------------------------------
class Strategy(NamedTuple):
    device_of: Callable[[int], Optional[str]]  # layer index -> requested device
    gpus: int = 0  # GPUs the strategy needs; fewer: skipped
    config: Optional[dict] = None  # ConfigProto fields
    recorded: bool = False  # export the graph to a .meta file and import it
    device_map: Optional[dict] = None  # import_meta_graph's device_map
    about: str = ""


def _worker_gpu(i):
    return f"/job:worker/task:0/device:GPU:{2 + i % 2}"


STRATEGIES = {
    "cpu": Strategy(lambda i: None, config={"device_count": {"GPU": 0}},
                    about="CPU only: ConfigProto(device_count={'GPU': 0})"),
    "default": Strategy(lambda i: None, about="no device requests: default placement"),
    "recorded": Strategy(lambda i: "/gpu:0", gpus=1, recorded=True,
                         about="built under /gpu:0, exported and imported: honoured"),
    "remapped": Strategy(_worker_gpu, gpus=1, recorded=True,
                         about="recorded on /job:worker GPU:2 and GPU:3 (alternate layers), "
                               "imported unedited: soft placement maps GPU:i to GPU:(i mod n)"),
    "remapped-map": Strategy(_worker_gpu, gpus=2, recorded=True,
                             device_map={"/device:GPU:2": "/device:GPU:0",
                                         "/device:GPU:3": "/device:GPU:1"},
                             about="the same recording imported with device_map "
                                   "GPU:2 -> GPU:0, GPU:3 -> GPU:1"),
    "split": Strategy(lambda i: f"/gpu:{i % 2}", gpus=2,
                      about="alternate layers on /gpu:0 and /gpu:1"),
}


# -- running -------------------------------------------------------------------------------------
def _graph_for(tf, model, strategy, workdir, tag):
    """The graph of ``model``'s step under ``strategy`` (built, or exported then imported)."""
    g = tf.Graph()
    with g.as_default():
        names = build(tf, model, strategy.device_of)
    if strategy.recorded:
        path = os.path.join(workdir, f"{tag}.meta")
        tf.train.export_meta_graph(path, graph=g)
        g = tf.Graph()
        with g.as_default():
            tf.train.import_meta_graph(path, device_map=strategy.device_map)
    return g, names


def _device_labels(rows) -> list:
    seen = {}
    for r in rows:
        seen.setdefault(r["assigned"], r["virtual"])
    short = [(name.rsplit("/", 1)[-1].replace("device:", ""), v) for name, v in seen.items()]
    return [s + (" (virtual)" if v else "") for s, v in sorted(short)]


def run_one(tf, model_name, strategy_name, min_time, workdir) -> dict:
    """Times one (model, strategy) step; returns its row."""
    model, strategy = MODELS[model_name], STRATEGIES[strategy_name]
    config = tf.ConfigProto(**(strategy.config or {}))
    inv = discovery.inventory(config)
    row = {"model": model_name, "strategy": strategy_name, "about": strategy.about,
           "inventory": [d.label() for d in inv.devices]}
    if len(inv.gpus) < strategy.gpus:
        return {**row, "status": "skipped",
                "reason": f"needs {strategy.gpus} GPU(s); the inventory has {len(inv.gpus)}"
                          + (f" ({inv.gpu_reason})" if inv.gpu_reason else "")}
    g, (train_name, loss_name, feed_names) = _graph_for(tf, model, strategy, workdir,
                                                        f"{model_name}-{strategy_name}")
    with g.as_default():
        init = tf.global_variables_initializer()
        fetches = [g.get_operation_by_name(train_name), g.get_tensor_by_name(loss_name)]
        feed = {g.get_tensor_by_name(k): v for k, v in feed_names.items()}
        sess = tf.Session(config=config)
        try:
            sess.run(init)
            timing = measure(lambda: sess.run(fetches, feed), min_time=min_time, repeats=7,
                             warmup=3)
            moved = sess.transfers(fetches, feed)
            placed = sess.placement(fetches, feed)
        finally:
            sess.close()
    used = _device_labels(placed)
    return {**row, "status": "ok", **timing,
            "copies_per_step": moved["copies_per_step"],
            "bytes_per_step": moved["bytes_per_step"],
            "mb_per_step": moved["bytes_per_step"] / 2 ** 20,
            "devices": used, "virtual": any(r["virtual"] for r in placed),
            "nodes": len(placed), "reasons": dict(Counter(r["reason"] for r in placed))}


def _choose_virtual_gpus(requested) -> tuple:
    """Sets the virtual GPU count; returns ``(count, real GPU count)``."""
    discovery.set_virtual_gpus(0)
    real = len([d for d in discovery.inventory().gpus if d.real_gpu])
    n = requested if requested is not None else (0 if real else 2)
    discovery.set_virtual_gpus(n)
    return n, real


def _gpu_note(n_virtual, n_real) -> str:
    if n_virtual and not n_real:
        return (f"GPUs: {n_virtual} VIRTUAL (numpy-backed) GPU(s), no real GPU here: step times "
                "show the cost of placement and cross-device copies, not GPU speed")
    if n_virtual:
        return (f"GPUs: {n_real} real + {n_virtual} virtual (numpy-backed); rows on virtual "
                "GPUs are marked virtual")
    if n_real:
        return f"GPUs: {n_real} real GPU(s)"
    return "GPUs: none (--virtual-gpus 0 and no real GPU): GPU strategies fall back or skip"


def chart_layout(models, strategies) -> dict:
    """What ``--png`` draws, in order (the image has no text)."""
    return {"panels": ["median step time (top)", "MB moved between devices per step (bottom)"],
            "groups_left_to_right": models, "bars_in_each_group": strategies,
            "bar_colours_rgb": {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(strategies)},
            "scale": "each group scaled to its own largest value (dotted line); a grey stub "
                     "is a skipped strategy"}


def write_png(path, rows, models, strategies) -> None:
    ok = [r for r in rows if r["status"] == "ok"]
    panels = [{(r["model"], r["strategy"]): r[k] for r in ok} for k in ("median_s",
                                                                         "bytes_per_step")]
    with open(path, "wb") as f:
        f.write(bar_chart(panels, models, strategies))


def _table(rows):
    print(f"\n{'model':<11}{'strategy':<14}{'step':>11}{'copies':>8}{'moved/step':>13}  devices")
    for r in rows:
        head = f"{r['model']:<11}{r['strategy']:<14}"
        if r["status"] != "ok":
            print(head + f"{'skipped':>11}  {r['reason']}")
            continue
        mb = r["bytes_per_step"] / 2 ** 20
        moved = f"{mb:.2f} MB" if mb >= 0.01 else f"{r['bytes_per_step'] / 1024:.1f} KB"
        print(head + f"{r['median_s'] * 1e3:>8.2f} ms{r['copies_per_step']:>8}{moved:>13}  "
              + ", ".join(r["devices"]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.placement", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--virtual-gpus", type=int, default=None, metavar="N",
                   help="numpy-backed virtual GPUs to add (default: 2 when there is no real "
                        "GPU, else 0)")
    p.add_argument("--json", metavar="OUT", help="write the rows with a machine header here")
    p.add_argument("--png", metavar="OUT", help="write the bar chart here")
    p.add_argument("--only", default=",".join(MODELS), help="comma-separated models")
    p.add_argument("--strategies", default=",".join(STRATEGIES),
                   help="comma-separated strategies")
    p.add_argument("--min-time", type=float, default=0.5, help="seconds per row")
    args = p.parse_args(argv)
    models = [n for n in args.only.split(",") if n]
    strategies = [n for n in args.strategies.split(",") if n]
    for kind, names, known in (("model", models, MODELS), ("strategy", strategies, STRATEGIES)):
        unknown = [n for n in names if n not in known]
        if unknown:
            p.error(f"unknown {kind}(s): {', '.join(unknown)}; known: {', '.join(known)}")
    if args.virtual_gpus is not None and args.virtual_gpus < 0:
        p.error("--virtual-gpus must be >= 0")

    n_virtual, n_real = _choose_virtual_gpus(args.virtual_gpus)
    inv = discovery.inventory()
    note = _gpu_note(n_virtual, n_real)
    machine = f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"# {note}", flush=True)
    print("# inventory: " + "; ".join(inv.describe().splitlines()), flush=True)

    rows = []
    workdir = tempfile.mkdtemp(prefix="gmeta-bench-placement-")
    try:
        for m in models:
            for s in strategies:
                row = {"impl": f"gmeta {gmeta.__version__}", "machine": machine,
                       **run_one(gmeta, m, s, args.min_time, workdir)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _table(rows)
    print(f"({note})")
    if args.json:
        doc = {"impl": f"gmeta {gmeta.__version__}", "machine": machine, "gpus": note,
               "virtual_gpus": n_virtual, "real_gpus": n_real,
               "inventory": inv.describe().splitlines(),
               "models": {m: MODELS[m].about for m in models},
               "strategies": {s: STRATEGIES[s].about for s in strategies},
               "chart": chart_layout(models, strategies), "rows": rows}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    if args.png:
        write_png(args.png, rows, models, strategies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
