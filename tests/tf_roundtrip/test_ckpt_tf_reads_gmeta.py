"""TensorFlow reads what gmeta writes: bundles made by gmeta's BundleWriter / merge_bundles are
read back by TF (``tf.train.load_checkpoint`` and ``RestoreV2``, sliced reads included) in a
subprocess running the interpreter named by GMETA_TF_PYTHON (a venv with tensorflow).

Skipped, with the reason, when GMETA_TF_PYTHON is not set (conftest.py)."""

import json
import os
import subprocess
import textwrap

import numpy as np
import pytest

from gmeta.checkpoint import BundleWriter, TensorSlice, merge_bundles

pytestmark = pytest.mark.tf

RNG = np.random.default_rng(3)
PLAIN = {
    "f32": RNG.standard_normal((3, 4)).astype(np.float32),
    "f64": RNG.standard_normal(5),
    "i32": np.arange(-4, 4, dtype=np.int32).reshape(2, 4),
    "i64": np.array([-(2 ** 62), 7], np.int64),
    "bool": np.array([True, False, True]),
    "f16": RNG.standard_normal(6).astype(np.float16),
    "u8": np.arange(250, 256, dtype=np.uint8),
    "c64": np.array([1 - 2j], np.complex64),
    "scalar": np.float32(4.5).reshape(()),
    "empty": np.zeros((0, 3), np.float32),
    "big": RNG.standard_normal(300_000).astype(np.float32),
    "layer/with spaces/ünï": np.array([1, 2], np.int32),
}
STRINGS = {
    "s": np.array([b"hello", b"", b"x" * 300, b"\x00\xff"], dtype=object),
    "s0": np.array(b"scalar", dtype=object),
}
EMB = RNG.standard_normal((10, 3)).astype(np.float32)

TF_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    spec = json.load(open(sys.argv[1]))
    vals = np.load(sys.argv[2])
    fails = []
    for case in spec["cases"]:
        prefix = case["prefix"]
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
        if sorted(shapes) != sorted(case["names"]):
            fails.append(f"{prefix}: names {sorted(shapes)}")
        for name in case["names"]:
            got = np.asarray(reader.get_tensor(name))
            if name in case["strings"]:
                want = [bytes.fromhex(h) for h in case["strings"][name]]
                ok = [bytes(x) for x in got.reshape(-1)] == want
            else:
                want = vals[case["npz"][name]]
                ok = got.dtype == want.dtype and got.shape == want.shape and \\
                    got.tobytes() == want.tobytes()
            if not ok:
                fails.append(f"{prefix}: {name} differs")
        for name, sl, start, stop in case.get("sliced", []):
            dt = tf.as_dtype(vals[case["npz"][name]].dtype)
            out = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=[name],
                                       shape_and_slices=[sl], dtypes=[dt])[0].numpy()
            want = vals[case["npz"][name]][start[0]:stop[0], start[1]:stop[1]]
            if not np.array_equal(out, want):
                fails.append(f"{prefix}: RestoreV2 {name} {sl} differs")
    print("FAILS", fails) if fails else print("TF read everything")
    sys.exit(1 if fails else 0)
""")


def _case(prefix, values, npz, sliced=()):
    names, strings, keys = [], {}, {}
    for name, v in values.items():
        names.append(name)
        if np.asarray(v).dtype == object:
            strings[name] = [bytes(x).hex() for x in np.asarray(v).reshape(-1)]
        else:
            keys[name] = f"a{len(npz)}"
            npz[keys[name]] = np.asarray(v)
    return {"prefix": prefix, "names": names, "strings": strings, "npz": keys,
            "sliced": list(sliced)}


def test_tf_reads_gmeta_bundles(tmp_path, tf_python):
    npz, cases = {}, []
    plain = str(tmp_path / "plain" / "model")
    with BundleWriter(plain) as w:
        for name in sorted({**PLAIN, **STRINGS}):
            w.add(name, {**PLAIN, **STRINGS}[name])
    cases.append(_case(plain, {**PLAIN, **STRINGS}, npz))

    # a partitioned variable and a sharded save, merged as the Saver does
    (tmp_path / "sharded" / "model_temp").mkdir(parents=True)
    parts = []
    for i, (lo, hi) in enumerate([(0, 4), (4, 7), (7, 10)]):
        p = str(tmp_path / "sharded" / "model_temp" / f"part-{i:05d}-of-00003")
        with BundleWriter(p) as w:
            w.add_slice("emb", [10, 3], TensorSlice([lo, 0], [hi - lo, 3]), EMB[lo:hi])
            w.add(f"v{i}", np.full(2, i, np.float32))
        parts.append(p)
    merged = str(tmp_path / "sharded" / "model")
    merge_bundles(parts, merged)
    cases.append(_case(merged, {"emb": EMB, **{f"v{i}": np.full(2, i, np.float32)
                                               for i in range(3)}}, npz,
                       sliced=[("emb", "10 3 2,5:1,2", [2, 1], [7, 3])]))

    with open(tmp_path / "spec.json", "w") as f:
        json.dump({"cases": cases}, f)
    np.savez(tmp_path / "vals.npz", **npz)
    (tmp_path / "read.py").write_text(TF_SCRIPT)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop("PYTHONPATH", None)
    res = subprocess.run([tf_python, str(tmp_path / "read.py"), str(tmp_path / "spec.json"),
                          str(tmp_path / "vals.npz")], capture_output=True, text=True, env=env,
                         timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "TF read everything" in res.stdout
