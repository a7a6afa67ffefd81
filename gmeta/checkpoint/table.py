"""The LevelDB-format SSTable that holds a V2 checkpoint's ``.index`` (TF's ``tsl/lib/io`` fork).

File layout (all integers little-endian)::

    [data block][trailer] ... [metaindex block][trailer] [index block][trailer] [footer, 48 bytes]
    trailer = 1 byte type (0 none, 1 snappy) + fixed32 masked crc32c(block contents + type byte)
    block   = entries, then fixed32 restart offsets, then fixed32 number of restarts
    entry   = varint32 shared | varint32 unshared | varint32 value_len | key[shared:] | value
    footer  = varint64 (offset, size) of metaindex, then of index; zero padding to 40 bytes;
              fixed32 magic low, fixed32 magic high (magic 0xdb4775248b80fb57)

:class:`TableBuilder` reproduces TF's ``TableBuilder`` byte for byte with the options
``BundleWriter`` uses: no compression, 256 KiB data blocks, a restart every 16 keys in data
blocks and on every key in the index block, index keys from ``FindShortestSeparator`` /
``FindShortSuccessor``. :func:`read_table` parses a whole table (it also reads snappy blocks,
which TF's reader accepts although TF no longer writes them), checking every block's CRC.
"""

from __future__ import annotations

import struct

from gmeta.checkpoint import crc32c
from gmeta.errors import DataLossError

MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5
BLOCK_SIZE = 256 * 1024
BLOCK_RESTART_INTERVAL = 16
NO_COMPRESSION = 0
SNAPPY_COMPRESSION = 1
_MAX_HANDLE_LEN = 20  # two varint64s
_U32 = struct.Struct("<I")


class CorruptTable(ValueError):
    """Internal: a malformed table; read_table turns it into DataLossError naming the file."""


# -- varints ------------------------------------------------------------------------------------
def encode_varint(v: int) -> bytes:
    """LevelDB/protobuf base-128 varint of a non-negative integer."""
    if v < 0x80:
        return bytes((v,))
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def decode_varint(buf, pos: int, limit: int, max_bits: int = 64):
    """Decodes a varint from ``buf[pos:limit]``; returns ``(value, new_pos)``."""
    result = 0
    shift = 0
    while True:
        if pos >= limit:
            raise CorruptTable("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            if result >> max_bits:
                raise CorruptTable(f"varint does not fit in {max_bits} bits")
            return result, pos
        shift += 7
        if shift >= max_bits + 7:
            raise CorruptTable("varint too long")


# -- index keys (BytewiseComparator) ------------------------------------------------------------
def shortest_separator(start: bytes, limit: bytes) -> bytes:
    """TF's ``FindShortestSeparator``: a short key in [start, limit)."""
    n = min(len(start), len(limit))
    i = 0
    while i < n and start[i] == limit[i]:
        i += 1
    if i >= n:  # one is a prefix of the other: do not shorten
        return start
    b = start[i]
    if b < 0xFF and b + 1 < limit[i]:
        return start[:i] + bytes((b + 1,))
    return start


def short_successor(key: bytes) -> bytes:
    """TF's ``FindShortSuccessor``: a short key >= ``key``."""
    for i, b in enumerate(key):
        if b != 0xFF:
            return key[:i] + bytes((b + 1,))
    return key


# -- writer -------------------------------------------------------------------------------------
class _BlockBuilder:
    def __init__(self, restart_interval: int):
        self._interval = restart_interval
        self.reset()

    def reset(self):
        self._buf = bytearray()
        self._restarts = [0]
        self._counter = 0
        self._last_key = b""

    def empty(self) -> bool:
        return not self._buf

    def size_estimate(self) -> int:
        return len(self._buf) + 4 * len(self._restarts) + 4

    def add(self, key: bytes, value: bytes):
        shared = 0
        if self._counter < self._interval:
            last = self._last_key
            n = min(len(last), len(key))
            while shared < n and last[shared] == key[shared]:
                shared += 1
        else:
            self._restarts.append(len(self._buf))
            self._counter = 0
        buf = self._buf
        buf += encode_varint(shared)
        buf += encode_varint(len(key) - shared)
        buf += encode_varint(len(value))
        buf += key[shared:]
        buf += value
        self._last_key = key
        self._counter += 1

    def finish(self) -> bytes:
        out = self._buf
        for r in self._restarts:
            out += _U32.pack(r)
        out += _U32.pack(len(self._restarts))
        return bytes(out)


class TableBuilder:
    """Builds an SSTable exactly as TF's ``table::TableBuilder`` (no compression) does.

    Keys must be added in strictly increasing bytewise order. :meth:`finish` returns the file.
    """

    def __init__(self, block_size: int = BLOCK_SIZE,
                 restart_interval: int = BLOCK_RESTART_INTERVAL):
        self._block_size = block_size
        self._out = bytearray()
        self._data = _BlockBuilder(restart_interval)
        self._index = _BlockBuilder(1)
        self._last_key = b""
        self._num_entries = 0
        self._pending_handle = None  # handle of the last flushed block, awaiting its index key

    def add(self, key: bytes, value: bytes):
        if self._num_entries > 0:
            if key <= self._last_key:
                raise ValueError(f"table keys must be strictly increasing: {key!r} after "
                                 f"{self._last_key!r}")
            if len(key) + len(value) >= 2 * self._block_size:
                self._flush()
        if self._pending_handle is not None:
            sep = shortest_separator(self._last_key, key)
            self._index.add(sep, self._pending_handle)
            self._pending_handle = None
        self._last_key = key
        self._num_entries += 1
        self._data.add(key, value)
        if self._data.size_estimate() >= self._block_size:
            self._flush()

    def _flush(self):
        if self._data.empty():
            return
        self._pending_handle = self._write_block(self._data)

    def _write_block(self, block: _BlockBuilder) -> bytes:
        contents = block.finish()
        block.reset()
        offset = len(self._out)
        self._out += contents
        crc = crc32c.extend(crc32c.value(contents), b"\x00")
        self._out += b"\x00" + _U32.pack(crc32c.mask(crc))
        return encode_varint(offset) + encode_varint(len(contents))

    def finish(self) -> bytes:
        self._flush()
        metaindex_handle = self._write_block(_BlockBuilder(BLOCK_RESTART_INTERVAL))
        if self._pending_handle is not None:
            self._index.add(short_successor(self._last_key), self._pending_handle)
            self._pending_handle = None
        index_handle = self._write_block(self._index)
        footer = (metaindex_handle + index_handle).ljust(2 * _MAX_HANDLE_LEN, b"\x00")
        footer += _U32.pack(MAGIC & 0xFFFFFFFF) + _U32.pack(MAGIC >> 32)
        self._out += footer
        return bytes(self._out)


def build_table(items) -> bytes:
    """The SSTable bytes for ``items``: (key, value) pairs in strictly increasing key order."""
    builder = TableBuilder()
    for key, value in items:
        builder.add(key, value)
    return builder.finish()


# -- reader -------------------------------------------------------------------------------------
def _snappy_uncompress(data: bytes) -> bytes:
    """Raw snappy decompression (only for old tables; TF writes none since 1.1)."""
    n = len(data)
    ulen, pos = decode_varint(data, 0, n, 32)
    out = bytearray()
    while pos < n:
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            length = tag >> 2
            if length >= 60:
                nb = length - 59
                if pos + nb > n:
                    raise CorruptTable("truncated snappy literal length")
                length = int.from_bytes(data[pos:pos + nb], "little")
                pos += nb
            length += 1
            if pos + length > n:
                raise CorruptTable("truncated snappy literal")
            out += data[pos:pos + length]
            pos += length
        else:
            if kind == 1:
                if pos + 1 > n:
                    raise CorruptTable("truncated snappy copy")
                length = 4 + ((tag >> 2) & 7)
                offset = ((tag >> 5) << 8) | data[pos]
                pos += 1
            else:
                nb = 2 if kind == 2 else 4
                if pos + nb > n:
                    raise CorruptTable("truncated snappy copy")
                length = (tag >> 2) + 1
                offset = int.from_bytes(data[pos:pos + nb], "little")
                pos += nb
            if offset == 0 or offset > len(out):
                raise CorruptTable("bad snappy copy offset")
            start = len(out) - offset
            if offset >= length:
                out += out[start:start + length]
            else:
                pattern = bytes(out[start:])
                out += (pattern * (length // offset + 1))[:length]
        if len(out) > ulen:
            raise CorruptTable("snappy output longer than declared")
    if len(out) != ulen:
        raise CorruptTable("snappy output shorter than declared")
    return bytes(out)


def _read_block(data: bytes, handle: bytes, what: str) -> bytes:
    offset, pos = decode_varint(handle, 0, len(handle))
    size, pos = decode_varint(handle, pos, len(handle))
    if pos != len(handle):
        raise CorruptTable(f"bad {what} block handle")
    end = offset + size
    if end + BLOCK_TRAILER_SIZE > len(data):
        raise CorruptTable(f"truncated block read ({what} block at offset {offset}, {size} bytes, "
                           f"file is {len(data)} bytes)")
    contents = data[offset:end]
    kind = data[end]
    (stored,) = _U32.unpack_from(data, end + 1)
    actual = crc32c.extend(crc32c.value(contents), data[end:end + 1])
    if crc32c.unmask(stored) != actual:
        raise CorruptTable(f"block checksum mismatch ({what} block at offset {offset}: stored "
                           f"{crc32c.unmask(stored):08x}, computed {actual:08x})")
    if kind == NO_COMPRESSION:
        return contents
    if kind == SNAPPY_COMPRESSION:
        return _snappy_uncompress(contents)
    raise CorruptTable(f"bad block type {kind} ({what} block at offset {offset})")


def _block_entries(block: bytes, what: str):
    """Yields (key, value) of every entry in a block, rebuilding prefix-compressed keys."""
    size = len(block)
    if size < 4:
        raise CorruptTable(f"bad block contents ({what} block is {size} bytes)")
    (num_restarts,) = _U32.unpack_from(block, size - 4)
    if num_restarts > (size - 4) // 4:
        raise CorruptTable(f"bad block contents ({what} block: {num_restarts} restarts)")
    limit = size - 4 * (num_restarts + 1)
    if limit > 0 and num_restarts == 0:
        raise CorruptTable(f"bad block contents ({what} block has entries but no restarts)")
    pos = 0
    key = b""
    while pos < limit:
        a, b, c = block[pos], block[pos + 1] if pos + 1 < limit else 0x80, \
            block[pos + 2] if pos + 2 < limit else 0x80
        if (a | b | c) < 0x80:  # fast path: three one-byte varints
            shared, unshared, vlen = a, b, c
            pos += 3
        else:
            shared, pos = decode_varint(block, pos, limit, 32)
            unshared, pos = decode_varint(block, pos, limit, 32)
            vlen, pos = decode_varint(block, pos, limit, 32)
        if shared > len(key) or pos + unshared + vlen > limit:
            raise CorruptTable(f"bad entry in block ({what} block, offset {pos})")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + vlen]
        pos += vlen


def read_table(data: bytes, filename: str = "<table>") -> list[tuple[bytes, bytes]]:
    """Parses a whole SSTable; returns its (key, value) pairs in key order.

    Raises:
        DataLossError: naming ``filename`` and the problem (bad magic, truncated file or block,
            block checksum mismatch, malformed block, keys out of order).
    """
    try:
        return _read_table(data)
    except CorruptTable as e:
        raise DataLossError(None, None, f"Unable to read checkpoint index {filename}: {e}") \
            from None


def _read_table(data: bytes) -> list[tuple[bytes, bytes]]:
    if len(data) < FOOTER_SIZE:
        raise CorruptTable(f"file is too short to be an sstable ({len(data)} bytes)")
    footer = data[-FOOTER_SIZE:]
    lo, hi = struct.unpack_from("<II", footer, FOOTER_SIZE - 8)
    if (hi << 32) | lo != MAGIC:
        raise CorruptTable("not an sstable (bad magic number)")
    _, pos = decode_varint(footer, 0, 40)
    _, pos = decode_varint(footer, pos, 40)  # skips the metaindex handle (TF never reads it)
    index_handle_start = pos
    _, pos = decode_varint(footer, pos, 40)
    _, pos = decode_varint(footer, pos, 40)
    body = data[:-FOOTER_SIZE]
    index = _read_block(body, footer[index_handle_start:pos], "index")
    items: list[tuple[bytes, bytes]] = []
    last = None
    for i, (_, handle) in enumerate(_block_entries(index, "index")):
        block = _read_block(body, handle, f"data #{i}")
        for key, value in _block_entries(block, f"data #{i}"):
            if last is not None and key <= last:
                raise CorruptTable(f"keys out of order: {key!r} after {last!r}")
            items.append((key, value))
            last = key
    return items
