"""The TensorFlow side of ``python -m bench --compare-tf``: run in a venv with tensorflow-cpu.

Prints one JSON line per workload. Graph mode (tf.compat.v1, v2 behaviour off), as TF1 code runs.
When onnxruntime and tf2onnx are installed in that venv too, the inference workloads are also
frozen (variables to constants), converted with tf2onnx and timed in an ONNX Runtime session
(CPU provider, default options), after checking that ORT's output equals TF's.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow.compat.v1 as tf  # noqa: E402

from bench.timing import measure, run_workloads  # noqa: E402

tf.disable_v2_behavior()


def _feeds_as_placeholders(graph_def, feed):
    """Turns each fed constant of ``graph_def`` (the seed guide's images) into a Placeholder of
    its dtype and shape, so that tf2onnx makes it a model input instead of folding it."""
    fed = {t.op.name for t in feed if t.op.type == "Const"}
    for node in graph_def.node:
        if node.name in fed:
            shape = node.attr["value"].tensor.tensor_shape
            node.op = "Placeholder"
            del node.attr["value"]
            node.attr["shape"].shape.CopyFrom(shape)


def run_onnxruntime(names, min_time):
    """Rows for the inference workloads of ``names`` run through ONNX Runtime; none when it or
    tf2onnx is not installed."""
    import tempfile

    import numpy as np

    try:
        import onnxruntime as ort
        import tf2onnx
    except ImportError:
        return []
    from bench.workloads import WORKLOADS

    rows = []
    for name in names:
        if not WORKLOADS[name].inference:
            continue
        g = tf.Graph()
        with g.as_default():
            step = WORKLOADS[name].setup(tf, tempfile.mkdtemp(prefix="gmeta-bench-ort-"))
            want = step()
            out = step.fetches
            frozen = tf.graph_util.convert_variables_to_constants(
                step.session, g.as_graph_def(), [out.op.name])
        feed = step.feed or {}
        _feeds_as_placeholders(frozen, feed)
        model, _ = tf2onnx.convert.from_graph_def(
            frozen, input_names=[t.name for t in feed], output_names=[out.name], opset=17)
        sess = ort.InferenceSession(model.SerializeToString(),
                                    providers=["CPUExecutionProvider"])
        inputs = {i.name: v for i, v in zip(sess.get_inputs(), feed.values())}
        got = sess.run(None, inputs)[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        r = measure(lambda sess=sess, inputs=inputs: sess.run(None, inputs), min_time=min_time)
        rows.append({"impl": f"onnxruntime {ort.__version__}", "figure": name,
                     "converter": f"tf2onnx {tf2onnx.__version__}, opset 17", **r})
    return rows

if __name__ == "__main__":
    names = sys.argv[1].split(",")
    min_time = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    for r in run_workloads(tf, names, min_time=min_time):
        print(json.dumps({"impl": f"tensorflow {tf.__version__}", **r}), flush=True)
    for r in run_onnxruntime(names, min_time):
        print(json.dumps(r), flush=True)
