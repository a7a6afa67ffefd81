"""Checkpoint I/O kernels: SaveV2, RestoreV2, MergeV2Checkpoints and the string ops the sharded
Saver graph uses (ShardedFilename, StringJoin, StaticRegexFullMatch). Host (CPU) only."""

from __future__ import annotations

import os
import re

import numpy as np

from gmeta import errors
from gmeta.kernels import kernel


def _str(x) -> str:
    x = x.item() if isinstance(x, np.ndarray) else x
    return x.decode() if isinstance(x, bytes) else str(x)


def _strs(x) -> list:
    return [_str(v) for v in np.asarray(x, dtype=object).ravel()]


@kernel("SaveV2", device="CPU")
def _save_v2(ctx):
    from gmeta.checkpoint import BundleWriter, parse_shape_and_slice

    op = ctx.op

    def run(prefix, names, slices, *tensors):
        prefix, names, slices = _str(prefix), _strs(names), _strs(slices)
        if len(names) != len(tensors) or len(slices) != len(tensors):
            raise errors.InvalidArgumentError(
                None, op, f"SaveV2 '{op.name}': {len(names)} names and {len(slices)} slice specs "
                          f"for {len(tensors)} tensors")
        parent = os.path.dirname(prefix)
        if parent:
            os.makedirs(parent, exist_ok=True)  # as TF's BundleWriter (sharded temp dirs)
        with BundleWriter(prefix) as writer:
            for name, spec, t in zip(names, slices, tensors):
                value = np.asarray(t) if not hasattr(t, "get") else t.get()
                full_shape, tslice = parse_shape_and_slice(spec)
                if tslice is None:
                    writer.add(name, value)
                else:  # one partition of a partitioned variable
                    writer.add_slice(name, full_shape, tslice, value)
        return None

    return run


@kernel("RestoreV2", device="CPU")
def _restore_v2(ctx):
    from gmeta.checkpoint import BundleReader, parse_shape_and_slice

    op = ctx.op
    want = [t.dtype.base_dtype for t in op.outputs]

    def run(prefix, names, slices):
        prefix, names, slices = _str(prefix), _strs(names), _strs(slices)
        out = []
        with BundleReader(prefix) as reader:
            keys = set(reader.keys())
            for name, spec, dtype in zip(names, slices, want):
                if name not in keys:
                    raise errors.NotFoundError(None, op, f"Key {name} not found in checkpoint "
                                                         f"{prefix}")
                got = reader.shape_and_dtype(name)[1]
                if got != dtype:
                    raise errors.InvalidArgumentError(
                        None, op, f"tensor {name!r} in {prefix} has dtype {got.name}, but "
                                  f"{op.name} expects {dtype.name}")
                _, tslice = parse_shape_and_slice(spec)
                out.append(reader.read(name) if tslice is None else
                           reader.read_slice(name, tslice))
        return out

    return run


@kernel("MergeV2Checkpoints", device="CPU")
def _merge(ctx):
    from gmeta.checkpoint import merge_bundles

    delete_old_dirs = ctx.attr("delete_old_dirs", True)

    def run(prefixes, destination):
        sources = _strs(prefixes)
        merge_bundles(sources, _str(destination))
        if delete_old_dirs:
            for p in sources:
                d = os.path.dirname(p)
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        return None

    return run


@kernel("ShardedFilename", device="CPU")
def _sharded_filename(ctx):
    return lambda base, shard, n: np.array(
        f"{_str(base)}-{int(shard):05d}-of-{int(n):05d}".encode(), dtype=object)


@kernel("ShardedFilespec", device="CPU")
def _sharded_filespec(ctx):
    return lambda base, n: np.array(f"{_str(base)}-?????-of-{int(n):05d}".encode(), dtype=object)


@kernel("StringJoin", device="CPU")
def _string_join(ctx):
    sep = ctx.attr("separator", b"")

    def run(*inputs):
        arrays = [np.asarray(x, dtype=object) for x in inputs]
        shape = np.broadcast_shapes(*[a.shape for a in arrays])
        out = np.empty(shape, dtype=object)
        b = [np.broadcast_to(a, shape) for a in arrays]
        for idx in np.ndindex(shape) if shape else [()]:
            out[idx] = sep.join(x[idx] if isinstance(x[idx], bytes) else str(x[idx]).encode()
                                for x in b)
        return out

    return run


@kernel("StaticRegexFullMatch", device="CPU")
def _static_regex(ctx):
    pattern = re.compile(ctx.attr("pattern").decode())

    def run(x):
        arr = np.asarray(x, dtype=object)
        return np.vectorize(lambda s: pattern.fullmatch(_str(s)) is not None,
                            otypes=[np.bool_])(arr) if arr.size else np.zeros(arr.shape, bool)

    return run
