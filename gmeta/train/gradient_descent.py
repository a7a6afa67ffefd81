"""``GradientDescentOptimizer``: ``var -= learning_rate * grad``."""

from __future__ import annotations

from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.gradients._indexed_slices import IndexedSlices
from gmeta.ops import math_ops
from gmeta.train.optimizer import Optimizer, ref, resource_handle

__all__ = ["GradientDescentOptimizer"]

_apply = op_def_library.apply_op


class GradientDescentOptimizer(Optimizer):
    """Plain gradient descent (``tf.compat.v1.train.GradientDescentOptimizer``).

    Dense gradients use ``ApplyGradientDescent``; sparse ones subtract
    ``learning_rate * values`` from the gathered rows with ``ScatterSub`` (repeated indices add
    up, so no de-duplication is needed).

    Args:
        learning_rate: a float, a scalar Tensor, or a callable returning one.
        use_locking: use locks for the update.
        name: the name scope of the update ops.
    """

    def __init__(self, learning_rate, use_locking=False, name="GradientDescent"):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._learning_rate_tensor = None

    def _prepare(self):
        learning_rate = self._call_if_callable(self._learning_rate)
        self._learning_rate_tensor = ops_lib.convert_to_tensor(learning_rate,
                                                               name="learning_rate")

    def _lr(self, dtype):
        return math_ops.cast(self._learning_rate_tensor, dtype.base_dtype)

    def _apply_dense(self, grad, var):
        return _apply("ApplyGradientDescent", var=ref(var), alpha=self._lr(var.dtype), delta=grad,
                      use_locking=self._use_locking).op

    def _resource_apply_dense(self, grad, handle):
        return _apply("ResourceApplyGradientDescent", var=resource_handle(handle),
                      alpha=self._lr(grad.dtype), delta=grad, use_locking=self._use_locking)

    def _resource_apply_sparse_duplicate_indices(self, grad, handle, indices):
        return _apply("ResourceScatterAdd", resource=resource_handle(handle), indices=indices,
                      updates=-grad * self._lr(grad.dtype))

    def _apply_sparse_duplicate_indices(self, grad, var):
        delta = IndexedSlices(grad.values * self._lr(var.dtype), grad.indices, grad.dense_shape)
        return _apply("ScatterSub", ref=ref(var), indices=delta.indices, updates=delta.values,
                      use_locking=self._use_locking)
