"""The light bench workloads run under gmeta as written (bench/workloads.py), and the imported
seed forward computes what TensorFlow computed from the same file."""

from __future__ import annotations

import os

import numpy as np
import pytest

import gmeta as tf
from bench import workloads

LIGHT = [name for name, w in workloads.WORKLOADS.items() if not w.heavy]


@pytest.mark.parametrize("name", LIGHT)
def test_a_light_workload_runs_twice_with_the_same_result(name, tmp_path):
    with tf.Graph().as_default():
        step = workloads.WORKLOADS[name].setup(tf, str(tmp_path))
        first, second = step(), step()
    if name.endswith("_train"):  # a training step: the loss is finite and the step moved it
        assert np.isfinite(first[1]) and np.isfinite(second[1]) and first[1] != second[1]
    else:
        np.testing.assert_array_equal(first, second)


def test_the_imported_forward_equals_tensorflows_logits_for_the_same_batch(tmp_path):
    expected = np.load(os.path.join(os.path.dirname(workloads.SEED_FILE), os.pardir,
                                    "expected.npz"))
    want = expected["outputs/softmax_linear/add:0"]  # TF 2.21's logits, images = 1.2
    with tf.Graph().as_default():
        step = workloads.WORKLOADS["seed_mlp_forward_imported"].setup(tf, str(tmp_path))
        (images,) = step.feed
        assert images.op.type == "Const" and images.shape.as_list() == [100, 28]
        got = step.session.run(step.fetches, {images: np.full((100, 28), 1.2, np.float32)})
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert not np.allclose(step(), want)  # the timed step feeds another batch
