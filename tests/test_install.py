"""The installed package (what ``pip install .`` puts in site-packages) works from any
directory: its package data (TF's OpDefs) is present and the seed's snippet runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SNIPPET = """
import math, gmeta as tf
images = tf.constant(1.2, tf.float32, shape=[100, 28])
with tf.name_scope("hidden1"):
    weights = tf.Variable(tf.truncated_normal([28, 128], stddev=1.0 / math.sqrt(float(28))),
                          name="weights")
    biases = tf.Variable(tf.zeros([128]), name="biases")
    hidden1 = tf.nn.relu(tf.matmul(images, weights) + biases)
init_all_op = tf.global_variables_initializer()
with tf.Session() as sess:
    sess.run(init_all_op)
    print(gmeta_file := tf.__file__, sess.run(hidden1).shape)
"""


def _installed_location(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", "import gmeta; print(gmeta.__file__)"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None, env


def test_installed_package_runs_the_seed_snippet(tmp_path):
    location, env = _installed_location(tmp_path)
    if location is None:
        pytest.skip("gmeta is not installed in this interpreter (CI installs it with pip)")
    proc = subprocess.run([sys.executable, "-c", SNIPPET], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "(100, 128)" in proc.stdout
