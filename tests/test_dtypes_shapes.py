"""gmeta.dtypes and gmeta TensorShape against TensorFlow 2.21 (tf.compat.v1 behaviour).

TF's answers (tests/fixtures/data/graph_dtypes.json, graph_shapes.json) come from
tests/fixtures/make_graph_fixtures.py, which runs the same functions of graph_cases.py.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import gmeta as gm

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "fixtures"))

import graph_cases  # noqa: E402

DATA = os.path.join(HERE, "fixtures", "data")
with open(os.path.join(DATA, "graph_dtypes.json")) as _f:
    _DTYPES = json.load(_f)
with open(os.path.join(DATA, "graph_shapes.json")) as _f:
    _SHAPES = json.load(_f)

_C = graph_cases.Ctx(gm)

# Documented differences: gmeta keeps resource/variant handles in object arrays, so their
# as_numpy_dtype is np.object_ where TF raises KeyError.
DEVIATIONS = {("resource", "as_numpy_dtype"), ("variant", "as_numpy_dtype")}
# Facts that need the numpy type of bfloat16/float8/int4..., which only ml_dtypes provides.
_NEEDS_NUMPY_TYPE = ("as_numpy_dtype", "min", "max", "size")


def _check(want, got):
    problems = graph_cases.diff(want, json.loads(json.dumps(got)))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("spec", graph_cases.dtype_specs())
def test_as_dtype(spec):
    _check(_DTYPES["as_dtype"][spec], _C.err(lambda: graph_cases.as_dtype_spec(gm, spec)))


@pytest.mark.parametrize("name", sorted(_DTYPES["facts"]))
def test_dtype_facts(name):
    dt = gm.as_dtype(name)
    want = dict(_DTYPES["facts"][name])
    got = graph_cases.dtype_facts(_C, dt)
    for key in list(want):
        if (dt.base_dtype.name, key) in DEVIATIONS:
            assert "error" in want[key] and "ok" in got[key], key
            del want[key], got[key]
    if dt.base_dtype._np is None:  # no ml_dtypes here: TF's numpy-type facts cannot match
        assert "ok" in want["as_numpy_dtype"]
        for key in _NEEDS_NUMPY_TYPE:
            del want[key], got[key]
    _check(want, got)


def test_ml_dtypes_types_have_numpy_types_when_installed():
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes is not installed")
    assert gm.bfloat16.as_numpy_dtype is ml_dtypes.bfloat16
    assert gm.as_dtype(24).as_numpy_dtype is ml_dtypes.float8_e5m2


def test_dtype_numpy_equality_and_hash():
    assert gm.float32 == np.float32 and gm.float32 == np.dtype("float32")
    assert gm.float32 != np.float64 and gm.int64 == "int64"
    assert {gm.float32: 1}[gm.as_dtype(1)] == 1
    assert gm.as_dtype("float32_ref").base_dtype is gm.float32


@pytest.mark.parametrize("dims", graph_cases.SHAPE_INPUTS, ids=repr)
def test_shape_facts(dims):
    _check(_SHAPES["single"][repr(dims)], graph_cases.shape_facts(_C, gm.TensorShape, dims))


@pytest.mark.parametrize("a,b", graph_cases.SHAPE_PAIRS, ids=repr)
def test_shape_pair_facts(a, b):
    _check(_SHAPES["pairs"][f"{a!r} + {b!r}"],
           graph_cases.shape_pair_facts(_C, gm.TensorShape(a), gm.TensorShape(b)))
