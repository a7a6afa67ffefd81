"""The ``gmeta`` command line (gmeta/cli.py), run as users run it: ``python -m gmeta ...`` in a
subprocess from the repository root, on the TF-made fixtures (tests/fixtures/data/meta/*,
tests/fixtures/data/devices/*). Expected values come from the fixtures themselves (TF's
expected.npz and spec.json) or from the .meta read with the proto API, not from the CLI's code.

Every subprocess starts Python and imports gmeta (seconds), so there is one subprocess per
command and error kind, all started together once per module (``runs``), and each test reads its
command's result; further checks call ``gmeta.cli.main`` in this process (``device_settings``
puts back what --virtual-gpus / --strict change).
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from gmeta.proto import MetaGraphDef, parse_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join("tests", "fixtures", "data")
META = os.path.join(DATA, "meta")
DEV = os.path.join(DATA, "devices")
PS = os.path.join(DEV, "ps_worker")
TWO = os.path.join(DEV, "two_gpu_layers")
GPU1 = os.path.join(DEV, "gpu1_mlp")
MLP = os.path.join(META, "mlp_devices")
SERIES = os.path.join(META, "series")
SHARDED = os.path.join(META, "sharded")

RTOL, ATOL = 2e-4, 1e-6
CROSS_RED = "#d62728"


def _meta(path) -> MetaGraphDef:
    with open(os.path.join(ROOT, path), "rb") as f:
        data = f.read()
    mgd = MetaGraphDef()
    try:
        mgd.ParseFromString(data)
    except Exception:
        mgd = MetaGraphDef()
        parse_text(data.decode(), mgd)
    return mgd


def _expected(path) -> dict:
    with np.load(os.path.join(ROOT, path, "expected.npz")) as d:
        return {k: d[k] for k in d}


def _env() -> dict:
    env = dict(os.environ)
    env.pop("GMETA_VIRTUAL_GPUS", None)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _gmeta(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gmeta", *args], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=240)


def _prepare(tmp) -> dict:
    """Input files the commands need: feeds, a corrupt checkpoint copy, a truncated .meta and a
    .meta with ops gmeta has no kernel for."""
    want = _expected(PS)
    np.save(os.path.join(tmp, "x.npy"), want["feed/x:0"])
    np.save(os.path.join(tmp, "labels.npy"), want["feed/labels:0"])
    bad = os.path.join(tmp, "bad")
    os.makedirs(bad)
    for name in os.listdir(os.path.join(ROOT, PS)):
        if name.startswith("model."):
            shutil.copy(os.path.join(ROOT, PS, name), bad)
    from gmeta.checkpoint import BundleReader

    with BundleReader(os.path.join(bad, "model")) as r:
        entry = r.entry("layer1/weights")
    data_file = os.path.join(bad, "model.data-00000-of-00001")
    with open(data_file, "r+b") as f:
        f.seek(entry.offset + 17)
        byte = f.read(1)
        f.seek(entry.offset + 17)
        f.write(bytes([byte[0] ^ 0x40]))
    with open(os.path.join(ROOT, PS, "model.meta"), "rb") as f:
        raw = f.read()
    with open(os.path.join(tmp, "truncated.meta"), "wb") as f:
        f.write(raw[:len(raw) // 2])
    mgd = _meta(os.path.join(META, "seed_guide", "my-save-dir", "my-model-10000.meta"))
    n = mgd.graph_def.node.add(name="contents", op="Const")
    n.attr["dtype"].type = 7  # DT_STRING
    n.attr["value"].tensor.dtype = 7
    n.attr["value"].tensor.string_val.append(b"not a jpeg")
    mgd.graph_def.node.add(name="jpeg", op="DecodeJpeg", input=["contents"])
    mgd.graph_def.node.add(name="mystery", op="NoSuchOpAnywhere")
    with open(os.path.join(tmp, "nokernel.meta"), "wb") as f:
        f.write(mgd.SerializeToString())
    return {"tmp": tmp, "bad_data_file": os.path.join("bad", "model.data-00000-of-00001")}


def _commands(tmp) -> dict:
    t = lambda *p: os.path.join(tmp, *p)  # noqa: E731
    feeds = ["--feed", f"x={t('x.npy')}", "--feed", f"labels={t('labels.npy')}"]
    ps = os.path.join(PS, "model.meta")
    return {
        "devices": ["devices", "--virtual-gpus", "2"],
        "inspect_json": ["inspect", os.path.join(MLP, "model-3.meta"), "--json"],
        "place_json": ["place", ps, "--gpus", "0", "--json"],
        "run": ["run", ps, *feeds, "--fetch", "logits/add:0", "--fetch", "loss",
                "--out", t("out.npz")],
        "train": ["train", ps, *feeds, "--steps", "3", "--every", "1", "--save", t("train"),
                  "--json"],
        "convert_text": ["convert", ps, t("model.pbtxt")],
        "ckpt_ls": ["ckpt", "ls", os.path.join(SHARDED, "model-7"), "--json"],
        "ckpt_verify_bad": ["ckpt", "verify", t("bad", "model")],
        "graph": ["graph", os.path.join(GPU1, "model.meta"), "--virtual-gpus", "2",
                  "--out", t("g.svg"), "--out", t("g.png"), "--out", t("g.dot"),
                  "--logdir", t("logs"), "--json"],
        "err_truncated": ["inspect", t("truncated.meta")],
        "err_feed": ["run", ps, "--feed", "x", "--fetch", "loss"],
        "demo": ["demo"],
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("cli"))
    info = _prepare(tmp)
    commands = _commands(tmp)
    workers = max(2, min(4, os.cpu_count() or 2))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = {name: pool.submit(_gmeta, *args) for name, args in commands.items()}
        results = {name: f.result() for name, f in futures.items()}
    results["_info"] = info
    return results


def _ok(r) -> str:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr
    return r.stdout


@pytest.fixture
def device_settings(monkeypatch):
    """In-process commands with --virtual-gpus / --strict change process-wide settings: put
    them back afterwards."""
    from gmeta.devices import discovery

    monkeypatch.setattr(discovery, "_virtual_gpus", None)
    monkeypatch.setattr(discovery, "_soft_placement", True)


def _main(capsys, *args) -> tuple:
    """``gmeta ARGS`` in this process: (exit code, stdout, stderr)."""
    from gmeta import cli

    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _failed(r, code) -> str:
    """The one-line error of a failed command (no traceback)."""
    assert r.returncode == code, f"exit {r.returncode}, wanted {code}\n{r.stdout}\n{r.stderr}"
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("gmeta: ")]
    assert len(lines) == 1, r.stderr
    return lines[0]


# -- devices ---------------------------------------------------------------------------------------
def test_devices_lists_cpu_and_marked_virtual_gpus(runs):
    out = _ok(runs["devices"])
    rows = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("/device:")}
    assert "/device:CPU:0" in rows
    virtual = [ln for ln in rows.values() if "virtual GPU backed by numpy" in ln]
    assert len(virtual) == 2 and all(re.search(r"\bGPU\s+yes\b", ln) for ln in virtual)
    assert "soft placement: on" in out
    assert "2 virtual GPU(s)" in out


# -- inspect ---------------------------------------------------------------------------------------
def test_inspect_json_matches_the_meta_and_tf_spec(runs):
    d = json.loads(_ok(runs["inspect_json"]))
    mgd = _meta(os.path.join(MLP, "model-3.meta"))
    with open(os.path.join(ROOT, MLP, "spec.json")) as f:
        spec = json.load(f)
    assert d["format"] == "binary" and d["graph"]["nodes"] == len(mgd.graph_def.node)
    assert d["op_counts"] == dict(collections.Counter(n.op for n in mgd.graph_def.node))
    assert d["devices"] == dict(collections.Counter(n.device for n in mgd.graph_def.node))
    assert d["meta_info"]["tensorflow_version"] == mgd.meta_info_def.tensorflow_version
    want = {v["name"]: (v["shape"], v["dtype"], v["trainable"], v["op"])
            for v in spec["variables"]}
    got = {v["name"]: (v["shape"], v["dtype"], v["trainable"], v["op"]) for v in d["variables"]}
    assert got == want
    for c in d["collections"]:  # what TF's import gives, recorded in spec.json
        s = spec["collections"][c["key"]]
        assert c["kind"] == s["kind"] and c["size"] == len(s["values"])
        assert c["imported"] == dict(collections.Counter(i["type"] for i in s["imported"]))
    assert d["saver_def"]["restore_op_name"] == mgd.saver_def.restore_op_name
    assert d["signatures"] == [] and d["no_kernel"] == [] and d["import_error"] is None
    assert {r["op"] for r in d["no_gpu_kernel"]} >= {"SaveV2", "RestoreV2"}


def test_inspect_text_lists_ops_without_kernels(runs, capsys):
    code, out, _ = _main(capsys, "inspect", os.path.join(runs["_info"]["tmp"], "nokernel.meta"))
    assert code == 0
    mgd = _meta(os.path.join(META, "seed_guide", "my-save-dir", "my-model-10000.meta"))
    assert f"graph: {len(mgd.graph_def.node) + 3} nodes" in out
    section = out.split("ops this machine cannot run")[1]
    assert re.search(r"DecodeJpeg\s+1\s+jpeg", section)
    assert re.search(r"NoSuchOpAnywhere\s+1\s+mystery\s+not a TensorFlow op", section)
    for name in ("hidden1/weights", "softmax_linear/biases"):
        assert re.search(rf"^{re.escape(name)}\s+\[", out, re.M)


def test_inspect_in_process_hparams_collections(capsys):
    from gmeta import cli

    assert cli.main(["inspect", os.path.join(ROOT, META, "hparams", "model-2.meta"),
                     "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    with open(os.path.join(ROOT, META, "hparams", "spec.json")) as f:
        spec = json.load(f)
    got = {c["key"]: (c["kind"], c["size"], c["imported"]) for c in d["collections"]}
    want = {k: (v["kind"], len(v["values"]),
                dict(collections.Counter(i["type"] for i in v["imported"])))
            for k, v in spec["collections"].items()}
    assert got == want


# -- place -----------------------------------------------------------------------------------------
def test_place_cpu_only_soft_fallback_rows(runs):
    d = json.loads(_ok(runs["place_json"]))
    mgd = _meta(os.path.join(PS, "model.meta"))
    requested = {n.name: n.device for n in mgd.graph_def.node}
    rows = {r["node"]: r for r in d["rows"]}
    assert set(rows) == set(requested)
    assert all(r["assigned"] == "/device:CPU:0" for r in rows.values())
    assert rows["x"]["requested"] == requested["x"] == "/job:worker/task:3/device:GPU:2"
    assert rows["x"]["reason"] == "soft-fallback-no-device"
    gpu_rows = [r for r in rows.values() if "GPU" in r["requested"]]
    assert gpu_rows and all(r["reason"] in ("soft-fallback-no-device", "colocation")
                            for r in gpu_rows)
    assert sum(s["count"] for s in d["summary"]) == len(requested)
    top = {(s["requested"], s["reason"]): s["count"] for s in d["summary"]}
    assert top[("/job:worker/task:3/device:GPU:2", "soft-fallback-no-device")] == sum(
        1 for r in rows.values() if r["requested"] == "/job:worker/task:3/device:GPU:2" and
        r["reason"] == "soft-fallback-no-device")
    assert d["fetches"] == ["Momentum"] and d["transfers"]["edges"] == []


def test_place_text_with_device_map(capsys):
    code, out, _ = _main(capsys, "place", os.path.join(ROOT, PS, "model.meta"), "--gpus", "0",
                         "--device-map", "/job:worker=/job:localhost")
    assert code == 0
    assert "/job:worker" not in out
    row = re.search(r"^x\s+Placeholder\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    assert row.groups() == ("/job:localhost/task:3/device:GPU:2", "/device:CPU:0",
                            "soft-fallback-no-device")
    assert "summary (requested -> assigned, reason):" in out
    assert "cross-device edges of a step of Momentum: none" in out


def test_place_virtual_gpus_honoured_with_cross_device_edges(capsys, device_settings):
    code, out, _ = _main(capsys, "place", os.path.join(ROOT, TWO, "model.meta"),
                         "--virtual-gpus", "2", "--json")
    assert code == 0
    d = json.loads(out)
    # (on a machine with real GPUs, the first ones are real and not marked virtual)
    honoured = {(s["requested"], s["assigned"].replace(" (virtual)", ""))
                for s in d["summary"] if s["reason"] == "honoured"}
    assert ("/device:GPU:0", "/device:GPU:0") in honoured
    assert ("/device:GPU:1", "/device:GPU:1") in honoured
    edges = d["transfers"]["edges"]
    assert edges and all(e["from"] != e["to"] for e in edges)
    assert {(e["tensor"], e["consumer"], e["from"].replace(" (virtual)", ""),
             e["to"].replace(" (virtual)", "")) for e in edges} >= {
        ("layer1/Relu:0", "layer2/MatMul", "/device:GPU:0", "/device:GPU:1")}


def test_place_strict_fails_listing_the_nodes(capsys, device_settings):
    code, out, err = _main(capsys, "place", os.path.join(ROOT, PS, "model.meta"), "--gpus", "0",
                           "--strict", "--summary")
    assert code == 1 and err.count("\n") == 1
    assert "model.meta" in err and "soft placement off" in err
    assert out.startswith("cannot place:") and "x (Placeholder)" in out


# -- run and train ---------------------------------------------------------------------------------
def test_run_fetches_tf_values(runs):
    out = _ok(runs["run"])
    want = _expected(PS)
    assert re.search(r"^logits/add:0\s+\[6, 4\]\s+float32", out, re.M)
    with np.load(os.path.join(runs["_info"]["tmp"], "out.npz")) as got:
        np.testing.assert_allclose(got["logits/add:0"], want["step0/logits/add:0"], RTOL, ATOL)
        np.testing.assert_allclose(got["loss:0"], want["step0/loss"], RTOL, ATOL)


def test_train_three_steps_saves_checkpoints_and_the_loss_falls(runs):
    r = runs["train"]
    d = json.loads(_ok(r))
    want = _expected(PS)
    np.testing.assert_allclose(d["losses"], [want[f"step{k}/loss"] for k in range(3)],
                               RTOL, ATOL)
    np.testing.assert_allclose(d["loss_after"], want["step3/loss"], RTOL, ATOL)
    assert d["losses"][0] > d["losses"][1] > d["losses"][2] > d["loss_after"]
    assert d["global_step"] == {"start": 0, "end": 3}
    save = os.path.join(runs["_info"]["tmp"], "train")
    for k in (1, 2, 3):
        for ext in (".index", ".meta", ".data-00000-of-00001"):
            assert os.path.exists(os.path.join(save, f"model-{k}{ext}"))
    with open(os.path.join(save, "checkpoint")) as f:
        assert 'model_checkpoint_path: "model-3"' in f.read()
    assert os.path.basename(d["latest"]) == "model-3"
    assert "step 3/3" in r.stderr and "steps/s" in r.stderr


# -- convert ---------------------------------------------------------------------------------------
def test_convert_to_text_reimports_with_the_same_nodes(runs):
    out = _ok(runs["convert_text"])
    path = os.path.join(runs["_info"]["tmp"], "model.pbtxt")
    assert f"wrote {path}: text MetaGraphDef" in out
    with open(path) as f:
        text = f.read()
    assert text.lstrip().startswith("meta_info_def")
    import gmeta as tf

    g = tf.Graph()
    with g.as_default():
        tf.train.import_meta_graph(path)
    original = _meta(os.path.join(PS, "model.meta"))
    assert {op.name for op in g.get_operations()} == {n.name for n in original.graph_def.node}


def test_convert_clear_devices_and_import_scope(tmp_path, capsys):
    out_file = tmp_path / "imp.meta"
    code, out, _ = _main(capsys, "convert", os.path.join(ROOT, TWO, "model.meta"), out_file,
                         "--binary", "--clear-devices", "--import-scope", "imp")
    assert code == 0 and "binary MetaGraphDef" in out
    got = _meta(str(out_file))
    original = _meta(os.path.join(TWO, "model.meta"))
    assert {n.name for n in got.graph_def.node} == {"imp/" + n.name
                                                     for n in original.graph_def.node}
    assert all(n.device == "" for n in got.graph_def.node)
    assert any(n.device for n in original.graph_def.node)
    assert got.saver_def.restore_op_name == "imp/" + original.saver_def.restore_op_name


# -- ckpt ------------------------------------------------------------------------------------------
def test_ckpt_ls_lists_keys_shapes_dtypes_bytes(runs):
    d = json.loads(_ok(runs["ckpt_ls"]))
    want = {k[len("checkpoint/"):]: v for k, v in _expected(SHARDED).items()
            if k.startswith("checkpoint/")}
    got = {t["name"]: t for t in d["tensors"]}
    assert set(got) == set(want)
    for name, value in want.items():
        assert got[name]["shape"] == list(value.shape)
        assert got[name]["dtype"] == value.dtype.name
        assert got[name]["bytes"] == value.nbytes
    assert d["shards"] == 3


def test_ckpt_ls_text_in_process(capsys):
    from gmeta import cli

    assert cli.main(["ckpt", "ls", os.path.join(ROOT, MLP)]) == 0
    out = capsys.readouterr().out
    for key, value in _expected(MLP).items():
        if key.startswith("checkpoint/"):
            name = key[len("checkpoint/"):]
            shape = "[" + ", ".join(map(str, value.shape)) + "]"
            assert re.search(rf"^{re.escape(name)}\s+{value.dtype.name}\s+{re.escape(shape)}\s+"
                             rf"{value.nbytes}$", out, re.M), name


def test_ckpt_diff_reports_changed_tensors(capsys):
    code, out, _ = _main(capsys, "ckpt", "diff", os.path.join(ROOT, SERIES, "model-3"),
                         os.path.join(ROOT, SERIES, "model-4"))
    assert code == 0
    want = _expected(SERIES)
    for name in ("w", "b", "global_step"):
        a, b = want[f"step3/{name}"], want[f"step4/{name}"]
        diff = float(np.max(np.abs(a.astype(np.float64) - b)))
        line = re.search(rf"^{name}\s+changed\s+(\d+)/(\d+) elements differ, max \|A-B\| = "
                         rf"(\S+)", out, re.M)
        assert line, out
        assert int(line.group(1)) == int(np.count_nonzero(a != b))
        assert float(line.group(3)) == pytest.approx(diff, rel=1e-5)
    assert "3 changed" in out


def test_ckpt_verify_ok_and_corrupt(runs, capsys):
    code, out, _ = _main(capsys, "ckpt", "verify", os.path.join(ROOT, PS, "model"))
    assert code == 0 and "every CRC matches" in out
    r = runs["ckpt_verify_bad"]
    line = _failed(r, 1)
    assert "'layer1/weights'" in line and runs["_info"]["bad_data_file"] in line
    assert "Checksum does not match" in line
    assert re.search(r"^layer1/weights\s", r.stdout, re.M)


def test_ckpt_latest(capsys):
    code, out, _ = _main(capsys, "ckpt", "latest", os.path.join(ROOT, SERIES))
    assert code == 0
    assert os.path.abspath(out.strip()) == os.path.join(ROOT, SERIES, "model-4")
    code, _, err = _main(capsys, "ckpt", "latest", os.path.join(ROOT, DEV))
    assert code == 1 and err.count("\n") == 1 and "no checkpoint state file" in err


# -- graph -----------------------------------------------------------------------------------------
def test_graph_writes_dot_svg_png_and_an_event_file(runs):
    d = json.loads(_ok(runs["graph"]))
    tmp = runs["_info"]["tmp"]
    mgd = _meta(os.path.join(GPU1, "model.meta"))
    assert d["level"] == "node" and d["boxes"] == d["nodes"] == len(mgd.graph_def.node)
    assert d["cross_device_edges"] > 0
    colours = d["devices"]
    assert {c.replace(" (virtual)", "") for c in colours} >= {"/device:GPU:0", "/device:GPU:1"}
    with open(os.path.join(tmp, "g.png"), "rb") as f:
        png = f.read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width > 200 and height > 200
    svg = ET.parse(os.path.join(tmp, "g.svg")).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    boxes = [r for r in svg.iter(ns + "rect") if r.get("data-device") is not None]
    assert len(boxes) == len(mgd.graph_def.node)
    assert {r.get("fill") for r in boxes} == set(colours.values())
    cross = [ln for ln in svg.iter(ns + "line") if ln.get("class") == "cross"]
    assert len(cross) == d["cross_device_edges"]
    assert all(ln.get("stroke") == CROSS_RED and ln.get("stroke-dasharray") for ln in cross)
    with open(os.path.join(tmp, "g.dot")) as f:
        dot = f.read()
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for colour in colours.values():
        assert f'fillcolor="{colour}"' in dot
    assert f'color="{CROSS_RED}", style=dashed' in dot
    events = os.listdir(os.path.join(tmp, "logs"))
    assert len(events) == 1 and events[0].startswith("events.out.tfevents.")


def test_graph_picture_collapses_big_graphs_to_scopes():
    import gmeta as tf
    from gmeta import _graph_picture as picture

    g = tf.Graph()
    with g.as_default():
        h = tf.placeholder(tf.float32, [None, 4], name="x")
        for i in range(60):
            with tf.name_scope(f"layer_{i}"):
                h = tf.nn.relu(tf.matmul(h, tf.ones([4, 4])) + 1.0)
    ops = g.get_operations()
    assigned = {op.name: f"/device:GPU:{int(op.name.split('/')[0][6:]) % 2}"
                if op.name.startswith("layer_") else "/device:CPU:0" for op in ops}
    by_scope = picture.build(ops, assigned, max_boxes=100)
    assert by_scope.level == "scope" and len(by_scope.boxes) == 61
    assert sum(lk.cross for lk in by_scope.links) == 60  # x -> layer_0, then every layer
    by_family = picture.build(ops, assigned, max_boxes=20)
    assert by_family.level == "scope-family" and [b.title for b in by_family.boxes] == \
        ["x", "layer*"]
    assert by_family.boxes[1].cross_inside == 59
    ET.fromstring(picture.to_svg(by_family))
    assert picture.to_png(by_family)[:4] == b"\x89PNG"


def test_run_trace_writes_a_chrome_trace_or_run_metadata_and_ranks_op_types(
        capsys, tmp_path, device_settings):
    meta = os.path.join(META, "seed_guide", "my-save-dir", "my-model-10000.meta")
    trace = tmp_path / "trace.json"
    code, out, _ = _main(capsys, "run", meta, "--fetch", "collection:logits", "--trace", trace)
    assert code == 0
    assert re.search(r"traced run: 8 kernel calls, \d+ µs in kernels; wrote .*trace.json", out)
    rows = re.findall(r"^(MatMul|AddV2|Relu)\s+device:CPU:0\s+(\d)\s", out, re.M)
    assert sorted(rows) == [("AddV2", "3"), ("MatMul", "3"), ("Relu", "2")]
    events = json.loads(trace.read_text())["traceEvents"]
    assert sorted(e["args"]["name"] for e in events if e["ph"] == "X") == sorted(
        ["hidden1/MatMul", "hidden1/add", "hidden1/Relu", "hidden2/MatMul", "hidden2/add",
         "hidden2/Relu", "softmax_linear/MatMul", "softmax_linear/add"])
    pb = tmp_path / "md.pb"
    code, out, _ = _main(capsys, "run", meta, "--fetch", "collection:logits", "--trace", pb,
                         "--json")
    assert code == 0
    data = json.loads(out)
    assert {(r["op"], r["calls"]) for r in data["trace"]["ops"]} == {
        ("MatMul", 3), ("AddV2", 3), ("Relu", 2)}
    import gmeta as gm

    md = gm.RunMetadata.FromString(pb.read_bytes())
    assert sum(len(ds.node_stats) for ds in md.step_stats.dev_stats) == 8
    assert len(md.partition_graphs) == 1
    code, _, err = _main(capsys, "run", meta, "--fetch", "collection:logits", "--trace",
                         tmp_path / "t.txt")
    assert code == 2 and "--trace" in err and ".json" in err


# -- errors ----------------------------------------------------------------------------------------
def test_errors_are_one_line_with_exit_codes(runs, capsys):
    line = _failed(runs["err_truncated"], 1)
    assert "truncated.meta: not a MetaGraphDef (binary or text)" in line
    line = _failed(runs["err_feed"], 2)
    assert "bad --feed 'x'" in line and "NAME=FILE.npy" in line
    for args, code, words in (
            (["place", "no_such.meta"], 1, "no_such.meta: no such file"),
            (["frobnicate", "x.meta"], 2, "invalid choice: 'frobnicate'"),
            (["run", os.path.join(ROOT, PS, "model.meta"), "--fetch", "nope:0"], 1,
             "no fetch 'nope:0'"),
            (["graph", os.path.join(ROOT, PS, "model.meta"), "--out", "g.gif"], 2,
             "expected a .svg, .png or .dot file"),
            (["ckpt", "ls", os.path.join(ROOT, PS, "nothing")], 1, "no checkpoint here")):
        got, out, err = _main(capsys, *args)
        assert got == code and err.startswith("gmeta: ") and err.count("\n") == 1, (args, err)
        assert words in err, (args, err)


# -- demo ------------------------------------------------------------------------------------------
def test_demo_trains_on_gpus_then_continues_on_the_cpu(runs):
    out = _ok(runs["demo"])
    assert "1. workstation: hidden1 on /device:GPU:0, hidden2 on /device:GPU:1" in out
    assert "device_count={'GPU': 0}" in out
    assert re.search(r"\d+ nodes\s+/device:GPU:1\s+-> /device:CPU:0\s+soft-fallback-no-device",
                     out)
    if "no usable GPU" in out:
        assert "2 virtual GPUs" in out
    m = re.search(r"loss fell from (\S+) \(step 1\) to (\S+) \(step (\d+)\)", out)
    assert m and float(m.group(2)) < float(m.group(1)) and int(m.group(3)) > 1
    losses = [float(v) for v in re.findall(r"step\s+\d+\s+loss (\S+)", out)]
    assert len(losses) >= 4 and losses[-1] < losses[0]
