"""gmeta writes bundles and reads them back: dtypes, strings, slices, shards, big tensors, and the
writer's all-or-nothing finish."""

import os
import struct
import sys

import numpy as np
import pytest

from gmeta.checkpoint import (BundleReader, BundleWriter, TensorSlice, bundle, crc32c,
                              data_filename, index_filename, merge_bundles, parse_shape_and_slice)
from gmeta.checkpoint import writer as _writer
from gmeta.checkpoint.slices import encode_tensor_name_slice
from gmeta.errors import InvalidArgumentError, NotFoundError
from gmeta.proto import BundleHeaderProto

sys.path.insert(0, os.path.dirname(__file__))
from _ckpt_helpers import assert_same  # noqa: E402

RNG = np.random.default_rng(0)
VALUES = {
    "f32": RNG.standard_normal((3, 5)).astype(np.float32),
    "f64": RNG.standard_normal(4),
    "i32": np.arange(-3, 3, dtype=np.int32),
    "i64": np.array([2 ** 60, -1], dtype=np.int64),
    "bool": np.array([True, False, True]),
    "f16": np.array([1.5, -2.0, 65504], dtype=np.float16),
    "u8": np.arange(7, dtype=np.uint8),
    "i8": np.array([-128, 127], np.int8),
    "i16": np.array([-5], np.int16),
    "u16": np.array([65535], np.uint16),
    "u32": np.array([4294967295], np.uint32),
    "u64": np.array([2 ** 64 - 1], np.uint64),
    "c64": np.array([1 + 2j], np.complex64),
    "c128": np.array([[3 - 4j]], np.complex128),
    "scalar": np.float32(2.5).reshape(()),
    "scalar_str": np.array(b"one", dtype=object),
    "empty": np.zeros((0, 4), np.float32),
    "empty_str": np.zeros((2, 0), dtype=object),
    "strings": np.array([b"", b"a", b"\x00\xff" * 100, "ünï".encode(), b"z" * 70000],
                        dtype=object),
    "unicode_in": np.array(["héllo", "wörld"]),
    "bytes_S": np.array([b"ab", b"c"]),
}


def _write(prefix, values, **kw):
    with BundleWriter(prefix, **kw) as w:
        for k, v in values.items():
            w.add(k, v)


def _want(v):
    v = np.asarray(v)
    if v.dtype.kind == "U":
        return np.array([s.encode() for s in v.reshape(-1)], dtype=object).reshape(v.shape)
    if v.dtype.kind == "S":
        return v.astype(object)
    return v


def test_roundtrip_every_dtype(tmp_path):
    prefix = str(tmp_path / "m")
    _write(prefix, VALUES)
    assert sorted(os.listdir(tmp_path)) == ["m.data-00000-of-00001", "m.index"]
    with BundleReader(prefix) as r:
        assert r.keys() == sorted(VALUES)
        for k, v in VALUES.items():
            assert_same(r.read(k), _want(v))
            shape, dt = r.shape_and_dtype(k)
            assert shape == np.shape(v)
        assert r.shape_and_dtype("c64")[1].name == "complex64"
        assert r.header.num_shards == 1 and r.header.version.producer == 1
        assert r.header.endianness == BundleHeaderProto.LITTLE


def test_data_follows_add_order_and_entries_record_offsets(tmp_path):
    prefix = str(tmp_path / "m")
    with BundleWriter(prefix) as w:
        w.add("b", np.int32(1))
        w.add("a", np.array([2, 3], np.int64))
    with open(data_filename(prefix, 0, 1), "rb") as f:
        assert f.read() == struct.pack("<i2q", 1, 2, 3)
    with BundleReader(prefix) as r:
        assert r.keys() == ["a", "b"]
        e = r.entry("a")
        assert (e.offset, e.size, e.dtype) == (4, 16, 9)
        assert e.crc32c == crc32c.masked_value(struct.pack("<2q", 2, 3))


def test_string_layout_matches_tf(tmp_path):
    # tf_anchor §2.4, E1: "hello", "", "x"*200 -> lengths 05 00 c8 01, crc, bytes; size 213.
    prefix = str(tmp_path / "s")
    with BundleWriter(prefix) as w:
        w.add("s", np.array([b"hello", b"", b"x" * 200], dtype=object))
    with open(data_filename(prefix, 0, 1), "rb") as f:
        data = f.read()
    assert data[:4] == bytes.fromhex("0500c801")
    assert len(data) == 213 and data[8:13] == b"hello"
    c = crc32c.value(struct.pack("<3I", 5, 0, 200))
    assert data[4:8] == struct.pack("<I", crc32c.mask(c))
    c = crc32c.extend(crc32c.extend(c, data[4:8]), data[8:])
    with BundleReader(prefix) as r:
        assert r.entry("s").crc32c == crc32c.mask(c) and r.entry("s").size == 213


def test_non_contiguous_and_big_endian_inputs(tmp_path):
    prefix = str(tmp_path / "m")
    a = np.arange(20, dtype=np.float64).reshape(4, 5)
    be = np.arange(6, dtype=">i4")
    with BundleWriter(prefix) as w:
        w.add("t", a.T)
        w.add("be", be)
        w.add("py", [[1.0, 2.0]])
    with BundleReader(prefix) as r:
        np.testing.assert_array_equal(r.read("t"), a.T)
        got = r.read("be")
        assert got.dtype == np.int32 and got.tolist() == list(range(6))
        assert r.read("py").dtype == np.float64


def test_big_tensors_are_read_in_parallel_sections(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle, "_WORKERS", 4)
    prefix = str(tmp_path / "big")
    big = RNG.standard_normal(9 * 1024 * 1024 // 8 * 3)  # 27 MiB: several sections
    small = {f"s{i}": RNG.standard_normal(1 << 18) for i in range(40)}  # 80 MiB of 2 MiB reads
    with BundleWriter(prefix) as w:
        w.add("big", big)
        for k, v in small.items():
            w.add(k, v)
    with BundleReader(prefix) as r:
        job = bundle._Job("big", np.empty_like(big), 0, "", r.entry("big"))
        sizes = [mv.nbytes for _, mv in job.sections]
        assert len(sizes) > 1 and sum(sizes) == big.nbytes
        assert all(n % crc32c.CHUNK == 0 and n >= bundle._SECTION_MIN for n in sizes[:-1])
        np.testing.assert_array_equal(r.read("big"), big)
        got = r.read_many(list(small))
        for v, g in zip(small.values(), got):
            np.testing.assert_array_equal(g, v)
        out = np.empty_like(big)
        assert r.read("big", out=out) is out
        np.testing.assert_array_equal(out, big)
        with pytest.raises(InvalidArgumentError, match="out= for tensor big"):
            r.read("big", out=np.empty(3))


def test_writer_rejects_duplicates_and_reserved_key(tmp_path):
    with BundleWriter(str(tmp_path / "m")) as w:
        w.add("a", np.float32(1))
        with pytest.raises(InvalidArgumentError, match="duplicate key: a"):
            w.add("a", np.float32(2))
        with pytest.raises(InvalidArgumentError, match="reserved"):
            w.add("", np.float32(2))
        with pytest.raises(InvalidArgumentError, match="Cannot save"):
            w.add("o", np.zeros(2, dtype="V8"))
    with BundleReader(str(tmp_path / "m")) as r:
        assert r.keys() == ["a"] and r.read("a") == 1


def test_nothing_under_final_names_until_finish(tmp_path):
    prefix = str(tmp_path / "m")
    w = BundleWriter(prefix)
    w.add("a", np.ones(3))
    assert not os.path.exists(index_filename(prefix))
    assert not os.path.exists(data_filename(prefix, 0, 1))
    w.abort()
    assert os.listdir(tmp_path) == []


def test_failed_finish_keeps_previous_checkpoint(tmp_path, monkeypatch):
    prefix = str(tmp_path / "m")
    _write(prefix, {"a": np.ones(3)})
    before = sorted(os.listdir(tmp_path))

    def boom(items):
        raise OSError("disk full")

    monkeypatch.setattr(_writer, "build_table", boom)
    w = BundleWriter(prefix)
    w.add("a", np.zeros(3))
    with pytest.raises(OSError, match="disk full"):
        w.finish()
    assert sorted(os.listdir(tmp_path)) == before  # temporaries removed, old files kept
    with BundleReader(prefix) as r:
        assert r.read("a").tolist() == [1, 1, 1]


def test_exception_inside_with_aborts(tmp_path):
    prefix = str(tmp_path / "m")
    with pytest.raises(RuntimeError):
        with BundleWriter(prefix) as w:
            w.add("a", np.ones(3))
            raise RuntimeError("caller failed")
    assert os.listdir(tmp_path) == []


def test_missing_parent_directory(tmp_path):
    with pytest.raises(NotFoundError, match="parent does not exist"):
        BundleWriter(str(tmp_path / "no" / "such" / "m"))
    BundleWriter(str(tmp_path / "one_level" / "m")).abort()  # creates one level, like TF
    assert os.path.isdir(tmp_path / "one_level")


def test_partitioned_roundtrip_and_repartitioned_reads(tmp_path):
    prefix = str(tmp_path / "p")
    full = RNG.standard_normal((10, 4)).astype(np.float32)
    words = np.array([[b"a", b"b"], [b"c", b"d"], [b"e", b"f"]], dtype=object)
    with BundleWriter(prefix) as w:
        for spec in ("10 4 0,4:-", "10 4 4,6:-"):
            shape, ts = parse_shape_and_slice(spec)
            w.add_slice("emb", shape, ts, full[tuple(slice(s, e) for s, e in ts.bounds(shape))])
        w.add_slice("words", [3, 2], TensorSlice.parse("0,3:0,1"), words[:, :1])
        w.add_slice("words", [3, 2], TensorSlice.parse("0,3:1,1"), words[:, 1:])
        w.add_slice("whole", [2], TensorSlice.parse("0,2"), np.array([1, 2], np.int32))
        with pytest.raises(InvalidArgumentError, match="has shape"):
            w.add_slice("emb", [10, 4], TensorSlice.parse("0,1:-"), full)
    with BundleReader(prefix) as r:
        np.testing.assert_array_equal(r.read("emb"), full)
        assert r.read("words").tolist() == words.tolist()
        assert r.slices("whole") == []  # a full slice is stored as a plain tensor, as in TF
        np.testing.assert_array_equal(r.read_slice("emb", TensorSlice.parse("2,5:1,2")),
                                      full[2:7, 1:3])
        np.testing.assert_array_equal(r.read_slice("emb", TensorSlice.parse("4,6:-")), full[4:])
        key = encode_tensor_name_slice(b"emb", TensorSlice.parse("0,4:-"))
        assert key == b"\x00emb\x00\x01\x01\x02\x80\x84\x80\x7f"
        assert r.entry(key).shape.dim[0].size == 4
        out = np.empty((10, 4), np.float32)
        r.read("emb", out=out)
        np.testing.assert_array_equal(out, full)


def test_ordered_code_numbers():
    from gmeta.checkpoint.slices import _signed_num_increasing as s
    assert s(0) == b"\x80" and s(3) == b"\x83" and s(-1) == b"\x7f" and s(-64) == b"\x40"
    assert s(63) == b"\xbf" and s(64) == b"\xc0\x40"
    assert s(0x424242) == bytes.fromhex("f0424242")  # ordered_code.cc, example 1
    assert s(-0x800) == bytes.fromhex("3800")  # example 2
    assert s(2 ** 63 - 1)[:2] == b"\xff\xc0" and len(s(2 ** 63 - 1)) == 10
    vals = [-(2 ** 63), -(2 ** 40), -8193, -65, -64, -1, 0, 1, 63, 64, 8191, 8192, 2 ** 50,
            2 ** 63 - 1]
    encs = [s(v) for v in vals]
    assert encs == sorted(encs) and len(set(encs)) == len(encs)
    # names escape 0x00 and 0xff; the rank is a length-prefixed big-endian number
    key = encode_tensor_name_slice(b"a\x00b\xff", TensorSlice([300], [-1]))
    assert key == b"\x00a\x00\xffb\xff\x00\x00\x01\x01\x01" + s(300) + s(-1)
    from gmeta.checkpoint.slices import _read_signed_num, decode_tensor_name_slice, describe_key
    for v in vals:
        assert _read_signed_num(s(v), 0) == (v, len(s(v)))
    assert decode_tensor_name_slice(key) == (b"a\x00b\xff", TensorSlice([300], [-1]))
    assert describe_key(encode_tensor_name_slice(b"emb", TensorSlice.parse("0,4:-"))) == \
        "emb (slice 0,4:-)"


def test_merge_bundles_like_tf(tmp_path):
    d = tmp_path / "tmp"
    d.mkdir()
    a, b, c = (str(d / f"part-{i:05d}-of-00003") for i in range(3))
    full = np.arange(12, dtype=np.float32).reshape(6, 2)
    with BundleWriter(a) as w:
        w.add("x", np.ones(2))
        w.add_slice("emb", [6, 2], TensorSlice.parse("0,3:-"), full[:3])
    with BundleWriter(b) as w:
        w.add("y", np.array([b"s"], dtype=object))
        w.add_slice("emb", [6, 2], TensorSlice.parse("3,3:-"), full[3:])
    with BundleWriter(c) as w:
        w.add("z", np.int64(5))
    out = str(tmp_path / "model-1")
    merge_bundles([a, b, c], out)
    assert sorted(os.listdir(d)) == []
    assert sorted(os.listdir(tmp_path)) == ["model-1.data-00000-of-00003",
                                            "model-1.data-00001-of-00003",
                                            "model-1.data-00002-of-00003", "model-1.index", "tmp"]
    with BundleReader(out) as r:
        assert r.num_shards == 3
        np.testing.assert_array_equal(r.read("emb"), full)
        assert [str(s) for s in r.slices("emb")] == ["0,3:-", "3,3:-"]
        assert r.read("z") == 5 and r.read("y").tolist() == [b"s"]


def test_merge_errors_leave_inputs_intact(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    _write(a, {"x": np.ones(2)})
    _write(b, {"x": np.zeros(2)})
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(InvalidArgumentError, match="Duplicate tensor keyed by x"):
        merge_bundles([a, b], str(tmp_path / "m"))
    with pytest.raises(InvalidArgumentError, match="did not exist"):
        merge_bundles([a, str(tmp_path / "nope")], str(tmp_path / "m"))
    os.unlink(data_filename(b, 0, 1))
    with pytest.raises(NotFoundError, match="b.data-00000-of-00001"):
        merge_bundles([b], str(tmp_path / "m"))
    with pytest.raises(InvalidArgumentError, match="none existed"):
        merge_bundles([str(tmp_path / "nope")], str(tmp_path / "m"), allow_missing_files=True)
    assert sorted(os.listdir(tmp_path)) == [f for f in before if f != "b.data-00000-of-00001"]
    merge_bundles([a, str(tmp_path / "nope")], str(tmp_path / "m"), allow_missing_files=True)
    with BundleReader(str(tmp_path / "m")) as r:
        assert r.read("x").tolist() == [1, 1]


def test_writer_shard_of_several(tmp_path):
    prefix = str(tmp_path / "m")
    with BundleWriter(prefix, shard_id=1, num_shards=2) as w:
        w.add("a", np.ones(2))
    assert os.path.exists(data_filename(prefix, 1, 2))
    with BundleReader(prefix) as r:
        assert r.num_shards == 2 and r.entry("a").shard_id == 1
        assert r.read("a").tolist() == [1, 1]
    with pytest.raises(InvalidArgumentError, match="shard_id 2"):
        BundleWriter(prefix, shard_id=2, num_shards=2)


def test_reads_big_endian_bundles(tmp_path):
    # Hand-made: a header saying BIG and byte-swapped data (what TF writes on big-endian hosts).
    from _ckpt_helpers import entry, write_raw_bundle
    vals = np.array([1.5, -2.0], dtype=">f4").tobytes()
    lens = struct.pack(">2I", 2, 1)
    c = crc32c.value(lens)
    lc = struct.pack(">I", crc32c.mask(c))
    strings = bytes([2, 1]) + lc + b"abc"
    sc = crc32c.extend(crc32c.extend(c, lc), b"abc")
    h = BundleHeaderProto(num_shards=1, endianness=BundleHeaderProto.BIG)
    h.version.producer = 1
    prefix = str(tmp_path / "be")
    write_raw_bundle(prefix, {
        "f": entry(1, [2], 0, 8, crc32c.masked_value(vals)),
        "s": entry(7, [2], 8, len(strings), crc32c.mask(sc)),
    }, vals + strings, header=h.SerializeToString())
    with BundleReader(prefix) as r:
        assert r.read("f").tolist() == [1.5, -2.0]
        assert r.read("s").tolist() == [b"ab", b"c"]


def test_str_and_bytes_keys_and_non_utf8_keys(tmp_path):
    prefix = str(tmp_path / "m")
    with BundleWriter(prefix) as w:
        w.add(b"raw\xff", np.int32(1))
        w.add("名前", np.int32(2))
    with BundleReader(prefix) as r:
        keys = r.keys()
        assert "名前" in keys and b"raw\xff" in r
        assert r.read(keys[keys.index("raw\udcff")]) == 1
        assert r.read("名前".encode()) == 2
