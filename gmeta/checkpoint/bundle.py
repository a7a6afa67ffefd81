"""V2 checkpoint bundles (TF's ``tensor_bundle``): ``<prefix>.index`` + ``<prefix>.data-*``.

The index is an SSTable (:mod:`gmeta.checkpoint.table`) mapping ``""`` to a
``BundleHeaderProto`` and every tensor key to a ``BundleEntryProto`` (dtype, shape, shard,
offset, size, masked crc32c, slices). Data files hold the tensors' raw little-endian bytes back to
back; a string tensor is ``varint64 lengths | fixed32 masked crc of the lengths | bytes``.

- :class:`BundleWriter` streams tensors to a temporary data file as they are added (in add order,
  as TF does; the Saver adds them sorted by name), then :meth:`BundleWriter.finish` writes the
  sorted index to a temporary file, fsyncs both and renames them into place. On any error the
  temporaries are removed and files under the final names are left as they were.
- :func:`merge_bundles` is TF's ``MergeBundles`` (``MergeV2Checkpoints``) for sharded saves.
- :class:`BundleReader` reads entries, validating sizes against the data files before
  allocating, and CRCs after reading; it assembles partitioned tensors from their slices.
  Large reads are split into sections read (``preadv`` into the destination array) and
  checksummed by a thread pool; the section CRCs are combined.

The writer lives in :mod:`gmeta.checkpoint.writer` and is re-exported here.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from google.protobuf.message import DecodeError

from gmeta import dtypes as _dtypes
from gmeta.checkpoint import crc32c
from gmeta.checkpoint._format import (_CHUNK, _LITTLE_HOST, _MAX_RANK, _STRING, _UNREADABLE,
                                      HEADER_KEY, MIN_PRODUCER, VERSION, _key_bytes, _key_str,
                                      _lengths_crc, _load_index, _name, _pread_bytes,
                                      _pread_into, data_filename, index_filename)
from gmeta.checkpoint.slices import TensorSlice, encode_tensor_name_slice, intersect, volume
from gmeta.checkpoint.table import CorruptTable, decode_varint
from gmeta.checkpoint.writer import BundleWriter, merge_bundles
from gmeta.errors import (DataLossError, InvalidArgumentError, NotFoundError,
                          ResourceExhaustedError, UnimplementedError)
from gmeta.proto import BundleEntryProto, BundleHeaderProto, types_pb2

__all__ = ["BundleReader", "BundleWriter", "HEADER_KEY", "MIN_PRODUCER", "VERSION",
           "data_filename", "index_filename", "merge_bundles"]


class BundleReader:
    """Reads a V2 checkpoint bundle (TF's ``BundleReader``).

    Keys are ``str`` (bytes that are not UTF-8, as in slice keys, decode with
    ``surrogateescape``); every method also accepts ``bytes`` keys.

    Raises (constructor):
        NotFoundError: ``<prefix>.index`` does not exist.
        DataLossError: the index is not a valid bundle index (naming the file and the problem).
        InvalidArgumentError: the bundle's format version is not one this reader supports.
    """

    def __init__(self, prefix):
        self._lock = threading.Lock()
        self._prefix = os.fspath(prefix)
        self._header, self._raw, self._keys = _load_index(self._prefix)
        self._num_shards = self._header.num_shards
        big = self._header.endianness == BundleHeaderProto.BIG
        self._swap = big == _LITTLE_HOST  # the file's byte order is not the host's
        self._order = ">" if big else "<"
        self._files: dict[int, tuple[int, int, str]] = {}
        self._str_keys: list[str] | None = None

    # -- metadata --------------------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def header(self) -> BundleHeaderProto:
        return self._header

    @property
    def num_shards(self) -> int:
        return self._num_shards

    def keys(self) -> list[str]:
        """Every entry key in sorted order (slice keys of partitioned tensors included)."""
        if self._str_keys is None:
            self._str_keys = [_key_str(k) for k in self._keys]
        return list(self._str_keys)

    def raw_keys(self) -> list[bytes]:
        return list(self._keys)

    def __contains__(self, key) -> bool:
        return _key_bytes(key) in self._raw

    def __len__(self) -> int:
        return len(self._keys)

    def entry(self, key) -> BundleEntryProto:
        """The parsed ``BundleEntryProto`` of ``key`` (NotFoundError when absent)."""
        kb = _key_bytes(key)
        raw = self._raw.get(kb)
        if raw is None or kb == HEADER_KEY:
            raise NotFoundError(None, None, f"Key {_name(kb)} not found in checkpoint "
                                f"{self._prefix}")
        try:
            return BundleEntryProto.FromString(raw)
        except DecodeError as e:
            raise DataLossError(None, None, f"Entry for key {_name(kb)} in "
                                f"{index_filename(self._prefix)} not parseable ({e})") from None

    def _dtype(self, key: bytes, enum: int) -> _dtypes.DType:
        try:
            dt = _dtypes.as_dtype(enum)
        except TypeError:
            if enum in types_pb2.DataType.values() and enum != types_pb2.DT_INVALID:
                raise UnimplementedError(None, None, f"Tensor {_name(key)} in checkpoint "
                                         f"{self._prefix} has dtype "
                                         f"{types_pb2.DataType.Name(enum)}, which gmeta does "
                                         "not support") from None
            raise DataLossError(None, None, f"Tensor {_name(key)} in checkpoint "
                                f"{self._prefix} has unknown dtype enum {enum}") from None
        if dt.is_ref_dtype:
            raise DataLossError(None, None, f"Tensor {_name(key)} in checkpoint "
                                f"{self._prefix} has invalid dtype enum {enum}")
        return dt

    def _shape(self, key: bytes, entry) -> tuple[int, ...]:
        shape = entry.shape
        dims = tuple(d.size for d in shape.dim)
        n = 1
        for d in dims:
            n *= d
        if shape.unknown_rank or len(dims) > _MAX_RANK or any(d < 0 for d in dims) or \
                n >= 1 << 63:
            raise DataLossError(None, None, f"Invalid tensor shape: {_name(key)} "
                                f"{list(dims)}{' unknown_rank' if shape.unknown_rank else ''} "
                                f"in checkpoint {self._prefix}")
        return dims

    def shape_and_dtype(self, key) -> tuple[tuple[int, ...], _dtypes.DType]:
        """``(shape, DType)`` of ``key`` without reading its data."""
        kb = _key_bytes(key)
        entry = self.entry(kb)
        return self._shape(kb, entry), self._dtype(kb, entry.dtype)

    def slices(self, key) -> list[TensorSlice]:
        """The stored slices of a partitioned tensor (empty for a plain tensor)."""
        return [TensorSlice.from_proto(s) for s in self.entry(key).slices]

    # -- data ------------------------------------------------------------------------------------
    def read(self, key, out: np.ndarray | None = None) -> np.ndarray:
        """Reads tensor ``key`` as an ndarray (object array of bytes for DT_STRING).

        A partitioned tensor is assembled from its slices. ``out``, when given, must be a
        writeable C-contiguous array of the right shape and dtype and receives the data (its
        contents are unspecified if an error is raised). Large tensors are read in sections by
        several threads.

        Raises:
            NotFoundError: no such key, or a data file is missing.
            DataLossError: sizes, offsets or checksums do not match (names file, key and what
                was expected).
        """
        return self.read_many([key], None if out is None else [out])[0]

    def read_many(self, keys, outs=None) -> list[np.ndarray]:
        """Reads several tensors (as :meth:`read`), overlapping their reads on a thread pool."""
        keys = list(keys)
        outs = [None] * len(keys) if outs is None else list(outs)
        results: list = [None] * len(keys)
        jobs = []
        for i, (key, out) in enumerate(zip(keys, outs)):
            kb = _key_bytes(key)
            entry = self.entry(kb)
            if out is not None:
                self._check_out(kb, entry, out)
            if entry.slices:
                results[i] = self._read_slice(kb, entry, None, out)
            elif entry.dtype == _STRING:
                results[i] = self._read_plain(kb, entry)
            else:
                jobs.append((i, self._plan(kb, entry, out)))
        _run_jobs([job for _, job in jobs])
        for i, job in jobs:
            results[i] = job.finish(self._swap)
        return results

    def read_slice(self, key, tslice: TensorSlice) -> np.ndarray:
        """Reads ``tslice`` of tensor ``key`` (TF's ``LookupSlice``; RestoreV2 with a slice)."""
        kb = _key_bytes(key)
        return self._read_slice(kb, self.entry(kb), tslice, None)

    def _check_out(self, key: bytes, entry, out):
        shape, dt = self._shape(key, entry), self._dtype(key, entry.dtype)
        if entry.dtype == _STRING or not isinstance(out, np.ndarray) or out.shape != shape or \
                out.dtype != dt.np or not out.flags.c_contiguous or not out.flags.writeable:
            raise InvalidArgumentError(None, None, f"out= for tensor {_name(key)} must be a "
                                       f"writeable C-contiguous {dt.name} array of shape "
                                       f"{list(shape)}")

    def _data_file(self, key: bytes, shard: int):
        with self._lock:
            f = self._files.get(shard)
            if f is not None:
                return f
            if not 0 <= shard < self._num_shards:
                raise DataLossError(None, None, f"Tensor {_name(key)} in checkpoint "
                                    f"{self._prefix} is in shard {shard}, but the header says "
                                    f"num_shards = {self._num_shards}")
            path = data_filename(self._prefix, shard, self._num_shards)
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            except FileNotFoundError:
                raise NotFoundError(None, None, f"Data file {path} of checkpoint {self._prefix} "
                                    f"not found (needed for tensor {_name(key)})") from None
            f = (fd, os.fstat(fd).st_size, path)
            self._files[shard] = f
            return f

    def _located(self, key: bytes, entry):
        """Validates dtype, shape, size and data-file extent; returns (dtype, shape, n, file)."""
        dt = self._dtype(key, entry.dtype)
        shape = self._shape(key, entry)
        n = 1
        for d in shape:
            n *= d
        name = _name(key)
        if entry.dtype in _UNREADABLE:
            raise UnimplementedError(None, None, f"Tensor {name} in checkpoint {self._prefix}: "
                                     f"reading {dt.name} tensors is not supported")
        if entry.dtype == _STRING:
            if entry.size < n:
                raise DataLossError(None, None, f"Invalid size in bundle entry: key {name}; "
                                    f"stored size {entry.size}; expected size is at least {n}")
        else:
            try:
                itemsize = dt.np.itemsize
            except TypeError:
                raise UnimplementedError(None, None, f"Tensor {name} in checkpoint "
                                         f"{self._prefix} has dtype {dt.name}, which needs the "
                                         "ml_dtypes package") from None
            if entry.size != n * itemsize:
                raise DataLossError(None, None, f"Invalid size in bundle entry: key {name}; "
                                    f"stored size {entry.size}; expected size {n * itemsize} "
                                    f"({dt.name} {list(shape)})")
        fd, fsize, path = self._data_file(key, entry.shard_id)
        if entry.offset < 0 or entry.offset + entry.size > fsize:
            raise DataLossError(None, None, f"Data file {path} is {fsize} bytes, shorter than "
                                f"tensor {name} needs: bytes [{entry.offset}, "
                                f"{entry.offset + entry.size})")
        return dt, shape, n, (fd, path)

    def _plan(self, key: bytes, entry, out=None) -> "_Job":
        dt, shape, _, (fd, path) = self._located(key, entry)
        arr = out if out is not None else _empty(shape, dt.np, key)  # after the size checks
        return _Job(_name(key), arr, fd, path, entry)

    def _read_plain(self, key: bytes, entry, out=None) -> np.ndarray:
        if entry.dtype != _STRING:
            job = self._plan(key, entry, out)
            _run_jobs([job])
            return job.finish(self._swap)
        _, shape, n, (fd, path) = self._located(key, entry)
        arr, crc = self._read_strings(key, fd, path, entry, shape, n)
        _check_crc(_name(key), path, entry, crc)
        return arr

    def _read_strings(self, key, fd, path, entry, shape, n):
        name = _name(key)
        size = entry.size
        if size == 0:
            if n:
                raise DataLossError(None, None, f"String tensor {name} in {path} has {n} "
                                    "elements but 0 bytes")
            return _empty(shape, object, key), 0
        data = _pread_bytes(fd, path, name, entry.offset, size)
        if n and n <= size and max(data[:n]) < 0x80:
            lengths = list(data[:n])
            pos = n
        else:
            lengths = []
            pos = 0
            try:
                for _ in range(n):
                    v, pos = decode_varint(data, pos, size)
                    lengths.append(v)
            except CorruptTable:
                raise DataLossError(None, None, f"String tensor {name} in {path}: string "
                                    "lengths run past the entry's size") from None
        if pos + 4 > size:
            raise DataLossError(None, None, f"String lengths of tensor {name} in {path} longer "
                                f"than expected size {size}")
        crc = _lengths_crc(lengths, self._order)
        stored = int.from_bytes(data[pos:pos + 4], "big" if self._order == ">" else "little")
        if crc32c.unmask(stored) != crc:
            raise DataLossError(None, None, f"The length checksum of string tensor {name} in "
                                f"{path} does not match: expected {crc32c.unmask(stored):08x} "
                                f"but actual is {crc:08x}")
        crc = crc32c.extend(crc, data[pos:pos + 4])
        pos += 4
        total = sum(lengths)
        if pos + total > size:
            raise DataLossError(None, None, f"String tensor {name} in {path}: its {n} strings "
                                f"need {total} bytes, the entry has {size - pos}")
        crc = crc32c.extend(crc, memoryview(data)[pos:pos + total])
        arr = np.empty(n, dtype=object)
        for i, ln in enumerate(lengths):
            arr[i] = data[pos:pos + ln]
            pos += ln
        return arr.reshape(shape), crc

    def _read_slice(self, key: bytes, entry, want: TensorSlice | None, out) -> np.ndarray:
        """Assembles slice ``want`` (None: everything) of ``key`` from its stored slice(s)."""
        name = _name(key)
        full_shape = self._shape(key, entry)
        dt = self._dtype(key, entry.dtype)
        rank = len(full_shape)
        if want is None:
            want = TensorSlice.full(rank)
        try:
            want_bounds = want.bounds(full_shape)
        except ValueError as e:
            raise InvalidArgumentError(None, None, f"Bad slice for tensor {name}: {e}") from None
        if not entry.slices:  # stored whole; read it and cut the slice out
            whole = self._read_plain(key, entry)
            return whole[tuple(slice(s, e) for s, e in want_bounds)].copy() \
                if not want.is_full_for(full_shape) else whole
        stored = []
        for proto in entry.slices:
            ts = TensorSlice.from_proto(proto)
            try:
                b = ts.bounds(full_shape)
            except ValueError as e:
                raise DataLossError(None, None, f"Partitioned tensor {name} in checkpoint "
                                    f"{self._prefix}: stored slice {e}") from None
            for other, ob in stored:
                if intersect(b, ob) is not None:
                    raise DataLossError(None, None, f"Partitioned tensor {name} in checkpoint "
                                        f"{self._prefix} has overlapping slices {other} and {ts}")
            stored.append((ts, b))
        parts = []
        covered = 0
        for ts, b in stored:
            inter = intersect(b, want_bounds)
            if inter is None:
                continue
            covered += volume(inter)
            skey = encode_tensor_name_slice(key, ts)
            try:
                sentry = self.entry(skey)
            except NotFoundError:
                raise DataLossError(None, None, f"Partitioned tensor {name} in checkpoint "
                                    f"{self._prefix}: the entry of its slice {ts} is "
                                    "missing") from None
            if sentry.dtype != entry.dtype or self._shape(skey, sentry) != ts.shape(full_shape):
                raise DataLossError(None, None, f"Partitioned tensor {name} in checkpoint "
                                    f"{self._prefix}: slice {ts} is stored as "
                                    f"{_dtype_name(sentry.dtype)} "
                                    f"{[d.size for d in sentry.shape.dim]}, expected "
                                    f"{_dtype_name(entry.dtype)} {list(ts.shape(full_shape))}")
            self._located(skey, sentry)  # sizes and data files check out before allocating
            parts.append((ts, b, inter, skey, sentry))
        if covered < volume(want_bounds):
            raise InvalidArgumentError(None, None, f"Does not have sufficient slices for "
                                       f"partitioned tensor {name} to restore in slice_spec: "
                                       f"{want}")
        want_shape = tuple(e - s for s, e in want_bounds)
        if len(parts) == 1 and parts[0][1] == want_bounds:
            return self._read_plain(parts[0][3], parts[0][4], out)
        result = out if out is not None else _empty(
            want_shape, object if entry.dtype == _STRING else dt.np, key)
        for _ts, b, inter, skey, sentry in parts:
            src = self._read_plain(skey, sentry)
            src_idx = tuple(slice(s - bs, e - bs) for (s, e), (bs, _) in zip(inter, b))
            dst_idx = tuple(slice(s - ws, e - ws) for (s, e), (ws, _) in zip(inter, want_bounds))
            result[dst_idx] = src[src_idx]
        return result

    # -- lifetime --------------------------------------------------------------------------------
    def close(self) -> None:
        files, self._files = self._files, {}
        for fd, _, _ in files.values():
            os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


def _empty(shape, dtype, key: bytes) -> np.ndarray:
    try:
        return np.empty(shape, dtype)
    except ValueError:  # e.g. [0, 2**31, 2**31]: empty, but numpy cannot represent the shape
        raise DataLossError(None, None, f"Tensor {_name(key)} has shape {list(shape)}, which "
                            "numpy cannot represent") from None
    except MemoryError:
        raise ResourceExhaustedError(None, None, f"Out of memory allocating tensor "
                                     f"{_name(key)} {list(shape)}") from None


def _dtype_name(enum: int) -> str:
    return types_pb2.DataType.Name(enum) if enum in types_pb2.DataType.values() else str(enum)


def _check_crc(name: str, path: str, entry, crc: int):
    stored = crc32c.unmask(entry.crc32c)
    if stored != crc:
        raise DataLossError(None, None, f"Checksum does not match for tensor {name} in {path} "
                            f"(shard {entry.shard_id}, {entry.size} bytes at offset "
                            f"{entry.offset}): stored {stored:08x} vs. calculated on the "
                            f"restored bytes {crc:08x}")


def _read_section(fd: int, path: str, name: str, offset: int, mv: memoryview) -> int:
    """Reads ``mv.nbytes`` bytes at ``offset`` into ``mv``; returns their CRC32C."""
    crc = 0
    pos = 0
    total = mv.nbytes
    while pos < total:
        piece = mv[pos:pos + _CHUNK]
        got = _pread_into(fd, piece, offset + pos)
        if got <= 0:
            raise DataLossError(None, None, f"Data file {path} ended early while reading tensor "
                                f"{name} (wanted {total} bytes at offset {offset})")
        crc = crc32c.extend(crc, piece[:got])  # right after the read, while in cache
        pos += got
    return crc


class _Job:
    """One numeric tensor to read: its destination array, split into sections."""

    __slots__ = ("name", "arr", "fd", "path", "entry", "sections", "crcs")

    def __init__(self, name, arr, fd, path, entry):
        self.name, self.arr, self.fd, self.path, self.entry = name, arr, fd, path, entry
        mv = crc32c.byte_view(arr)
        size = mv.nbytes
        step = size or 1
        if _WORKERS > 1 and size >= _PARALLEL_MIN:
            step = max(_SECTION_MIN, -(-size // (_SECTIONS_PER_WORKER * _WORKERS)))
            step = -(-step // _CHUNK) * _CHUNK
        self.sections = [(entry.offset + i, mv[i:i + step]) for i in range(0, size, step)]
        self.crcs = [0] * len(self.sections)

    def finish(self, swap: bool) -> np.ndarray:
        crc = 0
        for (_, mv), c in zip(self.sections, self.crcs):
            crc = crc32c.combine(crc, c, mv.nbytes)
        _check_crc(self.name, self.path, self.entry, crc)
        if swap and self.arr.dtype.itemsize > 1:
            self.arr.byteswap(inplace=True)
        return self.arr


_PARALLEL_MIN = 16 << 20  # a tensor this big is read in sections by several threads
_SECTION_MIN = 4 << 20
_SECTIONS_PER_WORKER = 4
_WORKERS = min(8, os.cpu_count() or 1)
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(_WORKERS, thread_name_prefix="gmeta-ckpt-read")
        return _POOL


def _run_jobs(jobs):
    """Reads every section of every job (in parallel when there is enough to read)."""
    tasks = [(job, k) for job in jobs for k in range(len(job.sections))]
    total = sum(job.sections[k][1].nbytes for job, k in tasks)

    def run(task):
        job, k = task
        offset, mv = job.sections[k]
        job.crcs[k] = _read_section(job.fd, job.path, job.name, offset, mv)

    if _WORKERS == 1 or len(tasks) < 2 or total < _PARALLEL_MIN:
        for task in tasks:
            run(task)
        return
    futures = [_pool().submit(run, task) for task in tasks]
    errors = [f.exception() for f in futures]  # waits for all: no thread outlives the call
    for e in errors:
        if e is not None:
            raise e
