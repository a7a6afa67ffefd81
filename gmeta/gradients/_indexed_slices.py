"""``IndexedSlices``: a sparse gradient (rows ``indices`` of a dense tensor hold ``values``).

Gather gradients produce them so that only the gathered rows are materialised. Where a dense
tensor is needed they convert as TensorFlow converts them: ``UnsortedSegmentSum(values,
indices, dense_shape[0])``.
"""

from __future__ import annotations

from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework import shape_inference
from gmeta.framework.tensor_shape import TensorShape


class IndexedSlices:
    """A sparse representation of a dense tensor: ``dense[indices[i]] = values[i]``.

    ``values`` has shape ``[len(indices)] + dense_shape[1:]``; repeated indices add up.

    Args:
        values: the slices (a Tensor).
        indices: 1-D int32/int64 row indices into the first dimension of the dense tensor.
        dense_shape: 1-D shape of the dense tensor (a Tensor), or None if unknown.
    """

    __module__ = "gmeta"

    def __init__(self, values, indices, dense_shape=None):
        self._values = values
        self._indices = indices
        self._dense_shape = dense_shape

    values = property(lambda self: self._values, doc="The slices (a Tensor).")
    indices = property(lambda self: self._indices, doc="The row indices (a 1-D Tensor).")
    dense_shape = property(lambda self: self._dense_shape,
                           doc="The dense tensor's shape (a 1-D Tensor), or None.")

    @property
    def name(self) -> str:
        return self._values.name

    @property
    def device(self) -> str:
        return self._values.device

    @property
    def op(self):
        """The operation producing ``values``."""
        return self._values.op

    @property
    def dtype(self):
        return self._values.dtype

    @property
    def graph(self):
        return self._values.graph

    @property
    def shape(self) -> TensorShape:
        """The dense tensor's static shape, as far as ``dense_shape`` tells it."""
        if self._dense_shape is None:
            return TensorShape(None)
        return shape_inference.constant_value_as_shape(self._dense_shape)

    def get_shape(self) -> TensorShape:
        return self.shape

    def consumers(self) -> list:
        return self._values.consumers()

    def _as_graph_element_for_control(self):
        return self._values.op

    def __neg__(self):
        from gmeta.ops import math_ops

        return IndexedSlices(math_ops.negative(self._values), self._indices, self._dense_shape)

    def __repr__(self):
        shape = "" if self._dense_shape is None else f", dense_shape={self._dense_shape!r}"
        return f"IndexedSlices(indices={self._indices!r}, values={self._values!r}{shape})"


def _indexed_slices_to_tensor(value, dtype=None, name=None, as_ref=False):
    """TF's conversion: ``UnsortedSegmentSum(values, indices, dense_shape[0])``."""
    del as_ref
    if dtype is not None and not dtype.is_compatible_with(value.dtype):
        raise ValueError(f"Tensor conversion requested dtype {dtype.name} for IndexedSlices with "
                         f"dtype {value.dtype.name}")
    if value.dense_shape is None:
        raise ValueError("Tensor conversion requested for IndexedSlices without dense_shape: "
                         f"{value!r}")
    return op_def_library.apply_op("UnsortedSegmentSum", data=value.values,
                                   segment_ids=value.indices,
                                   num_segments=value.dense_shape[0], name=name)


def _conversion(value, dtype=None, name=None, as_ref=False):
    from gmeta import dtypes

    return _indexed_slices_to_tensor(value, None if dtype is None else dtypes.as_dtype(dtype),
                                     name, as_ref)


ops_lib.register_tensor_conversion_function(IndexedSlices, _conversion)
