"""Summary kernels: ScalarSummary, HistogramSummary, MergeSummary -> serialized ``Summary``
protos, byte-compatible with what TF's kernels produce (host only)."""

from __future__ import annotations

import bisect
import sys

import numpy as np

from gmeta import errors
from gmeta.kernels import kernel


def _tags(tags):
    return [t if isinstance(t, bytes) else str(t).encode() for t in np.asarray(tags,
                                                                              object).ravel()]


@kernel("ScalarSummary", device="CPU")
def _scalar_summary(ctx):
    from gmeta.proto import Summary

    op = ctx.op

    def run(tags, values):
        tags_arr, vals = np.asarray(tags, object), np.asarray(values)
        if tags_arr.shape != vals.shape:
            raise errors.InvalidArgumentError(
                None, op, f"tags and values are not the same shape: {list(tags_arr.shape)} != "
                          f"{list(vals.shape)} (node '{op.name}')")
        s = Summary()
        for tag, v in zip(_tags(tags_arr), vals.ravel()):
            s.value.add(tag=tag.decode(), simple_value=float(v))
        return np.array(s.SerializeToString(), dtype=object)

    return run


def _default_bucket_limits():
    pos, v = [], 1.0e-12
    while v < 1.0e20:
        pos.append(v)
        v *= 1.1
    pos.append(sys.float_info.max)
    return [-x for x in reversed(pos)] + [0.0] + pos


_LIMITS = _default_bucket_limits()


def histogram_proto(values):
    """TF's default-bucket histogram of ``values`` (empty runs of buckets collapsed)."""
    from gmeta.proto import HistogramProto

    flat = np.asarray(values, dtype=np.float64).ravel()
    counts = [0.0] * len(_LIMITS)
    for x in flat:
        counts[bisect.bisect_right(_LIMITS, x) if x < _LIMITS[-1] else len(_LIMITS) - 1] += 1.0
    h = HistogramProto(min=float(flat.min()) if flat.size else sys.float_info.max,
                       max=float(flat.max()) if flat.size else -sys.float_info.max,
                       num=float(flat.size), sum=float(flat.sum()),
                       sum_squares=float((flat * flat).sum()))
    i = 0
    while i < len(counts):
        end, count = _LIMITS[i], counts[i]
        i += 1
        if count <= 0.0:
            while i < len(counts) and counts[i] <= 0.0:
                end, count = _LIMITS[i], counts[i]
                i += 1
        h.bucket_limit.append(end)
        h.bucket.append(count)
    if not h.bucket:
        h.bucket_limit.append(sys.float_info.max)
        h.bucket.append(0.0)
    return h


@kernel("HistogramSummary", device="CPU")
def _histogram_summary(ctx):
    from gmeta.proto import Summary

    op = ctx.op

    def run(tag, values):
        vals = np.asarray(values)
        if not np.isfinite(vals).all():
            raise errors.InvalidArgumentError(None, op, f"Nan in summary histogram for: "
                                                        f"{_tags(tag)[0].decode()}")
        s = Summary()
        s.value.add(tag=_tags(tag)[0].decode()).histo.CopyFrom(histogram_proto(vals))
        return np.array(s.SerializeToString(), dtype=object)

    return run


@kernel("MergeSummary", device="CPU")
def _merge_summary(ctx):
    from gmeta.proto import Summary

    op = ctx.op

    def run(*inputs):
        merged, seen = Summary(), set()
        for serialized in inputs:
            for raw in np.asarray(serialized, object).ravel():
                s = Summary()
                s.ParseFromString(raw)
                for v in s.value:
                    if v.tag and v.tag in seen:
                        raise errors.InvalidArgumentError(
                            None, op, f"Duplicate tag {v.tag} found in summary inputs (node "
                                      f"'{op.name}')")
                    seen.add(v.tag)
                    merged.value.add().CopyFrom(v)
        return np.array(merged.SerializeToString(), dtype=object)

    return run
