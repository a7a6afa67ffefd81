"""Dump TensorFlow's registered OpDefs into gmeta/framework/op_defs.binpb.

Run inside the TensorFlow venv (the oracle), e.g.:

    TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 /work/tfvenv/bin/python tools/gen_op_defs.py

Writes a serialized ``tensorflow.OpList`` with every op TensorFlow knows
(sorted by name), with all documentation (summary/description fields)
stripped, serialized deterministically.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow  # noqa: E402  (registers all ops)
from tensorflow.core.framework import op_def_pb2  # noqa: E402
from tensorflow.python.framework import op_def_registry  # noqa: E402

OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), os.pardir, "gmeta", "framework", "op_defs.binpb"
)


def _all_op_defs():
    # op_def_registry.get() lazily pulls from the C++ registry; the full list
    # comes from the C API (TF_GetAllOpList), exposed via _pywrap.
    ops = {}
    try:
        from tensorflow.python.client import pywrap_tf_session as c_api

        buf = c_api.TF_GetAllOpList()
        try:
            data = c_api.TF_GetBuffer(buf)
        finally:
            c_api.TF_DeleteBuffer(buf)
        lst = op_def_pb2.OpList()
        lst.ParseFromString(bytes(data))
        for op in lst.op:
            ops[op.name] = op
    except Exception as exc:  # pragma: no cover - fallback path
        print("TF_GetAllOpList unavailable (%r); falling back to raw_ops" % (exc,), file=sys.stderr)
    for name in dir(tensorflow.raw_ops):
        if name.startswith("_") or name in ops:
            continue
        op = op_def_registry.get(name)
        if op is not None:
            ops[name] = op
    return ops


def _strip(op):
    op = op_def_pb2.OpDef.FromString(op.SerializeToString())
    op.ClearField("summary")
    op.ClearField("description")
    for arg in list(op.input_arg) + list(op.output_arg):
        arg.ClearField("description")
    for attr in op.attr:
        attr.ClearField("description")
    if op.HasField("deprecation"):
        # keep version + explanation: it is semantic (raised by the runtime)
        pass
    return op


def main():
    ops = _all_op_defs()
    out = op_def_pb2.OpList()
    for name in sorted(ops):
        out.op.add().CopyFrom(_strip(ops[name]))
    data = out.SerializeToString(deterministic=True)
    path = os.path.normpath(OUT)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    print("wrote %s: %d ops, %d bytes" % (path, len(out.op), len(data)))


if __name__ == "__main__":
    main()
