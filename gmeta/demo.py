"""The README's main job: the seed model trained with its layers on two GPUs, saved, then
imported on a laptop without them, placed there (every remap with its reason) and trained on.

The seed is TensorFlow's "Exporting and Importing a MetaGraph" guide: an MNIST-style MLP
(28 -> hidden1 128 -> hidden2 32 -> softmax_linear 10) built with the tf.compat.v1 API, here
spelled ``import gmeta as tf``. ``build_seed`` is that model; the TF fixture scripts
(tests/fixtures/seed_model.py) load it from this file. The demo adds a softmax cross-entropy loss,
a global step and plain SGD, and trains on a small synthetic problem (10 noisy class prototypes in
28 dimensions, fed into the seed's ``images`` constant) so that the loss has something to learn.
On a machine without two GPUs the first phase runs on numpy-backed virtual GPUs, and says so.
"""

from __future__ import annotations

import collections
import math
import os
import tempfile
import time

import numpy as np

# the workstation's layer placement: hidden1 and softmax_linear on GPU:0, hidden2 on GPU:1
LAYER_DEVICES = {"hidden1": "/device:GPU:0", "hidden2": "/device:GPU:1",
                 "softmax_linear": "/device:GPU:0"}
STEPS = 60  # per phase
BATCH = 100
LEARNING_RATE = 0.05


def build_seed(tf):
    """Builds the seed graph into the default graph (``tf`` is gmeta or
    ``tensorflow.compat.v1``); returns its important tensors and ops by name. The TF fixture
    scripts (tests/fixtures/seed_model.py) load this very function."""
    images = tf.constant(1.2, tf.float32, shape=[100, 28])
    layers = {}
    x = images
    for scope, n_in, n_out in (("hidden1", 28, 128), ("hidden2", 128, 32),
                               ("softmax_linear", 32, 10)):
        with tf.name_scope(scope):
            weights = tf.Variable(
                tf.truncated_normal([n_in, n_out], stddev=1.0 / math.sqrt(float(n_in))),
                name="weights")
            biases = tf.Variable(tf.zeros([n_out]), name="biases")
            x = tf.matmul(x, weights) + biases
            if scope != "softmax_linear":
                x = tf.nn.relu(x)
                layers[scope] = x
            else:
                tf.add_to_collection("logits", x)
        layers[f"{scope}/weights"], layers[f"{scope}/biases"] = weights, biases
    init_all_op = tf.global_variables_initializer()
    variables = [layers[f"{s}/{v}"] for s in ("hidden1", "hidden2", "softmax_linear")
                 for v in ("weights", "biases")]
    return {"images": images, **layers, "logits": x, "init_all_op": init_all_op,
            "variables": variables}


def _data(n=2000, noise=2.0, seed=0):
    """A synthetic 10-class problem in the seed's input size: noisy class prototypes."""
    rng = np.random.default_rng(seed)
    prototypes = rng.normal(size=(10, 28)).astype(np.float32)
    labels = rng.integers(0, 10, size=n)
    images = (prototypes[labels] + noise * rng.normal(size=(n, 28))).astype(np.float32)
    return images, labels


def _batches(images, labels, start):
    i = (start * BATCH) % len(images)
    return images[i:i + BATCH], labels[i:i + BATCH]


def _layer_device(op):
    return LAYER_DEVICES.get(op.name.split("/")[0], "")


def _label(name, virtual=False):
    from gmeta.cli import short_device

    return short_device(name, virtual)


def _workstation(tf, workdir, images, labels, log):
    """Phase 1: build, place on GPU:0 / GPU:1, train, save. Returns the saved prefix."""
    g = tf.Graph()
    with g.as_default():
        tf.set_random_seed(0)
        with tf.device(_layer_device):
            model = build_seed(tf)
        y = tf.placeholder(tf.int64, [BATCH], name="labels")
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=model["logits"]), name="loss")
        step = tf.train.get_or_create_global_step()
        train_op = tf.train.GradientDescentOptimizer(LEARNING_RATE).minimize(
            loss, global_step=step, colocate_gradients_with_ops=True)
        for key, value in (("train_op", train_op), ("loss", loss), ("images", model["images"])):
            tf.add_to_collection(key, value)
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            x, t = _batches(images, labels, 0)
            feed = {model["images"]: x, y: t}
            used = collections.Counter(_label(r["assigned"], r["virtual"])
                                       for r in sess.placement([train_op, loss], feed))
            losses = []
            for k in range(STEPS):
                x, t = _batches(images, labels, k)
                losses.append(float(sess.run([train_op, loss], {model["images"]: x, y: t})[1]))
            moved = sess.transfers([train_op, loss], feed)
            prefix = saver.save(sess, os.path.join(workdir, "model"), global_step=step)
    log["workstation"] = {
        "layers": LAYER_DEVICES, "nodes_per_device": dict(used.most_common()), "losses": losses,
        "copies_per_step": moved["copies_per_step"], "bytes_per_step": moved["bytes_per_step"],
        "saved": prefix}
    return prefix


def _laptop(tf, prefix, images, labels, log):
    """Phase 2: import with GPUs hidden, show the placement, restore, train on, save."""
    g = tf.Graph()
    with g.as_default():
        saver = tf.train.import_meta_graph(prefix + ".meta")
        train_op, loss = tf.get_collection("train_op")[0], tf.get_collection("loss")[0]
        x_in, y = tf.get_collection("images")[0], g.get_tensor_by_name("labels:0")
        config = tf.ConfigProto(device_count={"GPU": 0})
        with tf.Session(config=config) as sess:
            rows = sess.placement()
            saver.restore(sess, prefix)
            start = int(sess.run(tf.train.get_global_step()))
            losses = []
            for k in range(start, start + STEPS):
                x, t = _batches(images, labels, k)
                losses.append(float(sess.run([train_op, loss], {x_in: x, y: t})[1]))
            saved = saver.save(sess, prefix.rsplit("-", 1)[0], global_step=start + STEPS)
    summary = collections.Counter((r["requested"], _label(r["assigned"], r["virtual"]),
                                   r["reason"]) for r in rows)
    detail = {}
    for r in rows:
        detail.setdefault((r["requested"], _label(r["assigned"], r["virtual"]), r["reason"]),
                          r["detail"])
    log["laptop"] = {
        "config": "ConfigProto(device_count={'GPU': 0})", "restored": prefix,
        "start_step": start, "losses": losses, "saved": saved,
        "placement": [{"requested": k[0], "assigned": k[1], "reason": k[2], "count": n,
                       "detail": detail[k]} for k, n in summary.most_common()]}


def run(workdir=None) -> dict:
    """Runs both phases (in ``workdir``, else a temporary directory); returns what happened."""
    import gmeta as tf
    from gmeta.devices import discovery

    saved_setting = discovery._virtual_gpus
    inv = discovery.inventory()
    real = [d for d in inv.devices if d.real_gpu]
    log = {"gpus": [d.label() for d in real], "gpu_reason": inv.gpu_reason, "virtual_gpus": 0}
    images, labels = _data()
    start = time.perf_counter()
    try:
        if not real:
            discovery.set_virtual_gpus(2)
            log["virtual_gpus"] = 2
        with tempfile.TemporaryDirectory(prefix="gmeta-demo-") as tmp:
            where = workdir or tmp
            log["workdir"] = where
            prefix = _workstation(tf, where, images, labels, log)
            if not real:
                discovery.set_virtual_gpus(0)
            _laptop(tf, prefix, images, labels, log)
    finally:
        discovery._virtual_gpus = saved_setting
    log["seconds"] = time.perf_counter() - start
    return log


def _print(log, out) -> None:
    from gmeta.cli import human_bytes

    w, lap = log["workstation"], log["laptop"]
    out("gmeta demo: the seed MLP of TF's MetaGraph guide (28 -> 128 -> 32 -> 10) trained with "
        "its layers on two GPUs, then imported and trained on by a laptop without them")
    if log["virtual_gpus"]:
        out(f"this machine has no usable GPU ({log['gpu_reason']}): the workstation phase runs "
            "on 2 virtual GPUs, numpy-backed stand-ins for placement, not real GPUs")
    else:
        out(f"this machine's GPUs: {', '.join(log['gpus'])}")
    out("")
    layers = ", ".join(f"{k} on {v}" for k, v in w["layers"].items())
    out(f"1. workstation: {layers}; SGD (learning rate {LEARNING_RATE}), batches of {BATCH}")
    out("   a step runs " + ", ".join(f"{n} node{'s' * (n != 1)} on {d}" for d, n in
                                      w["nodes_per_device"].items())
        + f"; {w['copies_per_step']} cross-device copies per step "
        f"({human_bytes(w['bytes_per_step'])})")
    for k, loss in enumerate(w["losses"], 1):
        if k == 1 or k % 20 == 0:
            out(f"   step {k:4d}  loss {loss:.4f}")
    out(f"   saved {w['saved']} (.index, .data, .meta with the recorded devices)")
    out("")
    out(f"2. laptop: import_meta_graph('{os.path.basename(w['saved'])}.meta') in a Session with "
        f"{lap['config']}")
    out("   placement decisions (requested -> assigned: reason):")
    for p in lap["placement"]:
        out(f"   {p['count']:4d} nodes  {p['requested'] or '(none)':14s} -> {p['assigned']:14s} "
            f"{p['reason']}" + (f" ({p['detail']})" if p["detail"] else ""))
    out(f"   restored {os.path.basename(lap['restored'])} (global step {lap['start_step']}); "
        "training on:")
    for k, loss in enumerate(lap["losses"], lap["start_step"] + 1):
        if (k - lap["start_step"]) % 20 == 0:
            out(f"   step {k:4d}  loss {loss:.4f}")
    out(f"   saved {lap['saved']}")
    out("")
    out(f"loss fell from {w['losses'][0]:.4f} (step 1) to {lap['losses'][-1]:.4f} "
        f"(step {lap['start_step'] + len(lap['losses'])}) in {log['seconds']:.1f} s: the "
        "GPU-placed graph continued on the CPU from its checkpoint")


def main(out=print, as_json=False) -> int:
    """``gmeta demo``: prints what ``run()`` did (or its JSON); returns the exit code."""
    log = run()
    if as_json:
        from gmeta.cli import print_json

        print_json(log)
    else:
        _print(log, out)
    return 0
