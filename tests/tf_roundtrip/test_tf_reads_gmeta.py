"""Real TensorFlow (GMETA_TF_PYTHON) reads the MetaGraphs, checkpoints and state files gmeta writes.

gmeta builds a forward-only graph, runs it and saves it (``Saver.save``, ``export_meta_graph``);
``tf_check.py`` then imports the .meta with ``tf.compat.v1.train.import_meta_graph``, restores
gmeta's checkpoint, runs the same tensors and reads the checkpoint with TF's checkpoint API. The
outputs must equal gmeta's to 1e-5 and the restored variables gmeta's values exactly.

Skipped (with the reason) unless GMETA_TF_PYTHON names a python with tensorflow (conftest.py).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sys

import numpy as np
import pytest

import gmeta as gm
from gmeta.proto import MetaGraphDef

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
sys.path.insert(0, FIXTURES)

import meta_models  # noqa: E402
import seed_model  # noqa: E402

pytestmark = pytest.mark.tf

RTOL = ATOL = 1e-5


tf = gm


# -- helpers ---------------------------------------------------------------------------------------
def _ok(item):
    """The run/checkpoint result, or an AssertionError with TF's error text."""
    assert item["ok"], (f"TF failed on {item.get('label')!r}: {item.get('error_type')}: "
                        f"{item.get('error')}\n{item.get('traceback', '')}")
    return item


def _runs(result):
    return {r["label"]: r for r in result["runs"]}


def _fetched(path, n):
    with np.load(path) as z:
        return [z[f"f{i}"] for i in range(n)]


def _close(got, want, what):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=RTOL, atol=ATOL,
                               err_msg=what)


def _describe(item, scope=None):
    """gmeta's collection item described as tf_check.describe shows TF's import of it."""
    def scoped(name):
        return f"{scope}/{name}" if scope else name

    if isinstance(item, gm.Variable):
        return {"kind": "variable", "name": scoped(item.name)}
    if isinstance(item, gm.Tensor):
        return {"kind": "tensor", "name": scoped(item.name)}
    if isinstance(item, gm.Operation):
        return {"kind": "op", "name": scoped(item.name)}
    if isinstance(item, (str, bytes)):  # a bytes_list in the file: TF gives bytes back...
        text = item.decode("utf-8", "backslashreplace") if isinstance(item, bytes) else item
        if scope:  # ...or, under an import_scope, str with the scope prepended as names get it
            return {"kind": "str", "value": re.sub(r"([\^]|loc:@|^)(.*)", r"\1" + scope + r"/\2",
                                                   text)}
        return {"kind": "bytes", "value": text}
    if isinstance(item, bool):
        return {"kind": "bool", "value": item}
    if isinstance(item, (int, np.integer)):
        return {"kind": "int", "value": int(item)}
    if isinstance(item, (float, np.floating)):
        return {"kind": "float", "value": float(item)}
    raise TypeError(f"no description for {item!r}")


def _assert_same_collection(theirs, mine, key):
    assert len(theirs) == len(mine), f"collection {key!r}: TF {theirs} vs gmeta {mine}"
    for t, m in zip(theirs, mine):
        if m["kind"] == "float":  # a float_list holds float32
            assert t["kind"] == "float", (key, t, m)
            assert t["value"] == pytest.approx(m["value"], rel=1e-6), (key, t, m)
        else:
            assert t == m, f"collection {key!r}: TF {t} vs gmeta {m}"


def _variable_values(sess, variables):
    return dict(zip([v.op.name for v in variables], sess.run(list(variables))))


def _assert_tf_checkpoint(check, values, prefix):
    """TF's latest_checkpoint / list_variables / load_checkpoint agree with gmeta's values."""
    _ok(check)
    assert check["prefix"] == prefix
    assert check["checkpoint_exists"] is True
    assert check["list_variables"] == [[n, list(v.shape)] for n, v in sorted(values.items())]
    for name, value in values.items():
        assert check["dtypes"][name] == value.dtype.name, name


def _assert_tf_values(check, npz, values):
    with np.load(npz) as z:
        assert sorted(check["npz_keys"]) == sorted(values)
        for name, value in values.items():
            got = z[check["npz_keys"][name]]
            assert got.dtype == value.dtype, name
            np.testing.assert_array_equal(got, value, err_msg=name)


def _read_meta(path):
    mgd = MetaGraphDef()
    with open(path, "rb") as f:
        mgd.ParseFromString(f.read())
    return mgd


# -- model builders (forward only: gmeta has no gradients/optimizers yet) --------------------------
def build_mlp_hparams(tf):
    """meta_models.build_mlp without the optimizer (devices of MLP_DEVICES, probs colocated with
    logits) plus the hparams collections of meta_models.build_hparams."""
    images = tf.placeholder(tf.float32, [None, meta_models.IMAGE_PIXELS], name="images")
    labels = tf.placeholder(tf.int32, [None], name="labels")
    sizes = [meta_models.IMAGE_PIXELS, meta_models.HIDDEN1_UNITS, meta_models.HIDDEN2_UNITS,
             meta_models.NUM_CLASSES]
    h = images
    variables = []
    for i, scope in enumerate(["hidden1", "hidden2", "softmax_linear"]):
        with tf.device(meta_models.MLP_DEVICES[scope]), tf.name_scope(scope):
            w = tf.Variable(tf.truncated_normal(sizes[i:i + 2],
                                                stddev=1.0 / math.sqrt(float(sizes[i]))),
                            name="weights")
            b = tf.Variable(tf.zeros([sizes[i + 1]]), name="biases")
            h = tf.matmul(h, w) + b
            if scope != "softmax_linear":
                h = tf.nn.relu(h)
            variables += [w, b]
    logits = h
    tf.add_to_collection("logits", logits)
    with tf.colocate_with(logits.op):
        probs = tf.nn.softmax(logits, name="probs")
    with tf.device(meta_models.MLP_DEVICES["loss"]), tf.name_scope("loss"):
        xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits,
                                                              name="xentropy")
        loss = tf.reduce_mean(xent, name="xentropy_mean")
    tf.add_to_collection("learning_rate", meta_models.HPARAMS_LEARNING_RATE)
    for key, values in (("hparams", meta_models.HPARAMS_FLOATS),
                        ("layer_sizes", meta_models.HPARAMS_LAYER_SIZES),
                        ("big_ints", meta_models.HPARAMS_BIG_INTS),
                        ("strings", meta_models.HPARAMS_STRINGS),
                        ("my_tensors", [logits, loss, probs.op])):
        for v in values:
            tf.add_to_collection(key, v)
    tf.add_to_collection("optimizer_name", "sgd")
    return {"images": images, "labels": labels, "logits": logits, "probs": probs, "loss": loss,
            "variables": variables}


MLP_COLLECTIONS = ["learning_rate", "hparams", "layer_sizes", "big_ints", "strings",
                   "optimizer_name", "my_tensors", "logits", "variables", "trainable_variables"]


def build_sharded(tf):
    """meta_models.build_sharded with the global step made by hand (gmeta has no
    train.get_or_create_global_step yet)."""
    x = tf.placeholder(tf.float32, [None, 5], name="x")
    global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                              collections=[tf.GraphKeys.GLOBAL_VARIABLES,
                                           tf.GraphKeys.GLOBAL_STEP])
    with tf.device("/cpu:0"), tf.variable_scope("layer0"):
        w0 = tf.get_variable("w", [5, 4], initializer=tf.truncated_normal_initializer(stddev=0.5))
        b0 = tf.get_variable("b", [4], initializer=tf.constant_initializer(0.1))
        h = tf.nn.relu(tf.matmul(x, w0) + b0, name="h")
    with tf.device("/cpu:1"), tf.variable_scope("layer1"):
        w1 = tf.get_variable("w", [4, 2], initializer=tf.truncated_normal_initializer(stddev=0.5))
        b1 = tf.get_variable("b", [2], initializer=tf.constant_initializer(-0.1))
        out = tf.add(tf.matmul(h, w1), b1, name="out")
    return {"x": x, "h": h, "out": out, "global_step": global_step,
            "variables": [global_step, w0, b0, w1, b1]}


def build_series(tf):
    """meta_models.build_series with Variable methods for tf.assign / tf.assign_add."""
    global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                              collections=[tf.GraphKeys.GLOBAL_VARIABLES,
                                           tf.GraphKeys.GLOBAL_STEP])
    w = tf.Variable(tf.constant([1.0, 2.0, 3.0]), name="w")
    b = tf.Variable(0.5, name="b")
    step_op = tf.group(w.assign_add(tf.constant([0.5, -1.0, 2.0])), b.assign(b * 2.0 + 1.0),
                       global_step.assign_add(1), name="step")
    out = tf.add(tf.reduce_sum(w), b, name="out")
    return {"w": w, "b": b, "global_step": global_step, "step_op": step_op, "out": out,
            "variables": [global_step, w, b]}


def build_variable_scopes(tf):
    """get_variable in nested variable_scopes: explicit glorot, a scope initializer, the default
    initializer (glorot_uniform), reuse=True giving the same variable back."""
    x = tf.placeholder(tf.float32, [None, 6], name="x")
    with tf.variable_scope("net"):
        with tf.variable_scope("layer1"):
            w1 = tf.get_variable("w", [6, 8], initializer=tf.glorot_uniform_initializer())
            b1 = tf.get_variable("b", [8], initializer=tf.zeros_initializer())
        with tf.variable_scope("layer2", initializer=tf.glorot_normal_initializer()):
            w2 = tf.get_variable("w", [8, 3])
            b2 = tf.get_variable("b", [3], initializer=tf.constant_initializer(0.1))
        proj = tf.get_variable("proj", [3, 3])
        steps = tf.get_variable("steps", [], dtype=tf.int64,
                                initializer=tf.zeros_initializer(), trainable=False)
    with tf.variable_scope("net", reuse=True):
        again = tf.get_variable("layer1/w")
    assert again is w1, "variable_scope(reuse=True).get_variable gave a new variable"
    h = tf.nn.relu(tf.matmul(x, w1) + b1)
    y = tf.matmul(tf.matmul(h, w2) + b2, proj, name="y")
    return {"x": x, "y": y, "variables": [w1, b1, w2, b2, proj, steps]}


# -- 1. the seed model -----------------------------------------------------------------------------
def test_seed_model_saver_save_global_step(run_tf, tmp_path):
    ckdir = tmp_path / "ckpt"
    ckdir.mkdir()
    g = gm.Graph()
    with g.as_default():
        gm.set_random_seed(0)
        m = seed_model.build_seed(gm)
        saver = gm.train.Saver()
        with gm.Session(graph=g) as sess:
            sess.run(m["init_all_op"])
            logits = sess.run(m["logits"])
            values = _variable_values(sess, m["variables"])
            prefix = saver.save(sess, str(ckdir / "model"), global_step=7,
                                write_meta_graph=True)
    assert prefix == str(ckdir / "model-7")
    meta = prefix + ".meta"
    name = m["logits"].name
    num_nodes = len(g.as_graph_def().node)
    out = {k: str(tmp_path / f"{k}.npz") for k in ("plain", "scoped", "new", "tf_saved", "ck")}
    tf_saved = str(tmp_path / "tf_saved" / "model")
    os.makedirs(os.path.dirname(tf_saved))
    result = run_tf({
        "runs": [
            {"label": "plain", "meta": meta, "restore": {"latest_dir": str(ckdir)},
             "fetches": ["@logits[0]", name], "out_npz": out["plain"],
             "collections": ["logits", "variables", "trainable_variables"]},
            {"label": "scoped", "meta": meta, "clear_devices": True, "import_scope": "imp",
             "restore": {"prefix": prefix}, "fetches": [f"imp/{name}"],
             "out_npz": out["scoped"], "collections": ["logits", "variables"]},
            {"label": "new", "meta": meta, "saver": "new", "restore": {"prefix": prefix},
             "fetches": [name], "out_npz": out["new"]},
            # gmeta's save subgraph run by TF: TF saves with the Saver of gmeta's SaverDef.
            {"label": "tf_saved", "meta": meta, "restore": {"prefix": prefix},
             "save": {"prefix": tf_saved, "global_step": 8}},
        ],
        "checkpoints": [{"label": "ck", "dir": str(ckdir), "out_npz": out["ck"]}],
    })
    runs = _runs(result)
    plain = _ok(runs["plain"])
    assert plain["returned_saver"] and plain["num_nodes"] == num_nodes
    assert plain["saver_def"]["restore_op_name"] == saver.saver_def.restore_op_name
    assert plain["saver_def"]["version"] == 2 and plain["saver_def"]["sharded"] is False
    for got in _fetched(out["plain"], 2):
        _close(got, logits, "TF logits after import + restore")
    assert plain["collections"]["logits"] == [_describe(m["logits"])]
    for key in ("variables", "trainable_variables"):
        assert plain["collections"][key] == [_describe(v) for v in m["variables"]], key
    scoped = _ok(runs["scoped"])
    _close(_fetched(out["scoped"], 1)[0], logits, "TF logits, import_scope + clear_devices")
    assert scoped["collections"]["variables"] == [_describe(v, "imp") for v in m["variables"]]
    assert scoped["collections"]["logits"] == [_describe(m["logits"], "imp")]
    assert scoped["saver_def"]["restore_op_name"] == "imp/" + saver.saver_def.restore_op_name
    _ok(runs["new"])
    _close(_fetched(out["new"], 1)[0], logits, "TF logits, restored by a new tf.train.Saver()")
    assert _ok(runs["tf_saved"])["saved"] == tf_saved + "-8"
    with gm.train.NewCheckpointReader(tf_saved + "-8") as reader:
        for var_name, value in values.items():
            np.testing.assert_array_equal(reader.get_tensor(var_name), value, err_msg=var_name)
    ck = result["checkpoints"][0]
    _assert_tf_checkpoint(ck, values, prefix)
    _assert_tf_values(ck, out["ck"], values)
    assert ck["latest_checkpoint"] == prefix
    assert ck["state"]["model_checkpoint_path"] == prefix
    assert ck["state"]["all_model_checkpoint_paths"] == [prefix]
    assert len(ck["state"]["all_model_checkpoint_timestamps"]) == 1


# -- 2. MLP with placeholders, devices and hparams collections -------------------------------------
def test_mlp_devices_and_hparams_collections(run_tf, tmp_path):
    rng = np.random.default_rng(2)
    images = rng.standard_normal((5, meta_models.IMAGE_PIXELS)).astype(np.float32)
    labels = rng.integers(0, meta_models.NUM_CLASSES, 5).astype(np.int32)
    g = gm.Graph()
    with g.as_default():
        gm.set_random_seed(0)
        m = build_mlp_hparams(tf)
        saver = gm.train.Saver()
        with gm.Session(graph=g) as sess:
            sess.run(gm.global_variables_initializer())
            want = sess.run([m["logits"], m["probs"], m["loss"]],
                            {m["images"]: images, m["labels"]: labels})
            prefix = saver.save(sess, str(tmp_path / "model"))
    collections = {k: [_describe(x) for x in g.get_collection(k)] for k in MLP_COLLECTIONS}
    scoped_collections = {k: [_describe(x, "imp") for x in g.get_collection(k)]
                          for k in MLP_COLLECTIONS}
    device_nodes = {op.name: op.device for op in g.get_operations() if op.device}
    assert any("GPU:0" in d for d in device_nodes.values())
    assert any("job:worker" in d for d in device_nodes.values())
    meta = prefix + ".meta"
    np.savez(tmp_path / "feeds.npz", images=images, labels=labels)
    names = [m["logits"].name, m["probs"].name, m["loss"].name]
    run = {"meta": meta, "clear_devices": True, "restore": {"prefix": prefix},
           "feeds_npz": str(tmp_path / "feeds.npz"),
           "collections": MLP_COLLECTIONS, "devices": sorted(device_nodes)}
    result = run_tf({"runs": [
        dict(run, label="cleared", fetches=names + ["@my_tensors[0]", "@my_tensors[1]"],
             feeds={"images:0": "images", "labels:0": "labels"},
             out_npz=str(tmp_path / "cleared.npz")),
        dict(run, label="scoped", import_scope="imp", fetches=[f"imp/{n}" for n in names],
             devices=[f"imp/{n}" for n in sorted(device_nodes)],
             feeds={"imp/images:0": "images", "imp/labels:0": "labels"},
             out_npz=str(tmp_path / "scoped.npz")),
        {"label": "kept_devices", "meta": meta, "devices": sorted(device_nodes)},
    ]})
    runs = _runs(result)
    cleared = _ok(runs["cleared"])
    got = _fetched(tmp_path / "cleared.npz", 5)
    refs = want + [want[0], want[2]]  # my_tensors = [logits, loss, probs.op]
    for value, ref, what in zip(got, refs, names + ["@my_tensors[0]", "@my_tensors[1]"]):
        _close(value, ref, f"TF {what} (clear_devices=True)")
    assert set(cleared["devices"].values()) == {""}
    for key in MLP_COLLECTIONS:
        _assert_same_collection(cleared["collections"][key], collections[key], key)
    scoped = _ok(runs["scoped"])
    for value, ref, what in zip(_fetched(tmp_path / "scoped.npz", 3), want, names):
        _close(value, ref, f"TF imp/{what}")
    for key in MLP_COLLECTIONS:
        _assert_same_collection(scoped["collections"][key], scoped_collections[key], key)
    assert set(scoped["devices"].values()) == {""}
    kept = _ok(runs["kept_devices"])
    assert kept["devices"] == device_nodes, "TF's imported devices differ from gmeta's"


# -- 3. text-format MetaGraph ----------------------------------------------------------------------
def test_text_format_meta_graph(run_tf, tmp_path):
    x = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    g = gm.Graph()
    with g.as_default():
        gm.set_random_seed(0)
        m = meta_models.build_small(tf)
        saver = gm.train.Saver()
        gm.add_to_collection("savers", saver)  # a SaverDef in a bytes_list collection
        with gm.Session(graph=g) as sess:
            sess.run(m["init_all_op"])
            want = sess.run([m["logits"], m["probs"]], {m["x"]: x})
            prefix = saver.save(sess, str(tmp_path / "model"), write_meta_graph=False)
        assert not os.path.exists(prefix + ".meta")
        meta = str(tmp_path / "model.meta")
        saver.export_meta_graph(meta, as_text=True)
        module_meta = str(tmp_path / "module.pbtxt")
        gm.train.export_meta_graph(module_meta, as_text=True, saver_def=saver.saver_def)
    for path in (meta, module_meta):
        with open(path, encoding="utf-8") as f:
            assert f.read().lstrip().startswith("meta_info_def"), f"{path} is not text"
    np.savez(tmp_path / "feeds.npz", x=x)
    run = {"restore": {"prefix": prefix}, "feeds_npz": str(tmp_path / "feeds.npz"),
           "feeds": {"x:0": "x"}, "fetches": [m["logits"].name, "@outputs[0]"],
           "collections": ["savers", "outputs"]}
    result = run_tf({"runs": [
        dict(run, label="saver", meta=meta, out_npz=str(tmp_path / "a.npz")),
        dict(run, label="module", meta=module_meta, out_npz=str(tmp_path / "b.npz")),
    ]})
    for label, npz in (("saver", "a.npz"), ("module", "b.npz")):
        r = _ok(_runs(result)[label])
        assert r["returned_saver"] and r["saver_def"]["restore_op_name"]
        assert r["collections"] == {"savers": [{"kind": "saver"}],
                                    "outputs": [_describe(m["probs"])]}
        for got, ref in zip(_fetched(tmp_path / npz, 2), want):
            _close(got, ref, f"TF reading the text .meta ({label})")


# -- 4. export_scope + unbound inputs + input_map --------------------------------------------------
def test_export_scope_unbound_inputs_input_map(run_tf, tmp_path):
    x = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    g = gm.Graph()
    with g.as_default():
        gm.set_random_seed(0)
        m = meta_models.build_two_scopes(tf)
        saver = gm.train.Saver()
        with gm.Session(graph=g) as sess:
            sess.run(m["init_all_op"])
            want = sess.run(m["out"], {m["x"]: x})
            full = saver.save(sess, str(tmp_path / "full"))
        scoped_meta = str(tmp_path / "model_scope.meta")
        mgd = gm.train.export_meta_graph(scoped_meta, export_scope="model")
    unbound = [v.decode() for v in mgd.collection_def["unbound_inputs"].bytes_list.value]
    assert unbound == ["$unbound_inputs_input/scaled"]
    assert not mgd.HasField("saver_def")
    np.savez(tmp_path / "feeds.npz", x=x, scaled=2.0 * x)
    result = run_tf({"runs": [
        {"label": "mapped", "meta": scoped_meta, "import_scope": "model",
         "input_map": {unbound[0]: {"name": "mapped_input", "dtype": "float32",
                                    "shape": [None, 4]}},
         "restore": {"prefix": full}, "feeds_npz": str(tmp_path / "feeds.npz"),
         "feeds": {"mapped_input:0": "scaled"}, "fetches": ["model/out:0", "@outputs[0]"],
         "collections": ["outputs", "variables"], "out_npz": str(tmp_path / "mapped.npz")},
        {"label": "no_input_map", "meta": scoped_meta, "import_scope": "model"},
        {"label": "full", "meta": full + ".meta", "restore": {"prefix": full},
         "feeds_npz": str(tmp_path / "feeds.npz"), "feeds": {"input/x:0": "x"},
         "fetches": ["model/out:0"], "out_npz": str(tmp_path / "full.npz")},
    ]})
    runs = _runs(result)
    mapped = _ok(runs["mapped"])
    assert mapped["returned_saver"]
    assert mapped["collections"]["outputs"] == [{"kind": "tensor", "name": "model/out:0"}]
    assert [v["name"] for v in mapped["collections"]["variables"]] == ["model/w:0", "model/b:0"]
    for got in _fetched(tmp_path / "mapped.npz", 2):
        _close(got, want, "TF model/out with input_map over the unbound input")
    no_map = runs["no_input_map"]
    assert not no_map["ok"] and no_map["error_type"] == "ValueError", no_map
    assert "unbound" in no_map["error"].lower(), no_map["error"]
    _ok(runs["full"])
    _close(_fetched(tmp_path / "full.npz", 1)[0], want, "TF model/out from full.meta")


# -- 5. sharded Saver ------------------------------------------------------------------------------
def test_sharded_saver(run_tf, tmp_path):
    x = np.random.default_rng(7).standard_normal((4, 5)).astype(np.float32)
    config = {"device_count": {"CPU": 2}}
    (tmp_path / "ckpt").mkdir()
    g = gm.Graph()
    with g.as_default():
        gm.set_random_seed(0)
        m = build_sharded(tf)
        saver = gm.train.Saver(sharded=True)
        with gm.Session(graph=g, config=gm.ConfigProto(device_count=config["device_count"])) \
                as sess:
            sess.run(gm.global_variables_initializer())
            want = sess.run(m["out"], {m["x"]: x})
            values = _variable_values(sess, m["variables"])
            prefix = saver.save(sess, str(tmp_path / "ckpt" / "model"), global_step=3)
    device_nodes = {op.name: op.device for op in g.get_operations() if op.device}
    files = sorted(os.listdir(tmp_path / "ckpt"))
    # Three shards, as TF makes them: /cpu:0, /cpu:1 and the global step's empty device.
    assert files == ["checkpoint"] + [f"model-3.data-0000{i}-of-00003" for i in range(3)] + [
        "model-3.index", "model-3.meta"], files
    np.savez(tmp_path / "feeds.npz", x=x)
    tf_saved = str(tmp_path / "tf_saved" / "model")
    os.mkdir(tmp_path / "tf_saved")
    run = {"meta": prefix + ".meta", "feeds_npz": str(tmp_path / "feeds.npz"),
           "feeds": {"x:0": "x"}, "fetches": [m["out"].name]}
    result = run_tf({
        "runs": [
            dict(run, label="devices", config=config,
                 restore={"latest_dir": str(tmp_path / "ckpt")},
                 devices=sorted(device_nodes),
                 out_npz=str(tmp_path / "a.npz"),
                 save={"prefix": tf_saved, "global_step": 4}),
            dict(run, label="cleared", clear_devices=True, restore={"prefix": prefix},
                 out_npz=str(tmp_path / "b.npz")),
        ],
        "checkpoints": [{"label": "ck", "dir": str(tmp_path / "ckpt"),
                         "out_npz": str(tmp_path / "ck.npz")}],
    })
    runs = _runs(result)
    a = _ok(runs["devices"])
    assert a["saver_def"]["sharded"] is True
    assert a["devices"] == device_nodes, "TF's imported devices differ from gmeta's"
    assert a["devices"]["layer0/w"] == "/device:CPU:0", a["devices"]
    assert a["devices"]["layer1/w"] == "/device:CPU:1", a["devices"]
    _close(_fetched(tmp_path / "a.npz", 1)[0], want, "TF out after the sharded restore")
    _ok(runs["cleared"])
    _close(_fetched(tmp_path / "b.npz", 1)[0], want, "TF out, sharded restore, clear_devices")
    # TF ran gmeta's sharded save subgraph (ShardedFilename, MergeV2Checkpoints).
    assert a["saved"] == tf_saved + "-4"
    assert sorted(f for f in os.listdir(tmp_path / "tf_saved") if ".data-" in f) == [
        f"model-4.data-0000{i}-of-00003" for i in range(3)]
    with gm.train.NewCheckpointReader(tf_saved + "-4") as reader:
        for name, value in values.items():
            np.testing.assert_array_equal(reader.get_tensor(name), value, err_msg=name)
    ck = result["checkpoints"][0]
    _assert_tf_checkpoint(ck, values, prefix)
    _assert_tf_values(ck, tmp_path / "ck.npz", values)


# -- 6. a series with max_to_keep, the state file, a moved directory -------------------------------
def test_series_max_to_keep_state_file_and_moved_dir(run_tf, tmp_path):
    d = tmp_path / "run1"
    d.mkdir()
    g = gm.Graph()
    per_step = {}
    with g.as_default():
        m = build_series(tf)
        saver = gm.train.Saver(max_to_keep=2)
        with gm.Session(graph=g) as sess:
            sess.run(gm.global_variables_initializer())
            for step in range(1, 5):
                sess.run(m["step_op"])
                path = saver.save(sess, str(d / "model"), global_step=m["global_step"])
                assert path == str(d / f"model-{step}")
                per_step[step] = (_variable_values(sess, m["variables"]), sess.run(m["out"]))
            last = saver.last_checkpoints
            sess.run(m["step_op"])  # step 5, not saved: what TF's step 5 must give
            per_step[5] = (_variable_values(sess, m["variables"]), sess.run(m["out"]))
    assert last == [str(d / "model-3"), str(d / "model-4")]
    want_files = ["checkpoint"] + [f"model-{s}.{ext}" for s in (3, 4)
                                   for ext in ("data-00000-of-00001", "index", "meta")]
    assert sorted(os.listdir(d)) == sorted(want_files)
    state_text = (d / "checkpoint").read_text()
    assert str(tmp_path) not in state_text, f"state file has absolute paths:\n{state_text}"

    def job(where, npz_tag):
        return {
            "runs": [{"label": "restore", "meta": str(where / "model-4.meta"),
                      "restore": {"latest_dir": str(where)}, "fetches": ["out:0", "@variables[1]"],
                      "out_npz": str(tmp_path / f"{npz_tag}_run.npz")}],
            "checkpoints": [
                {"label": "latest", "dir": str(where),
                 "out_npz": str(tmp_path / f"{npz_tag}_latest.npz")},
                {"label": "step3", "prefix": str(where / "model-3"),
                 "out_npz": str(tmp_path / f"{npz_tag}_step3.npz")},
            ]}

    def check(result, where, npz_tag):
        run = _ok(result["runs"][0])
        assert run["restored_from"] == str(where / "model-4")
        assert run["saver_def"]["max_to_keep"] == 2
        out, w = _fetched(tmp_path / f"{npz_tag}_run.npz", 2)
        _close(out, per_step[4][1], "TF out at step 4")
        np.testing.assert_array_equal(w, per_step[4][0]["w"])
        latest, step3 = result["checkpoints"]
        _ok(latest)
        assert latest["latest_checkpoint"] == str(where / "model-4")
        assert latest["state"]["model_checkpoint_path"] == str(where / "model-4")
        assert latest["state"]["all_model_checkpoint_paths"] == [str(where / "model-3"),
                                                                 str(where / "model-4")]
        assert len(latest["state"]["all_model_checkpoint_timestamps"]) == 2
        _assert_tf_checkpoint(latest, per_step[4][0], str(where / "model-4"))
        _assert_tf_values(latest, tmp_path / f"{npz_tag}_latest.npz", per_step[4][0])
        _assert_tf_checkpoint(step3, per_step[3][0], str(where / "model-3"))
        _assert_tf_values(step3, tmp_path / f"{npz_tag}_step3.npz", per_step[3][0])

    check(run_tf(job(d, "here")), d, "here")
    moved = tmp_path / "elsewhere" / "run1_moved"
    moved.parent.mkdir()
    shutil.move(str(d), str(moved))
    check(run_tf(job(moved, "moved")), moved, "moved")
    # TF goes on with the series in the moved directory: its Saver (max_to_keep=2 from gmeta's
    # SaverDef) takes over gmeta's state file and deletes model-3 when it saves step 5.
    result = run_tf({"runs": [{
        "label": "continue", "meta": str(moved / "model-4.meta"),
        "restore": {"latest_dir": str(moved)}, "run_ops": ["step"],
        "fetches": ["out:0", "global_step:0"], "out_npz": str(tmp_path / "continue.npz"),
        "save": {"prefix": str(moved / "model"), "global_step": 5, "recover_dir": str(moved)}}]})
    assert _ok(result["runs"][0])["saved"] == str(moved / "model-5")
    out, step = _fetched(tmp_path / "continue.npz", 2)
    _close(out, per_step[5][1], "TF out after its step 5")
    assert int(step) == 5
    assert not any(f.startswith("model-3.") for f in os.listdir(moved)), os.listdir(moved)
    assert gm.train.latest_checkpoint(str(moved)) == str(moved / "model-5")
    state = gm.train.get_checkpoint_state(str(moved))
    assert list(state.all_model_checkpoint_paths) == [str(moved / "model-4"),
                                                      str(moved / "model-5")]


# -- 7. strip_default_attrs ------------------------------------------------------------------------
def test_strip_default_attrs(run_tf, tmp_path):
    g = gm.Graph()
    with g.as_default():
        gm.set_random_seed(0)
        m = seed_model.build_seed(gm)
        saver = gm.train.Saver()
        with gm.Session(graph=g) as sess:
            sess.run(m["init_all_op"])
            want = sess.run(m["logits"])
            prefix = saver.save(sess, str(tmp_path / "model"), strip_default_attrs=True)
        module_meta = str(tmp_path / "module.meta")
        gm.train.export_meta_graph(module_meta, strip_default_attrs=True,
                                   saver_def=saver.saver_def)
    for path in (prefix + ".meta", module_meta):
        mgd = _read_meta(path)
        assert mgd.meta_info_def.stripped_default_attrs, path
        matmuls = [n for n in mgd.graph_def.node if n.op == "MatMul"]
        assert matmuls and not any("transpose_a" in n.attr for n in matmuls), path
    result = run_tf({"runs": [
        {"label": label, "meta": meta, "restore": {"prefix": prefix},
         "fetches": [m["logits"].name], "out_npz": str(tmp_path / f"{label}.npz")}
        for label, meta in (("save", prefix + ".meta"), ("module", module_meta))]})
    for label in ("save", "module"):
        _ok(_runs(result)[label])
        _close(_fetched(tmp_path / f"{label}.npz", 1)[0], want, f"TF logits ({label})")


# -- 8. get_variable / variable_scope (glorot) -----------------------------------------------------
def test_get_variable_scopes_glorot(run_tf, tmp_path):
    x = np.random.default_rng(8).standard_normal((4, 6)).astype(np.float32)
    g = gm.Graph()
    with g.as_default():
        gm.set_random_seed(0)
        m = build_variable_scopes(tf)
        saver = gm.train.Saver()
        with gm.Session(graph=g) as sess:
            sess.run(gm.global_variables_initializer())
            want = sess.run(m["y"], {m["x"]: x})
            values = _variable_values(sess, m["variables"])
            prefix = saver.save(sess, str(tmp_path / "model"))
    assert sorted(values) == ["net/layer1/b", "net/layer1/w", "net/layer2/b", "net/layer2/w",
                              "net/proj", "net/steps"]
    limit = math.sqrt(6.0 / (6 + 8))  # glorot_uniform of a [6, 8] kernel
    assert np.abs(values["net/layer1/w"]).max() <= limit and values["net/layer1/w"].std() > 0
    assert np.abs(values["net/proj"]).max() <= math.sqrt(6.0 / 6) and values["net/proj"].std() > 0
    np.savez(tmp_path / "feeds.npz", x=x)
    var_names = [f"{n}:0" for n in sorted(values)]
    run = {"meta": prefix + ".meta", "restore": {"prefix": prefix},
           "feeds_npz": str(tmp_path / "feeds.npz"), "feeds": {"x:0": "x"},
           "fetches": ["y:0"] + var_names}
    result = run_tf({
        "runs": [dict(run, label="returned", out_npz=str(tmp_path / "a.npz")),
                 dict(run, label="new", saver="new", out_npz=str(tmp_path / "b.npz"))],
        "checkpoints": [{"label": "ck", "prefix": prefix, "out_npz": str(tmp_path / "ck.npz")}],
    })
    for label, npz in (("returned", "a.npz"), ("new", "b.npz")):
        _ok(_runs(result)[label])
        got = _fetched(tmp_path / npz, 1 + len(var_names))
        _close(got[0], want, f"TF y ({label} saver)")
        for name, value in zip(sorted(values), got[1:]):
            np.testing.assert_array_equal(value, values[name], err_msg=f"TF restored {name}")
    ck = result["checkpoints"][0]
    _assert_tf_checkpoint(ck, values, prefix)
    _assert_tf_values(ck, tmp_path / "ck.npz", values)


# -- file modes ------------------------------------------------------------------------------------
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_file_modes_as_tfs(run_tf, tmp_path):
    """Another user (a serving job) can read gmeta's checkpoint directory when it can read TF's."""
    for sub in ("gm", "tf"):
        (tmp_path / sub).mkdir()
    g = gm.Graph()
    with g.as_default():
        gm.Variable(gm.zeros([2]), name="v")
        saver = gm.train.Saver()
        with gm.Session(graph=g) as sess:
            sess.run(gm.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "gm" / "model"), global_step=1)
    result = run_tf({"runs": [{"label": "tf_save", "meta": prefix + ".meta",
                               "restore": {"prefix": prefix},
                               "save": {"prefix": str(tmp_path / "tf" / "model"),
                                        "global_step": 1}}]})
    _ok(result["runs"][0])

    def modes(d):
        return {f: oct(os.stat(d / f).st_mode & 0o777) for f in sorted(os.listdir(d))}

    assert modes(tmp_path / "gm") == modes(tmp_path / "tf")
