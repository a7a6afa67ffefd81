"""Writing V2 bundles: :class:`BundleWriter` and :func:`merge_bundles` (sharded saves)."""

from __future__ import annotations

import os
import threading

import numpy as np
from google.protobuf.message import DecodeError

from gmeta.checkpoint import crc32c
from gmeta.checkpoint._format import (_CHUNK, _STRING, _U32, HEADER_KEY, _encode_lengths,
                                      _header_bytes, _key_bytes, _name, _lengths_crc,
                                      _load_index, _make_dir, _remove_quietly,
                                      _string_elements, _tmp_suffix, _to_array, _write_all,
                                      _write_file, data_filename, index_filename)
from gmeta.checkpoint.slices import TensorSlice, encode_tensor_name_slice
from gmeta.checkpoint.table import build_table
from gmeta.errors import DataLossError, InvalidArgumentError, NotFoundError, OpError
from gmeta.framework.fileio import fsync_dir
from gmeta.proto import BundleEntryProto


_SYNC_EVERY = 32 << 20


def _datasync_quietly(fd: int):
    try:
        (os.fdatasync if hasattr(os, "fdatasync") else os.fsync)(fd)
    except OSError:  # the final fsync in finish() reports real errors
        pass


class BundleWriter:
    """Writes one V2 checkpoint bundle (TF's ``BundleWriter``).

    Tensors are written to a temporary data file as they are added, in add order (TF's Saver
    adds them sorted by name); the index is sorted by key. :meth:`finish` makes the files appear
    under their final names: ``<prefix>.data-<shard_id>-of-<num_shards>`` and ``<prefix>.index``,
    whose header says ``num_shards``. Use as a context manager to finish on success and
    :meth:`abort` on an exception.

    Args:
        prefix: the checkpoint prefix (``dir/model-1000``). Its directory is created (one level).
        shard_id, num_shards: the data file this writer produces. TF always writes 0 of 1 and
            merges shards with :func:`merge_bundles`.
        sync: fsync the files (and their directory) before and after the renames.
    """

    def __init__(self, prefix, shard_id: int = 0, num_shards: int = 1, *, sync: bool = True):
        if not 0 <= shard_id < num_shards:
            raise InvalidArgumentError(None, None, f"shard_id {shard_id} is not in "
                                       f"[0, num_shards={num_shards})")
        self._prefix = os.fspath(prefix)
        self._shard_id = shard_id
        self._num_shards = num_shards
        self._sync = sync
        self._data_path = data_filename(self._prefix, shard_id, num_shards)
        self._index_path = index_filename(self._prefix)
        self._tmp_data = self._data_path + _tmp_suffix()
        self._tmp_index = self._index_path + _tmp_suffix()
        self._entries: dict[bytes, BundleEntryProto] = {}
        self._size = 0
        self._pending = bytearray()
        self._unsynced = 0
        self._syncer: threading.Thread | None = None
        self._closed = True
        _make_dir(self._prefix)
        try:
            self._f = open(self._tmp_data, "xb", buffering=0)
        except FileNotFoundError:
            raise NotFoundError(None, None, f"Cannot write checkpoint {self._prefix}: directory "
                                f"{os.path.dirname(self._prefix)} does not exist") from None
        self._closed = False

    @property
    def prefix(self) -> str:
        return self._prefix

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.finish()
        else:
            self.abort()
        return False

    def _check_open(self):
        if self._closed:
            raise InvalidArgumentError(None, None, f"BundleWriter for {self._prefix} is closed")

    def _new_entry(self, key: bytes, enum: int, shape) -> BundleEntryProto:
        if key == HEADER_KEY:
            raise InvalidArgumentError(None, None, "the empty key is reserved for the header")
        if key in self._entries:
            raise InvalidArgumentError(None, None, f"Adding duplicate key: {_name(key)}")
        entry = BundleEntryProto(dtype=enum, shard_id=self._shard_id, offset=self._size)
        entry.shape.SetInParent()
        for d in shape:
            entry.shape.dim.add(size=d)
        return entry

    def add(self, key, value) -> None:
        """Appends tensor ``value`` (array-like; str/bytes arrays are DT_STRING) under ``key``."""
        self._check_open()
        key = _key_bytes(key)
        arr, enum = _to_array(value)
        entry = self._new_entry(key, enum, arr.shape)
        try:
            if enum == _STRING:
                size, crc = self._write_strings(_string_elements(arr))
            else:
                size, crc = self._write_bytes(arr)
        except OpError:
            raise
        except BaseException:
            self.abort()
            raise
        entry.size = size
        entry.crc32c = crc32c.mask(crc)
        self._size += size
        self._entries[key] = entry

    def add_slice(self, full_key, full_shape, tslice: TensorSlice, value) -> None:
        """Adds one slice of partitioned tensor ``full_key`` (TF's ``BundleWriter::AddSlice``).

        ``tslice`` is a :class:`~gmeta.checkpoint.slices.TensorSlice` of ``full_shape``; a slice
        covering the whole tensor is stored as a plain tensor, as TF does.
        """
        self._check_open()
        key = _key_bytes(full_key)
        full_shape = [int(d) for d in full_shape]
        arr, enum = _to_array(value)
        try:
            expected = tslice.shape(full_shape)
        except ValueError as e:
            raise InvalidArgumentError(None, None, f"slice of {_name(key)}: {e}") from None
        if tuple(arr.shape) != expected:
            raise InvalidArgumentError(None, None, f"slice {tslice} of {_name(key)} "
                                       f"{full_shape} has shape {list(expected)}, but the value "
                                       f"has shape {list(arr.shape)}")
        if tslice.is_full_for(full_shape):
            self.add(key, arr)
            return
        full = self._entries.get(key)
        if full is None:
            full = self._new_entry(key, enum, full_shape)
            full.ClearField("shard_id")
            full.ClearField("offset")
        elif not full.slices or full.dtype != enum or \
                [d.size for d in full.shape.dim] != full_shape:
            raise InvalidArgumentError(None, None, f"slice {tslice} of {_name(key)} "
                                       f"{full_shape} {arr.dtype} does not match the entry "
                                       "already added under that key")
        slice_key = encode_tensor_name_slice(key, tslice)
        self.add(slice_key, arr)
        full.slices.add().CopyFrom(tslice.to_proto())
        self._entries[key] = full

    def _emit(self, piece: bytes):
        if len(piece) >= _CHUNK:
            self._flush_pending()
            self._write(piece)
            return
        self._pending += piece
        if len(self._pending) >= _CHUNK:
            self._flush_pending()

    def _flush_pending(self):
        if self._pending:
            self._write(self._pending)
            self._pending = bytearray()

    def _write(self, buf):
        _write_all(self._f, buf)
        self._unsynced += len(buf)
        if self._sync and self._unsynced >= _SYNC_EVERY and \
                (self._syncer is None or not self._syncer.is_alive()):
            # Start writing back what is already written while we go on: the final fsync then
            # has little left to do (about 1.5x faster saves than one fsync at the end).
            self._syncer = threading.Thread(target=_datasync_quietly, args=(self._f.fileno(),),
                                            name="gmeta-ckpt-sync", daemon=True)
            self._syncer.start()
            self._unsynced = 0

    def _join_syncer(self):
        if self._syncer is not None:
            self._syncer.join()
            self._syncer = None

    def _write_bytes(self, arr: np.ndarray):
        crc = 0
        for piece in crc32c.iter_chunks(arr):  # checksum and write the same copy
            crc = crc32c.extend(crc, piece)
            self._emit(piece)
        return arr.nbytes, crc

    def _write_strings(self, elems: list[bytes]):
        lengths = [len(e) for e in elems]
        crc = _lengths_crc(lengths)
        head = _encode_lengths(lengths)
        length_crc = _U32.pack(crc32c.mask(crc))
        crc = crc32c.extend(crc, length_crc)
        self._emit(head + length_crc)
        size = len(head) + 4
        for e in elems:
            crc = crc32c.extend(crc, e)
            self._emit(e)
            size += len(e)
        return size, crc

    def finish(self) -> None:
        """Writes the index and renames both files into place (fsynced when ``sync``)."""
        self._check_open()
        self._closed = True
        try:
            self._flush_pending()
            self._join_syncer()
            if self._sync:
                os.fsync(self._f.fileno())
            self._f.close()
            items = [(HEADER_KEY, _header_bytes(self._num_shards))]
            items += [(k, self._entries[k].SerializeToString()) for k in sorted(self._entries)]
            _write_file(self._tmp_index, [build_table(items)], self._sync)
            os.replace(self._tmp_data, self._data_path)
            os.replace(self._tmp_index, self._index_path)
        except BaseException:
            self._cleanup()
            raise
        if self._sync:
            fsync_dir(os.path.dirname(self._prefix))

    def abort(self) -> None:
        """Discards everything written so far (the temporaries); final names are untouched."""
        if not self._closed:
            self._closed = True
            self._cleanup()

    def _cleanup(self):
        self._join_syncer()  # never close the fd under a running fdatasync
        try:
            self._f.close()
        except OSError:
            pass
        _remove_quietly(self._tmp_data)
        _remove_quietly(self._tmp_index)

    def __del__(self):
        if not getattr(self, "_closed", True):
            self.abort()


# -- merging ------------------------------------------------------------------------------------
def merge_bundles(prefixes, output_prefix, *, allow_missing_files: bool = False,
                  sync: bool = True) -> None:
    """Merges shard bundles into one checkpoint (TF's ``MergeBundles`` / ``MergeV2Checkpoints``).

    Every data file is renamed to ``<output_prefix>.data-%05d-of-%05d`` with shard ids in the
    order first seen; entries are merged (the slices of a partitioned tensor's full entry are
    concatenated; any other duplicate key is an error); the merged index is written last (to a
    temporary, then renamed), then the inputs' ``.index`` files are deleted. Everything is
    checked before the first rename, and a failed rename is rolled back.

    Raises:
        InvalidArgumentError: a prefix has no index (unless ``allow_missing_files``), none
            exists, duplicate keys, or conflicting endianness/versions.
        NotFoundError / DataLossError: a data file is missing, an index is corrupt.
    """
    output_prefix = os.fspath(output_prefix)
    prefixes = [os.fspath(p) for p in prefixes]
    _make_dir(output_prefix)
    num_shards = 0
    endianness = version = None
    entries: dict[bytes, BundleEntryProto] = {}
    shard_ids: dict[str, int] = {}
    merged = []
    for prefix in prefixes:
        if not os.path.exists(index_filename(prefix)):
            if allow_missing_files:
                continue
            raise InvalidArgumentError(None, None, f"allow_missing_files was set to false and "
                                       f"{prefix} did not exist")
        header, raw, keys = _load_index(prefix)
        merged.append(prefix)
        num_shards += header.num_shards
        if version is None:
            endianness, version = header.endianness, header.version
        elif header.endianness != endianness:
            raise InvalidArgumentError(None, None, f"Merging bundles with conflicting "
                                       f"endianness; inputs corrupted? ({prefix})")
        elif header.version.SerializeToString() != version.SerializeToString():
            raise InvalidArgumentError(None, None, f"Merging bundles with different format "
                                       f"versions ({prefix})")
        for key in keys:
            existing = entries.get(key)
            if existing is not None and not existing.slices:
                raise InvalidArgumentError(None, None, f"Duplicate tensor keyed by "
                                           f"{_name(key)} encountered, when merging prefix: "
                                           f"{prefix}")
            try:
                entry = BundleEntryProto.FromString(raw[key])
            except DecodeError:
                raise DataLossError(None, None, f"Entry for key {_name(key)} in "
                                    f"{index_filename(prefix)} not parseable") from None
            if existing is not None:
                if not entry.slices or entry.dtype != existing.dtype or \
                        entry.shape.SerializeToString() != existing.shape.SerializeToString():
                    raise InvalidArgumentError(None, None, f"Duplicate tensor keyed by "
                                               f"{_name(key)} in {prefix} does not merge "
                                               "with the partitioned tensor seen before")
                existing.slices.extend(entry.slices)
                continue
            if not 0 <= entry.shard_id < header.num_shards:
                raise DataLossError(None, None, f"Tensor {_name(key)} in {prefix} is in shard "
                                    f"{entry.shard_id} of {header.num_shards}")
            src = data_filename(prefix, entry.shard_id, header.num_shards)
            entry.shard_id = shard_ids.setdefault(src, len(shard_ids))
            entries[key] = entry
    if not merged:
        raise InvalidArgumentError(None, None, "At least one prefix checkpoint file must exist, "
                                   "but none existed.")
    for src in shard_ids:
        if not os.path.isfile(src):
            raise NotFoundError(None, None, f"Data file {src} to merge into {output_prefix} not "
                                "found")
    # TF writes the sum of the inputs' num_shards; that differs from the number of data files
    # (and names files that do not exist) only if an input data file holds no tensor.
    total = len(shard_ids) or num_shards
    items = [(HEADER_KEY, _header_bytes(total, endianness, version))]
    items += [(k, entries[k].SerializeToString()) for k in sorted(entries)]
    index_path = index_filename(output_prefix)
    tmp_index = index_path + _tmp_suffix()
    try:
        _write_file(tmp_index, [build_table(items)], sync)
        done = []
        try:
            for src, shard in shard_ids.items():
                dst = data_filename(output_prefix, shard, total)
                if os.path.abspath(src) != os.path.abspath(dst):
                    os.replace(src, dst)
                    done.append((src, dst))
        except BaseException:
            for src, dst in reversed(done):
                try:
                    os.replace(dst, src)
                except OSError:
                    pass
            raise
        os.replace(tmp_index, index_path)
    except BaseException:
        _remove_quietly(tmp_index)
        raise
    if sync:
        fsync_dir(os.path.dirname(output_prefix))
    for prefix in merged:
        if os.path.abspath(index_filename(prefix)) != os.path.abspath(index_path):
            _remove_quietly(index_filename(prefix))
