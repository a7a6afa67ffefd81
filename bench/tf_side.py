"""The TensorFlow side of ``python -m bench --compare-tf``: run in a venv with tensorflow-cpu.

Prints one JSON line per workload. Graph mode (tf.compat.v1, v2 behaviour off), as TF1 code runs.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow.compat.v1 as tf  # noqa: E402

from bench.timing import run_workloads  # noqa: E402

tf.disable_v2_behavior()

if __name__ == "__main__":
    names = sys.argv[1].split(",")
    min_time = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    for r in run_workloads(tf, names, min_time=min_time):
        print(json.dumps({"impl": f"tensorflow {tf.__version__}", **r}))
