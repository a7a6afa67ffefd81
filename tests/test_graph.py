"""The graph model (naming, scopes, devices, control dependencies, colocation, collections,
the default-graph stack, lookups, the Tensor/Operation API) against TensorFlow 2.21.

Each scenario of tests/fixtures/graph_cases.py runs here on gmeta and its observations are
compared with what the same code observed on tf.compat.v1 (tests/fixtures/data/
graph_scenarios.json, made by tests/fixtures/make_graph_fixtures.py).
"""

from __future__ import annotations

import json
import os
import sys

import pytest

import gmeta as gm
from gmeta.devices.spec import DeviceSpec

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "fixtures"))

import graph_cases  # noqa: E402

with open(os.path.join(HERE, "fixtures", "data", "graph_scenarios.json")) as _f:
    _TF = json.load(_f)

# Scenarios whose gmeta answer still differs from TF, each with the reason. A listed scenario
# that starts matching fails, so the list cannot go stale.
KNOWN_DIFFERENCES: dict[str, str] = {}


def _run(name):
    c = graph_cases.Ctx(gm, DeviceSpec)
    fn = graph_cases.SCENARIOS[name]
    if name in graph_cases.OWN_GRAPH:
        return fn(c)
    c.g = gm.Graph()
    with c.g.as_default():
        return fn(c)


def test_every_scenario_has_a_fixture():
    assert sorted(graph_cases.SCENARIOS) == sorted(_TF)


@pytest.mark.parametrize("name", sorted(graph_cases.SCENARIOS))
def test_scenario_matches_tf(name):
    got = json.loads(json.dumps(_run(name)))
    problems = graph_cases.diff(_TF[name], got)
    if name in KNOWN_DIFFERENCES:
        assert problems, f"{name} now matches TF: remove it from KNOWN_DIFFERENCES"
        pytest.xfail(KNOWN_DIFFERENCES[name])
    assert not problems, "\n".join(problems)
