"""StridedSlice semantics (TF's ``ValidateStridedSliceOp``), shared by the shape function and
the build-time partial evaluator (``gmeta/ops/_array_shapes.py``) and the kernel
(``gmeta/kernels/array.py``)."""

from __future__ import annotations

class StridedSlicePlan:
    """What a StridedSlice does to an input of a given shape (TF's ``ValidateStridedSliceOp``).

    ``index`` is a numpy basic index over the input's dims (None where a dim is unknown),
    ``final_shape`` the output shape (None entries unknown), ``identity`` whether the slice
    returns its input unchanged.
    """

    __slots__ = ("index", "final_shape", "identity")

    def __init__(self, index, final_shape, identity):
        self.index = index
        self.final_shape = final_shape
        self.identity = identity

    def apply(self, x):
        """Slices the array ``x`` (numpy or cupy) by this plan."""
        if self.identity:
            return x if x.ndim == len(self.final_shape) else x.reshape(self.final_shape)
        return x[self.index].reshape(self.final_shape)


def _dense_spec(rank_, n, masks):
    """Expands the sparse spec's ellipsis: [(sparse index, begin/end masked, shrink), ...] per
    input dim and the final-shape recipe (dense index, 'new' or 'shrink')."""
    begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_mask = masks
    if ellipsis_mask & (ellipsis_mask - 1):
        raise ValueError("Multiple ellipses in slice spec not allowed")
    sparse_n, ellipsis = n, ellipsis_mask
    if not ellipsis:
        ellipsis |= 1 << n
        sparse_n += 1
    after = sum(1 for i in range(sparse_n)
                if (new_axis_mask >> i) & 1 and ellipsis & ((1 << i) - 1))
    dense, final = [], []
    for i in range(sparse_n):
        bit = 1 << i
        if ellipsis & bit:
            stop = min(rank_ - (sparse_n - i) + 1 + after, rank_)
            while len(dense) < stop:
                final.append(len(dense))
                dense.append((None, True, True, False))
        elif new_axis_mask & bit:
            final.append("new")
        else:
            if len(dense) == rank_:
                raise ValueError(f"Index out of range using input dim {len(dense)}; input has "
                                 f"only {rank_} dims")
            shrink = bool(shrink_mask & bit)
            final.append("shrink" if shrink else len(dense))
            dense.append((i, bool(begin_mask & bit), bool(end_mask & bit), shrink))
    return dense, final


def _slice_size(begin, end, stride):
    length = end - begin
    if length == 0 or (length < 0) != (stride < 0):
        return 0
    q, r = divmod(abs(length), abs(stride))
    return q + (r != 0)


def strided_slice_plan(in_dims, begin, end, strides, masks) -> StridedSlicePlan:
    """The plan of a StridedSlice over ``in_dims`` (ints or None), TF's validation included.

    Args:
        in_dims: the input's dims (a list; None entries are unknown).
        begin, end: the begin/end vectors as int lists, or None when unknown.
        strides: the strides as an int list.
        masks: (begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask).

    Raises:
        ValueError: an invalid spec, with TF's message (the kernel re-raises it as
            InvalidArgumentError).
    """
    n = len(strides)
    if (begin is not None and len(begin) != n) or (end is not None and len(end) != n):
        raise ValueError(f"Expected begin, end, and strides to be 1D equal size tensors, but got "
                         f"shapes [{len(begin or [])}], [{len(end or [])}], and [{n}] instead.")
    dense, final = _dense_spec(len(in_dims), n, masks)
    index, proc, identity = [], [], True
    for k, (i, bm, em, shrink) in enumerate(dense):
        dim = in_dims[k]
        s = 1 if i is None else strides[i]
        if s == 0:
            raise ValueError(f"strides[{k}] must be non-zero")
        if dim is None:
            proc.append(1 if shrink else None)
            index.append(None)
            identity = False
            continue
        if i is None:
            b, e = (0, dim) if s > 0 else (dim - 1, -1)
        elif shrink:
            if begin is None:
                proc.append(1)
                index.append(None)
                identity = False
                continue
            b = begin[i] + dim if begin[i] < 0 else begin[i]
            if b < 0 or b >= dim:
                raise ValueError(f"slice index {b} of dimension {k} out of bounds.")
            proc.append(1)
            index.append(b)
            identity = False
            continue
        elif begin is None or end is None:
            if bm and em:
                size = _slice_size(0, dim, s) if s > 0 else _slice_size(dim - 1, -1, s)
            else:
                size = None
            proc.append(size)
            index.append(None)
            identity = False
            continue
        else:
            lo, hi = (0, dim) if s > 0 else (-1, dim - 1)
            b = (lo if s > 0 else hi) if bm else min(max(begin[i] + dim if begin[i] < 0
                                                         else begin[i], lo), hi)
            e = (hi if s > 0 else lo) if em else min(max(end[i] + dim if end[i] < 0
                                                         else end[i], lo), hi)
        size = _slice_size(b, e, s)
        proc.append(size)
        identity = identity and s == 1 and size == dim
        stop = b + size * s
        index.append(slice(b, stop if stop >= 0 else None, s) if size else slice(0, 0))
    final_shape = [1 if f == "new" else proc[f] for f in final if f != "shrink"]
    identity = identity and len(final_shape) == len(in_dims)
    return StridedSlicePlan(tuple(index), final_shape, identity)
