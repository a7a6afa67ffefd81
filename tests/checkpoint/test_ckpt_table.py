"""The LevelDB-format SSTable of the .index file: writer layout rules, reader checks."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gmeta.checkpoint import crc32c, table
from gmeta.checkpoint.table import (BLOCK_SIZE, MAGIC, build_table, decode_varint, encode_varint,
                                    read_table, short_successor, shortest_separator)
from gmeta.errors import DataLossError


def _footer_handles(data):
    footer = data[-48:]
    mo, p = decode_varint(footer, 0, 40)
    ms, p = decode_varint(footer, p, 40)
    io, p = decode_varint(footer, p, 40)
    isz, p = decode_varint(footer, p, 40)
    return (mo, ms), (io, isz)


def _index_entries(data):
    _, (io, isz) = _footer_handles(data)
    block = data[io:io + isz]
    return list(table._block_entries(block, "index"))


def test_varint_roundtrip():
    for v in (0, 1, 127, 128, 300, 2 ** 32 - 1, 2 ** 63, 2 ** 64 - 1):
        enc = encode_varint(v)
        assert decode_varint(enc, 0, len(enc)) == (v, len(enc))
    assert encode_varint(300) == b"\xac\x02"
    with pytest.raises(table.CorruptTable):
        decode_varint(b"\x80\x80", 0, 2)
    with pytest.raises(table.CorruptTable):
        decode_varint(encode_varint(2 ** 40), 0, 6, max_bits=32)


def test_separators_follow_bytewise_comparator():
    assert shortest_separator(b"abc1xyz", b"abc9") == b"abc2"
    assert shortest_separator(b"abc1xyz", b"abc2") == b"abc1xyz"  # 1+1 is not < 2
    assert shortest_separator(b"abc", b"abcd") == b"abc"  # prefix: unchanged
    assert shortest_separator(b"a\xff", b"b") == b"a\xff"
    assert shortest_separator(b"a\xffz", b"a\xff\xff") == b"a\xff{"
    assert short_successor(b"fc/weights/Adam_1") == b"g"
    assert short_successor(b"\xff\xffa") == b"\xff\xffb"
    assert short_successor(b"\xff\xff") == b"\xff\xff"
    assert short_successor(b"") == b""


def test_empty_table_matches_leveldb_layout():
    data = build_table([])
    # empty data section; metaindex and index are both the 8-byte empty block
    assert data[:8] == b"\x00\x00\x00\x00\x01\x00\x00\x00"
    assert len(data) == 2 * (8 + 5) + 48
    assert data[-8:] == bytes.fromhex("57fb808b247547db")
    assert struct.unpack("<Q", data[-8:])[0] == MAGIC
    assert read_table(data) == []


def test_tf_worked_example_header_entry():
    # tf_anchor §2.2: a header-only entry is "00 00 06 | 08 01 1a 02 08 01".
    data = build_table([(b"", bytes.fromhex("08011a020801"))])
    assert data[:9] == bytes.fromhex("000006" "08011a020801")
    (mo, ms), (io, isz) = _footer_handles(data)
    assert (mo, ms) == (9 + 8 + 5, 8)  # data block (12 bytes) + restarts, then metaindex
    # FindShortSuccessor("") is "": the index key of the only block
    assert _index_entries(data) == [(b"", encode_varint(0) + encode_varint(17))]


def test_restart_points_every_16_keys_and_prefix_compression():
    items = [(f"key{i:03d}".encode(), b"v") for i in range(40)]
    data = build_table(items)
    (_, _), (io, _) = _footer_handles(data)
    entries = _index_entries(data)
    assert len(entries) == 1
    off, p = decode_varint(entries[0][1], 0, 20)
    size, _ = decode_varint(entries[0][1], p, 20)
    block = data[off:off + size]
    n = struct.unpack_from("<I", block, size - 4)[0]
    restarts = struct.unpack_from(f"<{n}I", block, size - 4 - 4 * n)
    assert n == 3 and restarts[0] == 0
    # the entry at each restart shares nothing; the one after shares "key0"
    for r in restarts:
        assert block[r] == 0
    assert block[restarts[0] + 3 + 6 + 1] == 5  # "key001" shares "key00" with "key000"
    assert entries[0][0] == b"l"  # FindShortSuccessor("key039")
    assert read_table(data) == items


def test_multi_block_index_keys_and_flush_rule():
    items = [(b"k%06d" % i, b"x" * 100) for i in range(6000)]
    data = build_table(items)
    entries = _index_entries(data)
    assert len(entries) >= 2
    sizes = []
    for k, (key, handle) in enumerate(entries):
        off, p = decode_varint(handle, 0, 20)
        size, _ = decode_varint(handle, p, 20)
        sizes.append(size)
        blk = list(table._block_entries(data[off:off + size], "data"))
        assert blk[-1][0] <= key
        if k + 1 < len(entries):
            assert size >= BLOCK_SIZE  # flushed once the estimate reached block_size
    assert read_table(data) == items


def test_huge_entry_flushes_current_block_first():
    items = [(b"a", b"1"), (b"b", b"z" * (2 * BLOCK_SIZE)), (b"c", b"3")]
    data = build_table(items)
    assert len(_index_entries(data)) == 3
    assert read_table(data) == items


def test_keys_must_increase():
    b = table.TableBuilder()
    b.add(b"b", b"")
    with pytest.raises(ValueError):
        b.add(b"a", b"")
    with pytest.raises(ValueError):
        b.add(b"b", b"")


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.dictionaries(st.binary(max_size=40), st.binary(max_size=300), max_size=200),
       st.integers(min_value=64, max_value=4096))
def test_roundtrip_random(d, block_size):
    items = sorted(d.items())
    builder = table.TableBuilder(block_size=block_size)
    for k, v in items:
        builder.add(k, v)
    assert read_table(builder.finish()) == items


def _snappy_literal_only(raw: bytes) -> bytes:
    out = encode_varint(len(raw))
    for i in range(0, len(raw), 60):
        chunk = raw[i:i + 60]
        out += bytes(((len(chunk) - 1) << 2,)) + chunk
    return out


def _with_snappy_data_block(data, compressed):
    """Re-frames a one-data-block table with its data block replaced by a type-1 block."""
    entries = _index_entries(data)
    assert len(entries) == 1
    trailer = b"\x01" + struct.pack("<I", crc32c.mask(crc32c.value(compressed + b"\x01")))
    body = compressed + trailer
    meta = b"\x00\x00\x00\x00\x01\x00\x00\x00"
    meta_block = meta + b"\x00" + struct.pack("<I", crc32c.mask(crc32c.value(meta + b"\x00")))
    index = bytearray()
    key = entries[0][0]
    handle = encode_varint(0) + encode_varint(len(compressed))
    index += b"\x00" + encode_varint(len(key)) + encode_varint(len(handle)) + key + handle
    index += struct.pack("<II", 0, 1)
    index = bytes(index)
    index_block = index + b"\x00" + struct.pack("<I", crc32c.mask(crc32c.value(index + b"\x00")))
    mo = len(body)
    io = mo + len(meta_block)
    footer = (encode_varint(mo) + encode_varint(8) + encode_varint(io) +
              encode_varint(len(index))).ljust(40, b"\x00") + struct.pack("<Q", MAGIC)
    return body + meta_block + index_block + footer


def test_reads_snappy_blocks():
    items = [(b"", b"hdr"), (b"abc", b"x" * 50), (b"abd", b"y" * 20)]
    data = build_table(items)
    off_size = _index_entries(data)[0][1]
    off, p = decode_varint(off_size, 0, 20)
    size, _ = decode_varint(off_size, p, 20)
    raw = data[off:off + size]
    assert read_table(_with_snappy_data_block(data, _snappy_literal_only(raw))) == items
    # a copy element: literal "abcd", then copy len 8 offset 4 (overlapping) -> "abcd" * 3
    assert table._snappy_uncompress(encode_varint(12) + b"\x0cabcd" + bytes((0x11, 4))) == \
        b"abcd" * 3
    for bad in (encode_varint(5) + b"\x0cabcd",  # shorter than declared
                encode_varint(4) + b"\x0cab",  # truncated literal
                encode_varint(8) + b"\x0cabcd" + bytes((0x01, 9))):  # offset past the output
        with pytest.raises(table.CorruptTable):
            table._snappy_uncompress(bad)


def _corrupt(data, pos, xor=0x40):
    b = bytearray(data)
    b[pos] ^= xor
    return bytes(b)


def test_reader_errors_name_the_file_and_problem():
    data = build_table([(b"", b"h"), (b"a", b"1")])
    with pytest.raises(DataLossError, match=r"f\.index.*bad magic"):
        read_table(_corrupt(data, len(data) - 1), "f.index")
    with pytest.raises(DataLossError, match="too short"):
        read_table(data[:47], "f.index")
    with pytest.raises(DataLossError, match="truncated block read"):
        read_table(data[:5] + data[-48:], "f.index")
    with pytest.raises(DataLossError, match="block checksum mismatch"):
        read_table(_corrupt(data, 3), "f.index")
    with pytest.raises(DataLossError, match="block checksum mismatch"):
        read_table(_corrupt(data, len(data) - 49), "f.index")  # inside the index trailer
