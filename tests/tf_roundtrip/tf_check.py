"""Runs in the TensorFlow interpreter (GMETA_TF_PYTHON): TF reads what gmeta wrote.

Usage: ``python tf_check.py JOB`` where JOB is a path to a JSON file, ``-`` (JSON on stdin) or
the JSON text itself. Prints one line ``GMETA_TF_JSON: {...}`` on stdout (TF logs go to stderr).
Imports neither gmeta nor anything outside TF, numpy and the standard library.

A job::

    {"runs": [RUN, ...], "checkpoints": [CKPT, ...]}

RUN (each in a fresh ``tf.Graph``; an exception is reported in its result, not raised)::

    label          free text, echoed back
    meta           the .meta file (binary or text) for tf.compat.v1.train.import_meta_graph
    clear_devices  bool; import_scope: str or null
    input_map      {"$unbound_inputs_x": {"name": .., "dtype": .., "shape": [..]}}: a placeholder
                   made before the import, mapped in
    saver          "returned" (import_meta_graph's Saver, the default) or "new" (tf.train.Saver())
    restore        {"prefix": path} or {"latest_dir": dir}: what to restore (omitted: nothing)
    init           run tf.global_variables_initializer() instead of restoring
    config         {"device_count": {"CPU": 2}, "allow_soft_placement": bool}
    feeds_npz      .npz with the feed values; feeds: {tensor name: key in feeds_npz}
    fetches        tensor names, or "@key[i]" for item i of collection "key"
    out_npz        where the fetched values go (keys f0, f1, ...)
    run_ops        op names run (in order) after the restore, before the fetches
    train          {"op", "steps", "fetches", "out_npz"}: runs op with the feeds ``steps``
                   times, saving the fetches after each step (keys s<step>_f<i>)
    collections    collection keys whose items are described in the result
    devices        node names whose requested device is reported
    save           {"prefix": p, "global_step": n, "recover_dir": dir}: the Saver then saves (after
                   recover_last_checkpoints of dir's state when recover_dir is given)

CKPT (checks of gmeta's checkpoint files with TF's checkpoint API)::

    {"label", "dir": d, "prefix": p (default latest_checkpoint(d)), "out_npz": values}
"""

from __future__ import annotations

import json
import os
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

tf.disable_v2_behavior()
tf.logging.set_verbosity(tf.logging.ERROR)


def describe(item):
    """A JSON description of a collection item, as the tests compare it."""
    if isinstance(item, tf.Variable):
        return {"kind": "variable", "name": item.name}
    if isinstance(item, tf.Tensor):
        return {"kind": "tensor", "name": item.name}
    if isinstance(item, tf.Operation):
        return {"kind": "op", "name": item.name}
    if isinstance(item, tf.train.Saver):
        return {"kind": "saver"}
    if isinstance(item, bytes):
        return {"kind": "bytes", "value": item.decode("utf-8", "backslashreplace")}
    if isinstance(item, str):  # bytes_list items imported under an import_scope
        return {"kind": "str", "value": item}
    if isinstance(item, bool):
        return {"kind": "bool", "value": item}
    if isinstance(item, int):
        return {"kind": "int", "value": item}
    if isinstance(item, float):
        return {"kind": "float", "value": item}
    return {"kind": type(item).__name__, "value": repr(item)}


def _fetch(graph, name):
    if name.startswith("@"):
        key, index = name[1:].rstrip("]").split("[")
        return graph.get_collection(key)[int(index)]
    return graph.as_graph_element(name)


def _config(spec):
    if not spec:
        return None
    return tf.ConfigProto(device_count=spec.get("device_count", {}),
                          allow_soft_placement=spec.get("allow_soft_placement", False))


def do_run(run):
    out = {"label": run.get("label"), "ok": False}
    graph = tf.Graph()
    with graph.as_default():
        input_map = None
        if run.get("input_map"):
            input_map = {}
            for key, ph in run["input_map"].items():
                input_map[key] = tf.placeholder(tf.as_dtype(ph["dtype"]), ph.get("shape"),
                                                name=ph["name"])
        saver = tf.train.import_meta_graph(run["meta"],
                                           clear_devices=run.get("clear_devices", False),
                                           import_scope=run.get("import_scope"),
                                           input_map=input_map)
        out["returned_saver"] = saver is not None
        if saver is not None and saver.saver_def is not None:
            sd = saver.saver_def
            out["saver_def"] = {"filename_tensor_name": sd.filename_tensor_name,
                                "save_tensor_name": sd.save_tensor_name,
                                "restore_op_name": sd.restore_op_name,
                                "max_to_keep": sd.max_to_keep, "sharded": sd.sharded,
                                "version": int(sd.version)}
        if run.get("saver", "returned") == "new":
            saver = tf.train.Saver()
        out["collections"] = {key: [describe(x) for x in graph.get_collection(key)]
                              for key in run.get("collections", [])}
        out["all_collection_keys"] = sorted(graph.get_all_collection_keys())
        out["devices"] = {n: graph.get_operation_by_name(n).device
                          for n in run.get("devices", [])}
        out["num_nodes"] = len(graph.as_graph_def().node)
        needs_session = run.get("restore") or run.get("init") or run.get("fetches") or \
            run.get("save") or run.get("run_ops")
        if needs_session:
            with tf.Session(graph=graph, config=_config(run.get("config"))) as sess:
                if run.get("init"):
                    sess.run(tf.global_variables_initializer())
                restore = run.get("restore")
                if restore:
                    prefix = restore.get("prefix")
                    if prefix is None:
                        prefix = tf.train.latest_checkpoint(restore["latest_dir"])
                        if prefix is None:
                            raise ValueError(f"tf.train.latest_checkpoint("
                                             f"{restore['latest_dir']!r}) is None")
                    out["restored_from"] = prefix
                    saver.restore(sess, prefix)
                for op_name in run.get("run_ops", []):
                    sess.run(graph.get_operation_by_name(op_name))
                feeds = {}
                if run.get("feeds"):
                    values = np.load(run["feeds_npz"])
                    feeds = {graph.as_graph_element(t): values[k]
                             for t, k in run["feeds"].items()}
                train = run.get("train")
                if train:  # {"op", "steps", "fetches", "out_npz"}: fetches after each step
                    op = graph.get_operation_by_name(train["op"])
                    fetches = [_fetch(graph, f) for f in train["fetches"]]
                    per_step = {}
                    for step in range(train["steps"]):
                        sess.run(op, feeds)
                        for i, v in enumerate(sess.run(fetches, feeds)):
                            per_step[f"s{step}_f{i}"] = np.asarray(v)
                    np.savez(train["out_npz"], **per_step)
                if run.get("fetches"):
                    fetches = [_fetch(graph, f) for f in run["fetches"]]
                    got = sess.run(fetches, feeds)
                    np.savez(run["out_npz"], **{f"f{i}": np.asarray(v)
                                                for i, v in enumerate(got)})
                save = run.get("save")
                if save:
                    if save.get("recover_dir"):
                        state = tf.train.get_checkpoint_state(save["recover_dir"])
                        saver.recover_last_checkpoints(list(state.all_model_checkpoint_paths))
                    out["saved"] = saver.save(sess, save["prefix"],
                                              global_step=save.get("global_step"))
    out["ok"] = True
    return out


def do_checkpoint(check):
    out = {"label": check.get("label"), "ok": False}
    d = check.get("dir")
    if d is not None:
        out["latest_checkpoint"] = tf.train.latest_checkpoint(d)
        state = tf.train.get_checkpoint_state(d)
        if state is None:
            out["state"] = None
        else:
            out["state"] = {
                "model_checkpoint_path": state.model_checkpoint_path,
                "all_model_checkpoint_paths": list(state.all_model_checkpoint_paths),
                "all_model_checkpoint_timestamps": list(state.all_model_checkpoint_timestamps),
            }
    prefix = check.get("prefix") or out.get("latest_checkpoint")
    out["prefix"] = prefix
    if prefix:
        out["checkpoint_exists"] = bool(tf.train.checkpoint_exists(prefix))
        out["list_variables"] = [[n, list(s)] for n, s in tf.train.list_variables(prefix)]
        reader = tf.train.load_checkpoint(prefix)
        dtypes = reader.get_variable_to_dtype_map()
        out["dtypes"] = {k: v.name for k, v in dtypes.items()}
        if check.get("out_npz"):
            names = sorted(dtypes)
            out["npz_keys"] = {n: f"v{i}" for i, n in enumerate(names)}
            np.savez(check["out_npz"], **{f"v{i}": np.asarray(reader.get_tensor(n))
                                          for i, n in enumerate(names)})
    out["ok"] = True
    return out


def _guarded(fn, item):
    try:
        return fn(item)
    except Exception as e:  # reported to the test, which decides
        return {"label": item.get("label"), "ok": False, "error_type": type(e).__name__,
                "error": str(e), "traceback": traceback.format_exc(limit=6)}


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    arg = argv[1]
    if arg == "-":
        job = json.load(sys.stdin)
    elif arg.lstrip().startswith("{"):
        job = json.loads(arg)
    else:
        with open(arg, encoding="utf-8") as f:
            job = json.load(f)
    result = {"tf_version": tensorflow.__version__,
              "runs": [_guarded(do_run, r) for r in job.get("runs", [])],
              "checkpoints": [_guarded(do_checkpoint, c) for c in job.get("checkpoints", [])]}
    sys.stdout.write("GMETA_TF_JSON: " + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
