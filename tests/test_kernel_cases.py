"""Every kernel case of tests/fixtures/kernel_cases.py, built with gmeta and checked against
what TensorFlow 2.21 produced for the same graph and inputs (tests/fixtures/data/).

Per case: the outputs (values to 1e-5 and exact dtypes), the static shapes and dtypes gmeta
infers at build time, the NodeDefs (names, op types, inputs) gmeta builds, and for bad-input
cases the TF error class raised at run time.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import gmeta as gm
from gmeta.proto import GraphDef

HERE = os.path.dirname(__file__)
DATA = os.path.join(HERE, "fixtures", "data")
sys.path.insert(0, os.path.join(HERE, "fixtures"))

import kernel_cases  # noqa: E402

_SPEC = json.load(open(os.path.join(DATA, "kernel_cases.json")))
_SHAPES = json.load(open(os.path.join(DATA, "kernel_cases_shapes.json")))
_NPZ = np.load(os.path.join(DATA, "kernel_cases.npz"))
_TF_GRAPH = GraphDef()
with open(os.path.join(DATA, "kernel_cases_graph.pb"), "rb") as _f:
    _TF_GRAPH.ParseFromString(_f.read())
_TF_NODES: dict[str, list] = {}
for _n in _TF_GRAPH.node:
    _TF_NODES.setdefault(_n.name.split("/", 1)[0], []).append(_n)

# Cases whose graph gmeta builds differently from TF, each with the reason. A case listed here
# that starts matching fails the test, so the list cannot go stale.
GRAPH_DIFFERS: dict[str, str] = {}

CASES = {c.name: c for c in kernel_cases.CASES}


def _build(case):
    g = gm.Graph()
    with g.as_default():
        with gm.name_scope(case.name):
            feeds, outs = kernel_cases.build_case(gm, case)
    return g, feeds, outs


def _feed_dict(case, feeds):
    return {feeds[name]: _NPZ[f"{case.name}/in/{name}"] for name in kernel_cases.make_inputs(case)}


def _expected(case, i):
    want = _NPZ[f"{case.name}/out/{i}"]
    if want.dtype.kind == "S":
        out = np.empty(want.shape, dtype=object)
        out[...] = want.tolist() if want.ndim else want.item()
        return out
    return want


@pytest.mark.parametrize("name", sorted(CASES))
def test_values(name):
    case = CASES[name]
    g, feeds, outs = _build(case)
    with gm.Session(graph=g) as sess:
        if case.raises:
            with pytest.raises(getattr(gm.errors, case.raises)) as info:
                sess.run(outs, _feed_dict(case, feeds))
            assert info.value.op is not None, "the error must name its node"
            return
        got = sess.run(outs, _feed_dict(case, feeds))
    assert len(got) == len(_SPEC[name]["outputs"])
    assert_outputs_match_tf(case, got)


def assert_outputs_match_tf(case, got):
    """Each fetched value against TF's: dtype, shape, values to 1e-5."""
    for i, value in enumerate(got):
        want = _expected(case, i)
        value = np.array(value, dtype=object) if isinstance(value, bytes) else np.asarray(value)
        assert value.dtype == want.dtype or (want.dtype == object and value.dtype == object), \
            f"{case.name} output {i}: dtype {value.dtype}, TF gives {want.dtype}"
        assert value.shape == want.shape, \
            f"{case.name} output {i}: shape {value.shape}, TF {want.shape}"
        if want.dtype.kind in "fc":
            np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-5, equal_nan=True,
                                       err_msg=f"{case.name} output {i}")
        else:
            np.testing.assert_array_equal(value, want, err_msg=f"{case.name} output {i}")


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if not c.raises))
def test_static_shapes(name):
    case = CASES[name]
    _, _, outs = _build(case)
    for i, (t, want) in enumerate(zip(outs, _SHAPES[name])):
        assert t.dtype.name == want["dtype"], f"output {i} dtype"
        got = None if t.shape.ndims is None else t.shape.as_list()
        assert got == want["shape"], f"output {i}: static shape {got}, TF infers {want['shape']}"


def _node_key(n):
    return (n.name, n.op, tuple(n.input))


@pytest.mark.parametrize("name", sorted(CASES))
def test_graph_matches_tf(name):
    g, _, _ = _build(CASES[name])
    mine = [_node_key(n) for n in g.as_graph_def().node]
    theirs = [_node_key(n) for n in _TF_NODES.get(name, [])]
    same = sorted(mine) == sorted(theirs)
    if name in GRAPH_DIFFERS:
        assert not same, f"{name} now matches TF: remove it from GRAPH_DIFFERS"
        return
    assert sorted(mine) == sorted(theirs)
