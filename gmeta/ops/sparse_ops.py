"""The SparseTensor ops ``safe_embedding_lookup_sparse`` is made of, built as TF 2.21's
sparse_ops.py builds them: :func:`sparse_reshape` (``SparseReshape``), :func:`sparse_retain`
(``Where`` + two ``GatherV2``) and :func:`sparse_fill_empty_rows` (``SparseFillEmptyRows``).
"""

from __future__ import annotations

import numpy as np

from gmeta import dtypes
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework.shape_inference import constant_value, constant_value_as_shape
from gmeta.framework.sparse_tensor import SparseTensor, SparseTensorValue
from gmeta.ops import _sparse_shapes  # noqa: F401 - registers the shape functions
from gmeta.ops import array_ops, math_ops

__all__ = ["sparse_fill_empty_rows", "sparse_reshape", "sparse_retain"]

_apply = op_def_library.apply_op


def _convert_to_sparse_tensor(sp_input):
    if isinstance(sp_input, SparseTensorValue):
        return SparseTensor.from_value(sp_input)
    if not isinstance(sp_input, SparseTensor):
        raise TypeError("Input must be a SparseTensor.")
    return sp_input


def sparse_reshape(sp_input, shape, name=None):
    """The SparseTensor ``sp_input`` viewed with dense shape ``shape`` (one -1 is inferred), its
    values in the same row-major order.

    Raises:
        ValueError: the shapes are known and hold different numbers of elements, or ``shape``
            has more than one -1.
    """
    sp_input = _convert_to_sparse_tensor(sp_input)
    shape = math_ops.cast(shape, dtype=dtypes.int64)
    with ops_lib.name_scope_v1(name, "SparseReshape", [sp_input.indices]) as name:
        reshaped_ind, reshaped_shape = _apply("SparseReshape", input_indices=sp_input.indices,
                                              input_shape=sp_input.dense_shape,
                                              new_shape=shape, name=name)
        const_shape = constant_value_as_shape(shape)
        const_shape = const_shape.as_list() if const_shape.ndims is not None else None
        if const_shape is not None and sp_input.shape.is_fully_defined():
            by_user = constant_value(shape)
            if by_user is not None and sum(int(d) == -1 for d in by_user.reshape(-1)) > 1:
                raise ValueError(f"At most one dimension can be inferred (-1). Found: {by_user}")
            original = list(const_shape)
            in_size = np.prod(sp_input.shape.as_list())
            num_implied = sum(d is None for d in const_shape)
            if num_implied == 1 and 0 not in const_shape:
                implied = original.index(None)
                others = original[:implied] + original[implied + 1:]
                const_shape[implied] = int(in_size // np.prod(others))
            if num_implied == 0 or (num_implied == 1 and 0 not in const_shape):
                size = np.prod(const_shape)
                if size != in_size:
                    raise ValueError(f"Cannot reshape a tensor with {in_size} elements to shape "
                                     f"{original} ({size} elements).")
                from gmeta.ops.constant_op import constant

                reshaped_shape = constant(const_shape, dtype=dtypes.int64)
        return SparseTensor(reshaped_ind, array_ops.identity(sp_input.values), reshaped_shape)


def sparse_retain(sp_input, to_retain):
    """The entries of ``sp_input`` where the bool vector ``to_retain`` is true (no name scope:
    TF's ops land in the current one)."""
    sp_input = _convert_to_sparse_tensor(sp_input)
    to_retain = ops_lib.convert_to_tensor(to_retain)
    retain_shape = to_retain.shape
    retain_shape.assert_has_rank(1)
    values_shape = sp_input.values.shape
    if values_shape.ndims is not None:
        a, b = values_shape[0], retain_shape[0] if retain_shape.ndims else None
        if a is not None and b is not None and a != b:
            raise ValueError(f"Dimensions {a} and {b} are not compatible")
    where_true = array_ops.reshape(array_ops.where_v2(to_retain), [-1])
    new_indices = array_ops.gather(sp_input.indices, where_true)
    new_values = array_ops.gather(sp_input.values, where_true)
    return SparseTensor(new_indices, new_values, array_ops.identity(sp_input.dense_shape))


def sparse_fill_empty_rows(sp_input, default_value, name=None):
    """``sp_input`` with an entry ``default_value`` at ``[row, 0, ...]`` for every empty row,
    and the bool vector of the rows that were empty (``(SparseTensor, empty_row_indicator)``)."""
    sp_input = _convert_to_sparse_tensor(sp_input)
    with ops_lib.name_scope_v1(name, "SparseFillEmptyRows", [sp_input.indices]):
        default_value = ops_lib.convert_to_tensor(default_value, dtype=sp_input.values.dtype)
        out_indices, out_values, empty_row_indicator, _ = _apply(
            "SparseFillEmptyRows", indices=sp_input.indices, values=sp_input.values,
            dense_shape=sp_input.dense_shape, default_value=default_value)
        return (SparseTensor(indices=out_indices, values=out_values,
                             dense_shape=sp_input.dense_shape), empty_row_indicator)
