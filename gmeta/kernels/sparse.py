"""Kernels of the SparseTensor ops ``safe_embedding_lookup_sparse`` uses: ``SparseReshape``,
``SparseFillEmptyRows`` and its gradient ``SparseFillEmptyRowsGrad``.

The index arithmetic runs on the host (the indices are small int64 matrices); values stay on the
kernel's device. Errors are TF's CPU kernels' messages.
"""

from __future__ import annotations

import numpy as np

from gmeta.kernels import bad_input as _bad, dims as _dims, kernel


def _host(a) -> np.ndarray:
    a = a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)
    return a.astype(np.int64, copy=False)


# -- SparseReshape --------------------------------------------------------------------------------
def _reshape_shape(ctx, in_shape, new_shape):
    """The output dense shape (one -1 inferred), checked as TF checks it."""
    dense_size = int(np.prod(in_shape)) if in_shape.size else 1
    out = [1] * new_shape.size
    product, unknown = 1, -1
    for d, size in enumerate(new_shape.tolist()):
        if size == -1:
            if unknown != -1:
                raise _bad(ctx, f"only one output dimension may be -1, not both {unknown} and "
                                f"{d}")
            unknown = d
        else:
            if size < 0:
                raise _bad(ctx, f"size {d} must be non-negative, not {size}")
            product *= size
            out[d] = size
    if unknown != -1:
        if product <= 0:
            raise _bad(ctx, "reshape cannot infer the missing input size for an empty tensor "
                            "unless all specified input sizes are non-zero")
        missing = dense_size // product
        if product * missing != dense_size:
            raise _bad(ctx, f"Input to reshape is a SparseTensor with {dense_size} dense values, "
                            f"but the requested shape requires a multiple of {product}. "
                            f"input_shape={_dims(in_shape)} output_shape={_dims(out)}")
        out[unknown] = missing
    if int(np.prod(out)) != dense_size:
        raise _bad(ctx, f"Input to reshape is a tensor with {dense_size} dense values, but the "
                        f"requested shape has {int(np.prod(out))}. input_shape="
                        f"{_dims(in_shape)} output_shape={_dims(out)}")
    return np.asarray(out, np.int64)


@kernel("SparseReshape", host_memory=("input_shape", "new_shape", "output_shape"))
def _sparse_reshape(ctx):
    xp = ctx.xp

    def run(input_indices, input_shape, new_shape):
        if input_indices.ndim != 2:
            raise _bad(ctx, f"Input indices should be a matrix but received shape "
                            f"{_dims(input_indices.shape)}")
        if input_shape.ndim != 1:
            raise _bad(ctx, f"Input shape should be a vector but received shape "
                            f"{_dims(input_shape.shape)}")
        if new_shape.ndim != 1:
            raise _bad(ctx, f"Target shape should be a vector but received shape "
                            f"{_dims(new_shape.shape)}")
        idx, in_shape, target = _host(input_indices), _host(input_shape), _host(new_shape)
        if idx.shape[1] != in_shape.size:
            raise _bad(ctx, "Input tensor rank must match input shape length.")
        out_shape = _reshape_shape(ctx, in_shape, target)
        if idx.shape[0] and in_shape.size:
            flat = np.zeros(idx.shape[0], np.int64)
            for d in range(in_shape.size):
                flat = flat * in_shape[d] + idx[:, d]
            out = np.zeros((idx.shape[0], out_shape.size), np.int64)
            for d in range(out_shape.size - 1, -1, -1):
                size = max(int(out_shape[d]), 1)
                out[:, d] = flat % size
                flat //= size
        else:
            out = np.zeros((idx.shape[0], out_shape.size), np.int64)
        return xp.asarray(out), out_shape

    return run


# -- SparseFillEmptyRows --------------------------------------------------------------------------
@kernel("SparseFillEmptyRows", host_memory=("dense_shape",))
def _sparse_fill_empty_rows(ctx):
    xp = ctx.xp

    def run(indices, values, dense_shape, default_value):
        if dense_shape.ndim != 1:
            raise _bad(ctx, f"dense_shape must be a vector, saw: {_dims(dense_shape.shape)}")
        if indices.ndim != 2:
            raise _bad(ctx, f"indices must be a matrix, saw: {_dims(indices.shape)}")
        if values.ndim != 1:
            raise _bad(ctx, f"values must be a vector, saw: {_dims(values.shape)}")
        if default_value.ndim != 0:
            raise _bad(ctx, f"default_value must be a scalar, saw: "
                            f"{_dims(default_value.shape)}")
        if indices.shape[0] != values.shape[0]:
            raise _bad(ctx, f"The length of `values` ({values.shape[0]}) must match the first "
                            f"dimension of `indices` ({indices.shape[0]}).")
        shape = _host(dense_shape)
        if shape.size == 0:
            raise _bad(ctx, "Dense shape cannot be empty.")
        if indices.shape[1] != shape.size:
            raise _bad(ctx, f"The length of `dense_shape` ({shape.size}) must match the second "
                            f"dimension of `indices` ({indices.shape[1]}).")
        idx = _host(indices)
        n, rows = idx.shape[0], int(shape[0])
        if n:
            row = idx[:, 0]
            bad = np.flatnonzero((row < 0) | (row >= rows))
            if bad.size:
                i = int(bad[0])
                raise _bad(ctx, f"indices({i}, 0) is invalid: {int(row[i])} >= {rows}")
        else:
            row = idx[:, 0] if idx.shape[1] else np.zeros(0, np.int64)
        counts = np.bincount(row, minlength=rows) if rows else np.zeros(0, np.int64)
        empty = counts == 0
        per_row = np.maximum(counts, 1)
        start = np.concatenate([[0], np.cumsum(per_row)[:-1]]).astype(np.int64)
        total = int(per_row.sum()) if rows else 0
        order = np.argsort(row, kind="stable")
        # the k-th input entry of a row goes to that row's start + k
        rank_in_row = np.empty(n, np.int64)
        if n:
            sorted_rows = row[order]
            first = np.searchsorted(sorted_rows, sorted_rows, side="left")
            rank_in_row[order] = np.arange(n) - first
        reverse = start[row] + rank_in_row if n else np.zeros(0, np.int64)
        out_indices = np.zeros((total, idx.shape[1]), np.int64)
        empty_rows = np.flatnonzero(empty)
        out_indices[start[empty_rows], 0] = empty_rows
        if n:
            out_indices[reverse] = idx
        out_values = xp.empty((total,), dtype=values.dtype)
        out_values[...] = default_value
        if n:
            out_values[xp.asarray(reverse)] = values
        return (xp.asarray(out_indices), out_values, xp.asarray(empty),
                xp.asarray(reverse))

    return run


@kernel("SparseFillEmptyRowsGrad")
def _sparse_fill_empty_rows_grad(ctx):
    xp = ctx.xp

    def run(reverse_index_map, grad_values):
        if reverse_index_map.ndim != 1:
            raise _bad(ctx, f"reverse_index_map must be a vector, saw: "
                            f"{_dims(reverse_index_map.shape)}")
        if grad_values.ndim != 1:
            raise _bad(ctx, f"grad_values must be a vector, saw: {_dims(grad_values.shape)}")
        m = grad_values.shape[0]
        rev = _host(reverse_index_map)
        bad = np.flatnonzero((rev < 0) | (rev >= m))
        if bad.size:
            raise _bad(ctx, f"Elements in reverse index must be in [0, {m}) but got "
                            f"{int(rev[bad[0]])}")
        d_values = grad_values[xp.asarray(rev)]
        visited = np.zeros(m, bool)
        visited[rev] = True
        wide = np.float32 if grad_values.dtype == np.float16 else grad_values.dtype
        d_default = xp.sum(grad_values[xp.asarray(~visited)].astype(wide))
        return d_values, xp.asarray(d_default).astype(grad_values.dtype)

    return run
