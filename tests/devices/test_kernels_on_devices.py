"""Every kernel case of tests/fixtures/kernel_cases.py run on a GPU device and compared with
TensorFlow's values (which the CPU kernels match, tests/test_kernel_cases.py) to 1e-5.

- On a virtual GPU (numpy-backed; runs everywhere): the nodes are placed on GPU:0 by default
  placement, so this exercises placement, the host-memory rules and the copies inserted for feeds,
  int32 shape arithmetic kept on the host and fetches, on every case.
- On the real GPUs CuPy finds: the same, through CuPy kernels. Skipped, with the inventory's
  reason, on machines without a usable GPU (one skip, not one per case).
"""

from __future__ import annotations

import numpy as np
import pytest

import gmeta as gm
from gmeta.devices import discovery
from tests.test_kernel_cases import CASES, _build, _feed_dict, assert_outputs_match_tf


# TF's GPU kernels do not check indices/labels (a check would wait for the device), and neither
# do gmeta's CuPy kernels (gmeta/kernels/array.py on_device, nn.py _sparse_xent): these error
# cases of the CPU kernels give TF's GPU values instead. case -> check of the fetched values.
GPU_UNCHECKED = {
    # params (3, 2), indices [0, 3]: the out-of-range row is zeros
    "err_gather_out_of_range": lambda p, i, out: (
        np.testing.assert_array_equal(out[0][0], p[0]),
        np.testing.assert_array_equal(out[0][1], 0)),
    "err_gather_negative_index": lambda p, i, out: np.testing.assert_array_equal(out[0], [0]),
    # labels [1, 5] with 3 classes: the loss is NaN for the bad row only
    "err_sparse_softmax_label_out_of_range": lambda labels, logits, out:
        np.testing.assert_equal(np.isnan(out[0]), [False, True]),
}


def check_unchecked(name, config=None):
    """Runs error case ``name`` of GPU_UNCHECKED and checks TF's GPU values instead."""
    case = CASES[name]
    g, feeds, outs = _build(case)
    fd = _feed_dict(case, feeds)
    with gm.Session(graph=g, config=config) as sess:
        got = sess.run(outs, fd)
    GPU_UNCHECKED[name](*[np.asarray(v) for v in fd.values()], [np.asarray(v) for v in got])


def _check(name, config=None):
    case = CASES[name]
    g, feeds, outs = _build(case)
    with gm.Session(graph=g, config=config) as sess:
        if case.raises:
            with pytest.raises(getattr(gm.errors, case.raises)):
                sess.run(outs, _feed_dict(case, feeds))
            return sess
        got = sess.run(outs, _feed_dict(case, feeds))
    assert_outputs_match_tf(case, got)
    return sess


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_on_a_virtual_gpu(name, monkeypatch):
    monkeypatch.setattr(discovery, "_probe_gpus", lambda: ([], "real GPUs hidden by the test"))
    monkeypatch.setattr(discovery, "_virtual_gpus", 1)
    sess = _check(name)
    rows = sess.placement()
    on_gpu = [r for r in rows if r["assigned"].endswith("GPU:0")]
    kernel_ops = [r for r in rows if r["op"] not in ("Placeholder", "PlaceholderWithDefault")]
    if kernel_ops and not CASES[name].raises:
        # something ran on the GPU unless every node is host-only (strings, int32 math, I/O)
        host_only = all(r["reason"] in ("host-memory", "soft-fallback-no-kernel")
                        for r in kernel_ops if not r["assigned"].endswith("GPU:0"))
        assert on_gpu or host_only


def test_every_case_on_each_real_gpu():
    discovery._reset_probe_for_tests()
    inv = discovery.inventory()
    real = [d for d in inv.gpus if d.real_gpu]
    if not real:
        pytest.skip(f"no usable GPU on this machine: {inv.gpu_reason}")
    failures = []
    for name in sorted(CASES):  # pragma: no cover - GPU machines
        for gpu in real:
            cfg = gm.ConfigProto()
            cfg.gpu_options.visible_device_list = str(gpu.ordinal)
            try:
                if name in GPU_UNCHECKED:
                    check_unchecked(name, cfg)
                else:
                    _check(name, cfg)
            except (Exception, pytest.fail.Exception) as e:  # collect all, report together
                failures.append(f"{name} on GPU ordinal {gpu.ordinal}: "
                                f"{type(e).__name__}: {str(e)[:300]}")
    assert not failures, f"{len(failures)} case(s) differ on GPU:\n" + "\n".join(failures)
