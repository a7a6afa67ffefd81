"""Kernels of the sparse segment reductions (what ``embedding_lookup_sparse`` combines with):
``SparseSegment{Sum,Mean,SqrtN}`` and their ``...WithNumSegments`` forms, and the gradients
``SparseSegment{Sum,Mean,SqrtN}Grad`` (dense, ``output_dim0`` rows) and ``...GradV2`` (one row
per distinct index, sorted, and those indices: the values of an ``IndexedSlices``).

``output[s] = reduce(data[indices[i]] for i where segment_ids[i] == s)``; sum, mean (sum /
count) or sqrtn (sum / sqrt(count)); empty segments are zero. The forward ops need sorted
segment ids; the gradients do not. Errors are TF's CPU kernels' messages, checked in TF's order;
half precision is accumulated in float32.
"""

from __future__ import annotations

import numpy as np

from gmeta.kernels import bad_input as _bad, kernel

_KINDS = {"Sum": "sum", "Mean": "mean", "SqrtN": "sqrtn"}


def _host(a) -> np.ndarray:
    """An index array on the host (CuPy arrays are copied back) as int64."""
    a = a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)
    return a.astype(np.int64, copy=False)


def _scalar(ctx, a, what) -> int:
    if getattr(a, "ndim", 0) != 0:
        raise _bad(ctx, f"{what} should be a scalar, not shape "
                        f"[{','.join(str(int(d)) for d in a.shape)}]")
    return int(a)


def _acc_dtype(dtype):
    dtype = np.dtype(dtype)
    return np.dtype(np.float32) if dtype.kind == "f" and dtype.itemsize < 4 else dtype


def _scale(xp, kind, counts, dtype):
    """Per segment: 1, 1 / count or 1 / sqrt(count) (empty segments 0)."""
    c = counts.astype(dtype)
    if kind == "mean":
        return xp.where(counts > 0, 1 / xp.maximum(c, 1), 0).astype(dtype)
    return xp.where(counts > 0, 1 / xp.sqrt(xp.maximum(c, 1)), 0).astype(dtype)


def _expand(v, ndim):
    return v.reshape(v.shape + (1,) * (ndim - 1))


# -- forward --------------------------------------------------------------------------------------
def _check_forward(ctx, n_rows, idx, seg, num_segments):
    """TF's checks, in its order; returns the number of output rows."""
    if idx.shape[0] != seg.shape[0]:
        raise _bad(ctx, "segment_ids and indices should have same size.")
    n = seg.shape[0]
    if num_segments is not None:
        if n and seg[-1] >= num_segments:
            raise _bad(ctx, "segment ids must be < num_segments")
        rows = num_segments
    else:
        if n and seg[-1] < 0:
            raise _bad(ctx, "segment ids must be >= 0")
        rows = int(seg[-1]) + 1 if n else 0
    if not n:
        return rows
    starts = np.concatenate([[0], np.flatnonzero(np.diff(seg)) + 1])
    ends = np.concatenate([starts[1:], [n]])
    ids = seg[starts]
    decreasing = np.concatenate([ids[:-1] > ids[1:], [False]])
    out_of_range = (ids < 0) | (ids >= rows)
    bad_index = (idx < 0) | (idx >= n_rows)
    run_has_bad = np.add.reduceat(bad_index.astype(np.int64), starts) > 0
    failing = np.flatnonzero(decreasing | out_of_range | run_has_bad)
    if failing.size:
        r = int(failing[0])
        if decreasing[r]:
            raise _bad(ctx, "segment ids are not increasing")
        if out_of_range[r]:
            raise _bad(ctx, f"Segment id {int(ids[r])} out of range [0, {rows}), possibly "
                            f"because 'segment_ids' input is not sorted.")
        pos = int(starts[r] + np.flatnonzero(bad_index[starts[r]:ends[r]])[0])
        raise _bad(ctx, f"Bad: indices[{pos}] == {int(idx[pos])} out of range [0, {n_rows})")
    return rows


def _register_forward(suffix, kind, with_num_segments):
    op_type = f"SparseSegment{suffix}" + ("WithNumSegments" if with_num_segments else "")

    @kernel(op_type, host_memory=("num_segments",) if with_num_segments else ())
    def _factory(ctx):
        xp = ctx.xp
        dtype = ctx.output_np_dtype()
        acc = _acc_dtype(dtype)

        def run(data, indices, segment_ids, num_segments=None):
            if data.ndim < 1:
                raise _bad(ctx, "input must be at least rank 1")
            if indices.ndim != 1 or segment_ids.ndim != 1:
                raise _bad(ctx, "indices and segment_ids should be vectors")
            if num_segments is not None:
                num_segments = _scalar(ctx, num_segments, "num_segments")
            idx, seg = _host(indices), _host(segment_ids)
            rows = _check_forward(ctx, data.shape[0], idx, seg, num_segments)
            out = xp.zeros((rows,) + data.shape[1:], acc)
            if idx.size:
                seg_d = xp.asarray(seg)
                xp.add.at(out, seg_d, data[xp.asarray(idx)].astype(acc, copy=False))
                if kind != "sum":
                    counts = xp.bincount(seg_d, minlength=rows)
                    out *= _expand(_scale(xp, kind, counts, acc), out.ndim)
            return out.astype(dtype, copy=False)

        return run

    return _factory


for _suffix, _kind in _KINDS.items():
    _register_forward(_suffix, _kind, False)
    _register_forward(_suffix, _kind, True)


# -- gradients ------------------------------------------------------------------------------------
def _check_grad(ctx, kind, v2, m_rows, idx, seg, dim0):
    if idx.shape[0] != seg.shape[0]:
        raise _bad(ctx, "segment_ids and indices should have same size.")
    if v2 and dim0 < 0:
        raise _bad(ctx, f"Expected a non-negative size, got {dim0}")
    n = seg.shape[0]
    if not n:
        return
    if seg[-1] + 1 > m_rows:
        raise _bad(ctx, "Invalid number of segments")
    bad_seg = (seg < 0) | (seg >= m_rows)
    if not v2 and kind != "sum" and bad_seg.any():  # the counting pass comes first
        i = int(np.flatnonzero(bad_seg)[0])
        raise _bad(ctx, f"Segment id {int(seg[i])} out of range [0, {m_rows}).")
    bad_idx = (idx < 0) | (idx >= dim0)
    failing = np.flatnonzero(bad_idx | bad_seg)
    if failing.size:
        i = int(failing[0])
        if bad_idx[i]:
            raise _bad(ctx, f"Index {int(idx[i])} out of range [0, {dim0}).")
        raise _bad(ctx, f"Segment id {int(seg[i])} out of range [0, {m_rows}).")


def _register_grad(suffix, kind, v2):
    op_type = f"SparseSegment{suffix}Grad" + ("V2" if v2 else "")
    dim_arg = "dense_output_dim0" if v2 else "output_dim0"

    @kernel(op_type, host_memory=(dim_arg,))
    def _factory(ctx):
        xp = ctx.xp
        dtype = ctx.output_np_dtype()
        acc = _acc_dtype(dtype)
        idx_dtype = ctx.output_np_dtype(1) if v2 else None

        def run(grad, indices, segment_ids, output_dim0):
            if grad.ndim < 1:
                raise _bad(ctx, "grad must be at least rank 1")
            dim0 = _scalar(ctx, output_dim0, dim_arg)
            idx, seg = _host(indices), _host(segment_ids)
            _check_grad(ctx, kind, v2, grad.shape[0], idx, seg, dim0)
            rows = grad.astype(acc, copy=False)
            if kind != "sum":
                counts = xp.bincount(xp.asarray(seg), minlength=grad.shape[0])
                rows = rows * _expand(_scale(xp, kind, counts, acc), grad.ndim)
            if v2:
                uniq, inverse = np.unique(idx, return_inverse=True)
                out = xp.zeros((uniq.shape[0],) + grad.shape[1:], acc)
                target = inverse.reshape(-1)
            else:
                out = xp.zeros((dim0,) + grad.shape[1:], acc)
                target = idx
            if idx.size:
                xp.add.at(out, xp.asarray(target), rows[xp.asarray(seg)])
            out = out.astype(dtype, copy=False)
            if v2:
                return out, xp.asarray(uniq.astype(idx_dtype))
            return out

        return run

    return _factory


for _suffix, _kind in _KINDS.items():
    _register_grad(_suffix, _kind, False)
    _register_grad(_suffix, _kind, True)
