"""The ``checkpoint`` state file and checkpoint lookup (``latest_checkpoint`` and friends).

The state file is a text ``CheckpointState``. gmeta writes it atomically, with paths relative to
its directory (a moved or renamed directory keeps working; TF reads relative paths fine), and
reads both relative and absolute paths.
"""

from __future__ import annotations

import glob
import logging
import os
import re

from gmeta import errors
from gmeta.framework.fileio import atomic_write

log = logging.getLogger("gmeta")


def _state_path(save_dir, latest_filename=None):
    return os.path.join(save_dir, latest_filename or "checkpoint")


def get_checkpoint_state(checkpoint_dir, latest_filename=None):
    """The ``CheckpointState`` of ``checkpoint_dir`` with absolute paths, or None if there is no
    state file.

    Raises:
        DataLossError: the state file exists but cannot be parsed.
    """
    from gmeta.proto import CheckpointState, parse_text

    path = _state_path(checkpoint_dir, latest_filename)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        ckpt = CheckpointState()
        parse_text(text, ckpt)
    except Exception as e:  # text_format.ParseError, UnicodeDecodeError
        raise errors.DataLossError(None, None, f"Cannot parse checkpoint state file {path!r}: "
                                               f"{e}") from None
    if not ckpt.model_checkpoint_path:
        raise ValueError(f"Invalid checkpoint state loaded from {checkpoint_dir}: it names no "
                         "model_checkpoint_path")
    base = os.path.abspath(checkpoint_dir)
    if not os.path.isabs(ckpt.model_checkpoint_path):
        ckpt.model_checkpoint_path = os.path.join(base, ckpt.model_checkpoint_path)
    paths = [p if os.path.isabs(p) else os.path.join(base, p)
             for p in ckpt.all_model_checkpoint_paths]
    del ckpt.all_model_checkpoint_paths[:]
    ckpt.all_model_checkpoint_paths.extend(paths)
    return ckpt


def update_checkpoint_state(save_dir, model_checkpoint_path, all_model_checkpoint_paths=None,
                            latest_filename=None, all_model_checkpoint_timestamps=None,
                            last_preserved_timestamp=None, save_relative_paths=True):
    """Writes the state file atomically. Paths inside ``save_dir`` are stored relative to it."""
    from gmeta.proto import CheckpointState, message_to_text

    paths = list(all_model_checkpoint_paths or [])
    if not paths or paths[-1] != model_checkpoint_path:
        paths = [p for p in paths if p != model_checkpoint_path] + [model_checkpoint_path]
    base = os.path.abspath(save_dir)

    def rel(p):
        if not save_relative_paths:
            return p
        ap = os.path.abspath(p)
        return os.path.relpath(ap, base) if os.path.dirname(ap) == base else p

    state = CheckpointState(model_checkpoint_path=rel(model_checkpoint_path),
                            all_model_checkpoint_paths=[rel(p) for p in paths])
    if all_model_checkpoint_timestamps:
        state.all_model_checkpoint_timestamps.extend(all_model_checkpoint_timestamps)
    if last_preserved_timestamp is not None:
        state.last_preserved_timestamp = last_preserved_timestamp
    path = _state_path(save_dir, latest_filename)
    if os.path.abspath(path) in {os.path.abspath(p) for p in paths}:
        raise errors.InvalidArgumentError(None, None, f"Save path {model_checkpoint_path!r} "
                                                      f"conflicts with path used for checkpoint "
                                                      f"state. Please use a different save path.")
    atomic_write(path, message_to_text(state).encode())


def checkpoint_exists(checkpoint_prefix) -> bool:
    """True when a V2 checkpoint (``<prefix>.index``) or a V1 file exists at the prefix."""
    return bool(glob.glob(glob.escape(checkpoint_prefix) + ".index")) or \
        (os.path.isfile(checkpoint_prefix) and not checkpoint_prefix.endswith(".meta"))


def latest_checkpoint(checkpoint_dir, latest_filename=None):
    """The prefix of the newest checkpoint the state file names, or None (with a warning) when
    there is none or its files are missing."""
    try:
        ckpt = get_checkpoint_state(checkpoint_dir, latest_filename)
    except errors.DataLossError as e:
        log.warning("%s", e)
        return None
    if ckpt and ckpt.model_checkpoint_path:
        if checkpoint_exists(ckpt.model_checkpoint_path):
            return ckpt.model_checkpoint_path
        log.warning("Couldn't match files for checkpoint %s", ckpt.model_checkpoint_path)
    return None


def meta_graph_filename(checkpoint_filename, meta_graph_suffix="meta"):
    """``model-10`` -> ``model-10.meta``; sharded ``-00000-of-00002`` suffixes are dropped."""
    basename = re.sub(r"-[\d\?]+-of-\d+$", "", checkpoint_filename)
    return f"{basename}.{meta_graph_suffix}"


def remove_checkpoint(checkpoint_prefix, meta_graph_suffix="meta") -> None:
    """Deletes a checkpoint's index, data shards and meta graph (missing files are fine)."""
    paths = [checkpoint_prefix + ".index", meta_graph_filename(checkpoint_prefix,
                                                               meta_graph_suffix)]
    paths += glob.glob(glob.escape(checkpoint_prefix) + ".data-?????-of-?????")
    for path in paths:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
