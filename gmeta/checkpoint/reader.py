"""TF's Python checkpoint-reading API: ``NewCheckpointReader``, ``list_variables``,
``load_variable``, ``load_checkpoint`` and ``checkpoint_exists``, for V2 checkpoints.

A variable name is a bundle key; the per-slice keys of a partitioned variable are hidden (as in
TF), and ``get_tensor`` of the variable's own name returns the whole tensor assembled from its
slices.
"""

from __future__ import annotations

import os

import numpy as np
from google.protobuf import text_format

from gmeta.checkpoint.bundle import BundleReader, index_filename
from gmeta.checkpoint.slices import TensorSlice, encode_tensor_name_slice
from gmeta.errors import NotFoundError, UnimplementedError
from gmeta.proto import CheckpointState, types_pb2


def checkpoint_exists(checkpoint_prefix) -> bool:
    """Whether a V2 checkpoint with this prefix exists (its ``.index`` file is there)."""
    return os.path.isfile(index_filename(os.fspath(checkpoint_prefix)))


class CheckpointReader:
    """Reads the variables of a V2 checkpoint (``tf.compat.v1.train.NewCheckpointReader``).

    Raises:
        NotFoundError: no checkpoint with this prefix.
        DataLossError: the index is corrupt.
    """

    def __init__(self, filepattern):
        prefix = os.fspath(filepattern)
        if not checkpoint_exists(prefix):
            raise NotFoundError(None, None, "Unsuccessful TensorSliceReader constructor: Failed "
                                f"to find any matching files for {prefix} (no "
                                f"{index_filename(prefix)})")
        self._bundle = BundleReader(prefix)
        hidden = set()
        for key in self._bundle.raw_keys():
            for proto in self._bundle.entry(key).slices:
                hidden.add(encode_tensor_name_slice(key, TensorSlice.from_proto(proto)))
        self._shapes: dict[str, list[int]] = {}
        self._dtypes: dict[str, object] = {}
        for key in self._bundle.raw_keys():
            if key in hidden:
                continue
            name = key.decode("utf-8", "surrogateescape")
            try:
                shape, dtype = self._bundle.shape_and_dtype(key)
            except UnimplementedError:  # a dtype gmeta lacks: still listed, by its enum
                entry = self._bundle.entry(key)
                shape = tuple(d.size for d in entry.shape.dim)
                dtype = types_pb2.DataType.Name(entry.dtype)
            self._shapes[name] = list(shape)
            self._dtypes[name] = dtype

    @property
    def bundle(self) -> BundleReader:
        return self._bundle

    def get_variable_to_shape_map(self) -> dict[str, list[int]]:
        return {k: list(v) for k, v in self._shapes.items()}

    def get_variable_to_dtype_map(self) -> dict:
        return dict(self._dtypes)

    def has_tensor(self, tensor_str) -> bool:
        return tensor_str in self._bundle

    def get_tensor(self, tensor_str):
        """The value of ``tensor_str``; a 0-d tensor comes back as a numpy scalar (or bytes)."""
        value = self._bundle.read(tensor_str)
        return value[()] if value.ndim == 0 else value

    def debug_string(self) -> bytes:
        """``name (DT_X) [d0,d1]`` per line for every entry but partitioned full entries."""
        lines = []
        for key in self._bundle.raw_keys():
            entry = self._bundle.entry(key)
            if entry.slices:
                continue
            dims = ",".join(str(d.size) for d in entry.shape.dim)
            dt = types_pb2.DataType.Name(entry.dtype) \
                if entry.dtype in types_pb2.DataType.values() else str(entry.dtype)
            lines.append(key + f" ({dt}) [{dims}]\n".encode())
        return b"".join(lines)

    def close(self):
        self._bundle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def NewCheckpointReader(filepattern) -> CheckpointReader:  # noqa: N802 - TF's name
    """``tf.compat.v1.train.NewCheckpointReader``."""
    return CheckpointReader(filepattern)


def _latest_checkpoint(checkpoint_dir, latest_filename=None):
    """The prefix named by ``<dir>/checkpoint`` if that checkpoint exists, else None."""
    path = os.path.join(checkpoint_dir, latest_filename or "checkpoint")
    try:
        with open(path, encoding="utf-8") as f:
            state = text_format.Parse(f.read(), CheckpointState())
    except (OSError, text_format.ParseError, UnicodeDecodeError):
        return None
    prefix = state.model_checkpoint_path
    if not prefix:
        return None
    if not os.path.isabs(prefix):
        prefix = os.path.join(checkpoint_dir, prefix)
    return prefix if checkpoint_exists(prefix) else None


def _checkpoint_filename(ckpt_dir_or_file) -> str:
    ckpt = os.fspath(ckpt_dir_or_file)
    if os.path.isdir(ckpt):
        latest = _latest_checkpoint(ckpt)
        if latest is None:
            raise ValueError(f"Couldn't find 'checkpoint' file or checkpoints in given "
                             f"directory {ckpt}")
        return latest
    return ckpt


def load_checkpoint(ckpt_dir_or_file) -> CheckpointReader:
    """``tf.train.load_checkpoint``: a reader for a prefix, or a directory's latest checkpoint."""
    return CheckpointReader(_checkpoint_filename(ckpt_dir_or_file))


def list_variables(ckpt_dir_or_file) -> list[tuple[str, list[int]]]:
    """``tf.train.list_variables``: sorted ``(name, shape)`` of every variable."""
    with load_checkpoint(ckpt_dir_or_file) as reader:
        shapes = reader.get_variable_to_shape_map()
    return [(name, shapes[name]) for name in sorted(shapes)]


def load_variable(ckpt_dir_or_file, name: str) -> np.ndarray:
    """``tf.train.load_variable``: the value of one variable (a trailing ``:0`` is ignored)."""
    if name.endswith(":0"):
        name = name[:-2]
    with load_checkpoint(ckpt_dir_or_file) as reader:
        return reader.get_tensor(name)
