"""gmeta.devices.spec.DeviceSpec against tf.DeviceSpec and tf's device.canonical_name.

TF's answers (tests/fixtures/data/graph_device_spec.json) come from
tests/fixtures/make_graph_fixtures.py; the strings are those of graph_cases.py, which include
every example of the device-string table in /work/shared/reference/tf_anchor.md §3.1.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from gmeta.devices import spec
from gmeta.devices.spec import DeviceSpec

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "fixtures"))

import graph_cases  # noqa: E402

with open(os.path.join(HERE, "fixtures", "data", "graph_device_spec.json")) as _f:
    _TF = json.load(_f)

_C = graph_cases.Ctx(None)


def _check(want, got):
    problems = graph_cases.diff(want, json.loads(json.dumps(got)))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("s", graph_cases.DEVICE_SPEC_STRINGS)
def test_from_string(s):
    _check(_TF["from_string"][s], graph_cases.device_spec_facts(_C, DeviceSpec, s))


@pytest.mark.parametrize("s", graph_cases.DEVICE_SPEC_STRINGS)
def test_canonical_name(s):
    _check(_TF["canonical_name"][s], _C.err(lambda: spec.canonical_name(s), s))


@pytest.mark.parametrize("a,b", graph_cases.DEVICE_MERGE_PAIRS)
def test_make_merged_spec(a, b):
    got = _C.err(lambda: DeviceSpec.from_string(a).make_merged_spec(
        DeviceSpec.from_string(b)).to_string())
    _check(_TF["merged"][f"{a} + {b}"], got)


@pytest.mark.parametrize("a,b", graph_cases.DEVICE_MERGE_PAIRS)
def test_merge_device_is_scope_merge(a, b):
    """merge_device(outer, inner) is what nested tf.device scopes give: inner fields win."""
    assert spec.merge_device(a, b) == _TF["merged"][f"{a} + {b}"]["ok"]


def test_constructor_replace_equality():
    _check(_TF["ctor"], graph_cases.device_spec_ctor_facts(_C, DeviceSpec))


def test_anchor_table():
    """The verified rows of tf_anchor.md §3.1, spelled out."""
    for s in ("/gpu:0", "gpu:0", "/device:gpu:0"):
        assert spec.canonical_name(s) == "/device:GPU:0"
    assert spec.canonical_name("/cpu:0") == "/device:CPU:0"
    assert spec.canonical_name("CPU") == spec.canonical_name("/device:CPU:*") == "/device:CPU:*"
    assert spec.canonical_name("/device:GPU:0/job:ps") == "/job:ps/device:GPU:0"
    assert spec.canonical_name("/job:*") == "/job:*"
    for bad in ("/replica:*", "device:GPU", "/foo:1"):
        with pytest.raises(ValueError):
            DeviceSpec.from_string(bad)
