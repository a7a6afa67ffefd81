"""Static shapes (TF's C++ shape functions) of ``SparseReshape``, ``SparseFillEmptyRows`` and
``SparseFillEmptyRowsGrad``."""

from __future__ import annotations

from gmeta.framework import shape_inference as si
from gmeta.framework.tensor_shape import TensorShape


def _rank(shape, rank, what):
    if shape.ndims is not None and shape.ndims != rank:
        raise ValueError(f"Shape must be rank {rank} but is rank {shape.ndims} for {what}")
    return shape.with_rank(rank)


def _merge(a, b, what):
    if a is not None and b is not None and a != b:
        raise ValueError(f"Dimensions must be equal, but are {a} and {b} for {what}")
    return a if a is not None else b


@si.register("SparseReshape")
def _sparse_reshape(op):
    indices = _rank(op.inputs[0].shape, 2, "SparseReshape input_indices")
    _rank(op.inputs[1].shape, 1, "SparseReshape input_shape")
    new_shape = _rank(op.inputs[2].shape, 1, "SparseReshape new_shape")
    return [[indices[0], new_shape[0]], new_shape]


@si.register("SparseFillEmptyRows")
def _sparse_fill_empty_rows(op):
    indices = _rank(op.inputs[0].shape, 2, "SparseFillEmptyRows indices")
    values = _rank(op.inputs[1].shape, 1, "SparseFillEmptyRows values")
    dense_shape = _rank(op.inputs[2].shape, 1, "SparseFillEmptyRows dense_shape")
    _rank(op.inputs[3].shape, 0, "SparseFillEmptyRows default_value")
    n = _merge(indices[0], values[0], "SparseFillEmptyRows indices and values")
    rank = _merge(indices[1], dense_shape[0], "SparseFillEmptyRows indices and dense_shape")
    return [[None, rank], [None], [None], [n]]


@si.register("SparseFillEmptyRowsGrad")
def _sparse_fill_empty_rows_grad(op):
    reverse = _rank(op.inputs[0].shape, 1, "SparseFillEmptyRowsGrad reverse_index_map")
    _rank(op.inputs[1].shape, 1, "SparseFillEmptyRowsGrad grad_values")
    return [reverse, TensorShape([])]
