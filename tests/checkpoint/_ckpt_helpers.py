"""Shared helpers of the checkpoint tests (TF fixtures, replaying saves, hand-made bundles)."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from gmeta.checkpoint import BundleWriter, merge_bundles, parse_shape_and_slice
from gmeta.checkpoint.bundle import data_filename, index_filename
from gmeta.checkpoint.table import build_table
from gmeta.proto import BundleEntryProto, BundleHeaderProto

HERE = os.path.dirname(os.path.abspath(__file__))
CKPT = os.path.join(HERE, "..", "fixtures", "data", "ckpt")
CASES = ["dtypes", "partitioned", "sharded", "bf16", "many"]


def many_keys_names():
    """The 6000 names of the ``many`` fixture (same formula as make_ckpt_fixtures.py)."""
    return [f"block_{i // 100:02d}/layer_{i % 100:02d}/"
            f"{hashlib.sha1(str(i).encode()).hexdigest()[:28]}" for i in range(6000)]


def load_case(case):
    """(spec dict, npz values or None, prefix path) of a TF-made fixture."""
    d = os.path.join(CKPT, case)
    with open(os.path.join(d, "spec.json")) as f:
        spec = json.load(f)
    npz = os.path.join(d, "values.npz")
    values = np.load(npz, allow_pickle=False) if os.path.exists(npz) else None
    return spec, values, os.path.join(d, spec["prefix"])


def expected(spec, values, name):
    rec = spec["tensors"][name]
    if "npz" in rec:
        return values[rec["npz"]]
    flat = np.array([bytes.fromhex(h) for h in rec["strings_hex"]] or [], dtype=object)
    return flat.reshape(rec["shape"])


def assert_same(got, want):
    got = np.asarray(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.dtype == object:
        assert got.dtype == object
        assert [bytes(x) for x in got.reshape(-1)] == [bytes(x) for x in want.reshape(-1)]
    else:
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        assert got.tobytes() == want.tobytes()


def replay(saves, values_of, out_prefix, tmp_dir):
    """Writes with gmeta what TF's SaveV2 op(s) wrote: same adds, same order, same shards.

    ``values_of(name)`` gives a variable's full value; ``saves`` is spec.json's list (one
    list of ``[name, shape_and_slice]`` per shard). Several shards are merged like the Saver.
    """
    parts = []
    for i, adds in enumerate(saves):
        prefix = out_prefix if len(saves) == 1 else \
            os.path.join(tmp_dir, f"part-{i:05d}-of-{len(saves):05d}")
        with BundleWriter(prefix, sync=False) as w:
            for name, shape_and_slice in adds:
                full = np.asarray(values_of(name))
                if shape_and_slice:
                    shape, ts = parse_shape_and_slice(shape_and_slice)
                    idx = tuple(slice(s, e) for s, e in ts.bounds(shape))
                    w.add_slice(name, shape, ts, full[idx])
                else:
                    w.add(name, full)
        parts.append(prefix)
    if len(saves) > 1:
        merge_bundles(parts, out_prefix, sync=False)


def entry(dtype, shape, offset=0, size=0, crc=0, shard_id=0, slices=()):
    e = BundleEntryProto(dtype=dtype, offset=offset, size=size, crc32c=crc, shard_id=shard_id)
    e.shape.SetInParent()
    for d in shape:
        e.shape.dim.add(size=d)
    for s in slices:
        e.slices.add().CopyFrom(s)
    return e


def write_raw_bundle(prefix, entries, data=b"", header=None, num_shards=1, data_files=None):
    """A hand-made bundle: ``entries`` {key: BundleEntryProto or raw bytes}, one data file."""
    if header is None:
        h = BundleHeaderProto(num_shards=num_shards)
        h.version.producer = 1
        header = h.SerializeToString()
    items = [(b"", header)]
    for k in sorted(entries, key=lambda k: k.encode() if isinstance(k, str) else k):
        v = entries[k]
        items.append((k.encode() if isinstance(k, str) else k,
                      v if isinstance(v, bytes) else v.SerializeToString()))
    with open(index_filename(prefix), "wb") as f:
        f.write(build_table(items))
    for shard, content in (data_files or {0: data}).items():
        with open(data_filename(prefix, shard, num_shards), "wb") as f:
            f.write(content)
