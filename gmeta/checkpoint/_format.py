"""Shared pieces of the V2 bundle format: file names, keys, header, string-tensor layout."""

from __future__ import annotations

import os
import struct

import numpy as np
from google.protobuf.message import DecodeError

from gmeta import dtypes as _dtypes
from gmeta.checkpoint import crc32c
from gmeta.checkpoint.slices import describe_key
from gmeta.checkpoint.table import encode_varint, read_table
from gmeta.errors import DataLossError, InvalidArgumentError, NotFoundError
from gmeta.proto import BundleHeaderProto

HEADER_KEY = b""
VERSION = 1  # kTensorBundleVersion
MIN_PRODUCER = 0  # kTensorBundleMinProducer
_CHUNK = crc32c.CHUNK
_U32 = struct.Struct("<I")
_MAX_RANK = 254
_STRING = _dtypes.string.as_datatype_enum
_UNREADABLE = {_dtypes.resource.as_datatype_enum, _dtypes.variant.as_datatype_enum}
_LITTLE_HOST = np.little_endian


def data_filename(prefix, shard: int, num_shards: int) -> str:
    """``<prefix>.data-SSSSS-of-NNNNN`` (TF's ``DataFilename``)."""
    return f"{os.fspath(prefix)}.data-{shard:05d}-of-{num_shards:05d}"


def index_filename(prefix) -> str:
    """``<prefix>.index`` (TF's ``MetaFilename``)."""
    return f"{os.fspath(prefix)}.index"


def _key_bytes(key) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode("utf-8", "surrogateescape")
    raise TypeError(f"checkpoint keys are str or bytes, not {type(key).__name__}")


def _key_str(key: bytes) -> str:
    return key.decode("utf-8", "surrogateescape")


_name = describe_key  # a key in messages: slice keys as "emb (slice 0,4:-)"


def _tmp_suffix() -> str:
    return f".tempstate{int.from_bytes(os.urandom(8), 'little')}"


def _make_dir(prefix: str):
    """Creates the prefix's directory (one level, like TF's ``CreateDir(Dirname(prefix))``)."""
    d = os.path.dirname(prefix)
    if not d or os.path.isdir(d):
        return
    try:
        os.mkdir(d)
    except FileExistsError:
        pass
    except FileNotFoundError:
        raise NotFoundError(None, None, f"Cannot create directory {d} for checkpoint {prefix}: "
                            "its parent does not exist") from None


def _header_bytes(num_shards: int, endianness=BundleHeaderProto.LITTLE, version=None) -> bytes:
    header = BundleHeaderProto(num_shards=num_shards, endianness=endianness)
    if version is None:
        header.version.producer = VERSION
    else:
        header.version.CopyFrom(version)
    return header.SerializeToString()


def _write_file(path: str, chunks, sync: bool):
    with open(path, "xb", buffering=0) as f:
        for chunk in chunks:
            _write_all(f, chunk)
        if sync:
            os.fsync(f.fileno())


def _write_all(f, buf):
    mv = memoryview(buf)
    while mv.nbytes:
        n = f.write(mv)
        mv = mv[n:]


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _to_array(value) -> tuple[np.ndarray, int]:
    """The value as a C-contiguous little-endian array (or object array of bytes) + dtype enum."""
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if arr.dtype.kind in "OSU":
        return arr, _STRING
    try:
        enum = _dtypes.as_dtype(arr.dtype).as_datatype_enum
    except TypeError as e:
        raise InvalidArgumentError(None, None, f"Cannot save a {arr.dtype} array: {e}") from None
    if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and not _LITTLE_HOST):
        arr = arr.astype(arr.dtype.newbyteorder("<"))  # bundles gmeta writes are little-endian
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")
    return arr, enum


def _string_elements(arr: np.ndarray) -> list[bytes]:
    out = []
    for e in arr.reshape(-1).tolist():
        if isinstance(e, bytes):
            out.append(e)
        elif isinstance(e, str):
            out.append(e.encode("utf-8"))
        else:
            raise InvalidArgumentError(None, None, f"string tensor element {e!r} is neither "
                                       "bytes nor str")
    return out


def _lengths_crc(lengths, order: str = "<") -> int:
    """CRC of the string lengths as TF takes it: uint32 each, uint64 for lengths >= 2**32."""
    if not lengths:
        return 0
    if max(lengths) <= 0xFFFFFFFF:
        return crc32c.value(np.asarray(lengths, dtype=order + "u4").tobytes())
    crc = 0
    for n in lengths:
        crc = crc32c.extend(crc, struct.pack(order + ("I" if n <= 0xFFFFFFFF else "Q"), n))
    return crc


def _encode_lengths(lengths) -> bytes:
    if not lengths or max(lengths) < 0x80:
        return bytes(lengths)
    return b"".join(encode_varint(n) for n in lengths)


def _load_index(prefix: str):
    """Reads and validates ``<prefix>.index``: returns (header, {key: serialized entry}, keys)."""
    path = index_filename(prefix)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise NotFoundError(None, None, f"Checkpoint index {path} not found (no V2 checkpoint "
                            f"with prefix {prefix})") from None
    except IsADirectoryError:
        raise NotFoundError(None, None, f"Checkpoint index {path} is a directory") from None
    items = read_table(data, path)
    if not items or items[0][0] != HEADER_KEY:
        raise DataLossError(None, None, f"Unable to read checkpoint index {path}: failed to "
                            "seek to header entry (the first key is not \"\")")
    try:
        header = BundleHeaderProto.FromString(items[0][1])
    except DecodeError as e:
        raise DataLossError(None, None, f"Unable to read checkpoint index {path}: unable to "
                            f"parse header ({e})") from None
    v = header.version
    if v.producer < MIN_PRODUCER:
        raise InvalidArgumentError(None, None, f"Checkpoint {path}: producer version "
                                   f"{v.producer} below min producer {MIN_PRODUCER} supported")
    if v.min_consumer > VERSION:
        raise InvalidArgumentError(None, None, f"Checkpoint {path}: min consumer version "
                                   f"{v.min_consumer} above current version {VERSION}")
    if VERSION in v.bad_consumers:
        raise InvalidArgumentError(None, None, f"Checkpoint {path} disallows consumer version "
                                   f"{VERSION}")
    if header.num_shards < 1:
        raise DataLossError(None, None, f"Checkpoint index {path}: header says num_shards = "
                            f"{header.num_shards}")
    if header.endianness not in (BundleHeaderProto.LITTLE, BundleHeaderProto.BIG):
        raise DataLossError(None, None, f"Checkpoint index {path}: unknown endianness "
                            f"{header.endianness}")
    return header, dict(items[1:]), [k for k, _ in items[1:]]


if hasattr(os, "pread"):
    _pread = os.pread
else:  # pragma: no cover - Windows
    def _pread(fd: int, n: int, offset: int) -> bytes:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, n)

if hasattr(os, "preadv"):
    def _pread_into(fd: int, mv: memoryview, offset: int) -> int:
        return os.preadv(fd, [mv], offset)
else:  # pragma: no cover - platforms without preadv
    def _pread_into(fd: int, mv: memoryview, offset: int) -> int:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.readv(fd, [mv])


def _pread_bytes(fd: int, path: str, name: str, offset: int, size: int) -> bytes:
    pieces = []
    got = 0
    while got < size:
        b = _pread(fd, size - got, offset + got)
        if not b:
            raise DataLossError(None, None, f"Data file {path} ended early while reading "
                                f"tensor {name} (wanted {size} bytes at offset {offset})")
        pieces.append(b)
        got += len(b)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)
