"""``tf.compat.v1.SparseTensor``: a sparse tensor as three dense tensors (``indices``, ``values``,
``dense_shape``) and ``SparseTensorValue``, the numpy triple a session returns for one.

As in TF, the constructor converts its arguments inside ``name_scope(None, "SparseTensor")``
(``indices`` and ``dense_shape`` as int64) and checks their static shapes: ``indices`` is
``[N, ndims]``, ``values`` is ``[N]``, ``dense_shape`` is ``[ndims]``. Sessions fetch a
SparseTensor as a ``SparseTensorValue`` and accept one (or any ``(indices, values,
dense_shape)`` triple) as its feed.
"""

from __future__ import annotations

import collections

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.framework.shape_inference import constant_value_as_shape
from gmeta.framework.tensor_shape import Dimension

__all__ = ["SparseTensor", "SparseTensorValue"]

SparseTensorValue = collections.namedtuple("SparseTensorValue",
                                           ["indices", "values", "dense_shape"])


class SparseTensor:
    """A sparse tensor: ``values[i]`` sits at ``indices[i]`` of a ``dense_shape`` tensor."""

    @classmethod
    def from_value(cls, sparse_tensor_value):
        if isinstance(sparse_tensor_value, SparseTensor):
            return sparse_tensor_value
        return cls(indices=sparse_tensor_value.indices, values=sparse_tensor_value.values,
                   dense_shape=sparse_tensor_value.dense_shape)

    def __init__(self, indices, values, dense_shape):
        with ops_lib.name_scope_v1(None, "SparseTensor", [indices, values, dense_shape]):
            indices = ops_lib.convert_to_tensor(indices, name="indices", dtype=dtypes.int64)
            values = ops_lib.convert_to_tensor(values, name="values")
            dense_shape = ops_lib.convert_to_tensor(dense_shape, name="dense_shape",
                                                    dtype=dtypes.int64)
            dense_shape_default = constant_value_as_shape(dense_shape)
        self._indices = indices
        self._values = values
        self._dense_shape = dense_shape
        self._dense_shape_default = dense_shape_default
        indices_shape = indices.shape.with_rank(2)
        values_shape = values.shape.with_rank(1)
        dense_shape_shape = dense_shape.shape.with_rank(1)
        _assert_dims_compatible(indices_shape[0], values_shape[0])
        _assert_dims_compatible(indices_shape[1], dense_shape_shape[0])

    @property
    def indices(self):
        """The ``[N, ndims]`` int64 coordinates of the values."""
        return self._indices

    @property
    def values(self):
        """The ``[N]`` values."""
        return self._values

    @property
    def dense_shape(self):
        """The ``[ndims]`` int64 shape of the dense tensor represented."""
        return self._dense_shape

    def with_values(self, new_values):
        """A SparseTensor with the same indices and dense shape and ``new_values``."""
        return SparseTensor(self._indices, new_values, self._dense_shape)

    @property
    def op(self):
        return self._values.op

    @property
    def dtype(self):
        return self._values.dtype

    @property
    def shape(self):
        """The static shape of the dense tensor represented (from ``dense_shape``)."""
        return self._dense_shape_default

    def get_shape(self):
        return self._dense_shape_default

    @property
    def graph(self):
        return self._indices.graph

    def consumers(self):
        seen, out = set(), []
        for t in (self._indices, self._values, self._dense_shape):
            for op in t.consumers():
                if op not in seen:
                    seen.add(op)
                    out.append(op)
        return out

    def eval(self, feed_dict=None, session=None):
        from gmeta.session import get_default_session

        session = session or get_default_session()
        if session is None:
            raise ValueError("Cannot evaluate tensor using `eval()`: No default session is "
                             "registered. Use `with sess.as_default()` or pass an explicit "
                             "session to `eval(session=sess)`")
        return session.run(self, feed_dict)

    def __repr__(self):
        return (f"SparseTensor(indices={self._indices!r}, values={self._values!r}, "
                f"dense_shape={self._dense_shape!r})")


def _assert_dims_compatible(a, b):
    if a is not None and b is not None and a != b:
        raise ValueError(f"Dimensions {Dimension(a)} and {Dimension(b)} are not compatible")


def is_sparse(x) -> bool:
    """Whether ``x`` is a SparseTensor or a SparseTensorValue."""
    return isinstance(x, (SparseTensor, SparseTensorValue))
