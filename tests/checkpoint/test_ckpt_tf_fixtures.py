"""Checkpoints written by TensorFlow 2.21 (tests/fixtures/make_ckpt_fixtures.py): gmeta reads every
value, reports what TF's CheckpointReader reports, and rewrites byte-identical files."""

import filecmp
import glob
import os
import shutil
import sys

import numpy as np
import pytest

from gmeta.checkpoint import (BundleReader, NewCheckpointReader, TensorSlice, checkpoint_exists,
                              list_variables, load_checkpoint, load_variable)
from gmeta.checkpoint import table as _table
from gmeta.errors import UnimplementedError

sys.path.insert(0, os.path.dirname(__file__))
from _ckpt_helpers import (assert_same, expected, load_case, many_keys_names,  # noqa: E402
                           replay)

VALUE_CASES = ["dtypes", "partitioned", "sharded"]

try:
    import ml_dtypes  # noqa: F401
    HAVE_ML_DTYPES = True
except ImportError:
    HAVE_ML_DTYPES = False


@pytest.mark.parametrize("case", VALUE_CASES)
def test_values_match_tf(case):
    spec, values, prefix = load_case(case)
    reader = NewCheckpointReader(prefix)
    assert sorted(reader.get_variable_to_shape_map()) == sorted(spec["tensors"])
    for name in spec["tensors"]:
        assert_same(reader.get_tensor(name), expected(spec, values, name))


@pytest.mark.parametrize("case", VALUE_CASES + ["bf16"])
def test_reader_metadata_matches_tf(case):
    spec, _, prefix = load_case(case)
    reader = NewCheckpointReader(prefix)
    assert reader.get_variable_to_shape_map() == spec["shape_map"]
    assert {k: v.as_datatype_enum for k, v in reader.get_variable_to_dtype_map().items()} == \
        spec["dtype_map"]
    assert reader.debug_string() == bytes.fromhex(spec["debug_string_hex"])


def test_scalars_come_back_as_numpy_scalars_like_tf():
    _, _, prefix = load_case("dtypes")
    reader = NewCheckpointReader(prefix)
    assert reader.get_tensor("scalar/string") == b"just one"
    v = reader.get_tensor("scalar/int64")
    assert isinstance(v, np.int64) and v == -7
    assert BundleReader(prefix).read("scalar/int64").shape == ()


def test_bfloat16():
    spec, _, prefix = load_case("bf16")
    with BundleReader(prefix) as r:
        if not HAVE_ML_DTYPES:
            with pytest.raises(UnimplementedError, match="bfloat16.*ml_dtypes"):
                r.read("bf")
            return
        got = r.read("bf")
    assert got.view(np.uint16).tolist() == spec["bf16_bits"]


def test_many_keys_multi_block_index():
    _, _, prefix = load_case("many")
    names = many_keys_names()
    with open(prefix + ".index", "rb") as f:
        data = f.read()
    footer = data[-48:]
    _, p = _table.decode_varint(footer, 0, 40)
    _, p = _table.decode_varint(footer, p, 40)
    io, p = _table.decode_varint(footer, p, 40)
    isz, _ = _table.decode_varint(footer, p, 40)
    assert len(list(_table._block_entries(data[io:io + isz], "index"))) >= 2
    with BundleReader(prefix) as r:
        assert r.keys() == sorted(names)
        got = r.read_many(names)
    assert [float(v) for v in got] == [i * 0.5 for i in range(len(names))]


def test_partitioned_slices_and_entries():
    _, values, prefix = load_case("partitioned")
    with BundleReader(prefix) as r:
        assert [str(s) for s in r.slices("emb")] == ["0,4:0,3", "4,3:0,3", "7,3:0,3"]
        assert [str(s) for s in r.slices("wide")] == ["0,4:0,3", "0,4:3,3"]
        # slice keys (OrderedCode) sort right after the header
        assert r.raw_keys()[0] == b"\x00emb\x00\x01\x01\x02\x80\x84\x80\x83"
        full = r.read("emb")
        # TF's RestoreV2 with a slice spec: any sub-slice, across stored slices
        part = r.read_slice("emb", TensorSlice.parse("3,5:1,2"))
        np.testing.assert_array_equal(part, full[3:8, 1:3])
        np.testing.assert_array_equal(r.read_slice("wide", TensorSlice.parse("-:2,2")),
                                      r.read("wide")[:, 2:4])
        np.testing.assert_array_equal(r.read_slice("bias", TensorSlice.parse("1,2")),
                                      r.read("bias")[1:3])


def test_list_and_load_variable_with_directory_and_checkpoint_file():
    spec, values, prefix = load_case("partitioned")
    d = os.path.dirname(prefix)
    assert checkpoint_exists(prefix) and not checkpoint_exists(prefix + "x")
    assert list_variables(d) == sorted((k, v) for k, v in spec["shape_map"].items())
    assert list_variables(prefix) == list_variables(d)
    np.testing.assert_array_equal(load_variable(d, "emb:0"), expected(spec, values, "emb"))
    assert load_checkpoint(d).has_tensor("bias")
    with pytest.raises(ValueError, match="Couldn't find 'checkpoint' file"):
        list_variables(os.path.join(d, ".."))


@pytest.mark.parametrize("case", ["dtypes", "partitioned", "sharded", "many"])
def test_gmeta_rewrites_byte_identical_files(case, tmp_path):
    spec, _, prefix = load_case(case)
    reader = NewCheckpointReader(prefix)
    saves = spec.get("saves") or [[[n, ""] for n in many_keys_names()]]
    out = str(tmp_path / spec["prefix"])
    (tmp_path / "tmp").mkdir()
    replay(saves, reader.get_tensor, out, str(tmp_path / "tmp"))
    tf_files = sorted(glob.glob(prefix + ".*"))
    ours = sorted(glob.glob(out + ".*"))
    assert [f[len(prefix):] for f in tf_files] == [f[len(out):] for f in ours]
    for a, b in zip(tf_files, ours):
        assert filecmp.cmp(a, b, shallow=False), f"{os.path.basename(b)} differs from TF's"
    assert os.listdir(tmp_path / "tmp") == []  # merged shards leave nothing behind


def test_fixture_prefix_is_not_written(tmp_path):
    # Copies so that readers hold no handles on the fixture (and nothing writes there).
    _, _, prefix = load_case("sharded")
    for f in glob.glob(prefix + ".*"):
        shutil.copy(f, tmp_path)
    r = BundleReader(str(tmp_path / os.path.basename(prefix)))
    assert r.num_shards == 3
    assert sorted({r.entry(k).shard_id for k in r.keys()}) == [0, 1, 2]
    r.close()
