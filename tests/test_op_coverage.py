"""The op-coverage set ("Real models") against TensorFlow 2.21: every case of
tests/fixtures/op_coverage_cases.py, built by gmeta inside ``name_scope(<case>)``, is compared
with what TF built for it (tests/fixtures/data/op_coverage.*, made by
tests/fixtures/make_op_coverage_fixtures.py): the NodeDefs (names, op types, inputs, every attr),
the static shapes and dtypes of the outputs, and the values (to 1e-5) with TF's fed inputs.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import gmeta as gm

HERE = os.path.dirname(__file__)
DATA = os.path.join(HERE, "fixtures", "data")
sys.path.insert(0, os.path.join(HERE, "fixtures"))

import op_coverage_cases as C  # noqa: E402
from graph_diff import load_case_fixtures  # noqa: E402
from graph_diff import node_diffs as _node_diffs  # noqa: E402

_SPEC, _NPZ, _TF_NODES = load_case_fixtures(DATA, "op_coverage")

CASES = {c.name: c for c in C.CASES}


def _build(case):
    g = gm.Graph()
    with g.as_default():
        with gm.name_scope(case.name):
            feeds, outs = C.build_case(gm, case)
    return g, feeds, outs




@pytest.mark.parametrize("name", sorted(CASES))
def test_graph_matches_tf(name):
    g, _, _ = _build(CASES[name])
    diffs = _node_diffs(_TF_NODES[name], g.as_graph_def().node)
    assert not diffs, f"{len(diffs)} differences from TF's graph:\n" + "\n".join(diffs[:40])


@pytest.mark.parametrize("name", sorted(CASES))
def test_static_shapes(name):
    _, _, outs = _build(CASES[name])
    spec = _SPEC[name]
    assert [t.name for t in outs] == spec["outputs"]
    for i, (t, want) in enumerate(zip(outs, spec["shapes"])):
        got = None if t.shape.ndims is None else t.shape.as_list()
        assert (got, t.dtype.name) == (want["shape"], want["dtype"]), f"output {i}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_values(name):
    case = CASES[name]
    g, feeds, outs = _build(case)
    inputs = C.make_inputs(case)
    for k, v in inputs.items():
        np.testing.assert_array_equal(v, _NPZ[f"{name}/in/{k}"])
    with gm.Session(graph=g) as sess:
        got = sess.run(outs, {feeds[k]: v for k, v in inputs.items()})
    for i, value in enumerate(got):
        want = _NPZ[f"{name}/out/{i}"]
        value = np.asarray(value)
        assert (value.shape, value.dtype) == (want.shape, want.dtype), f"output {i}"
        tol = 2e-3 if value.dtype == np.float16 else 1e-5
        np.testing.assert_allclose(value, want, rtol=tol, atol=tol, err_msg=f"output {i}")
