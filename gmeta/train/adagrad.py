"""``AdagradOptimizer``: ``accum += grad^2; var -= lr * grad / sqrt(accum)``, with one
``<var>/Adagrad`` slot initialised to ``initial_accumulator_value``."""

from __future__ import annotations

from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.ops import array_ops, init_ops, math_ops
from gmeta.train.optimizer import (
    Optimizer, ref, resource_handle, value_dtype, value_shape,
)

__all__ = ["AdagradOptimizer"]

_apply = op_def_library.apply_op


class AdagradOptimizer(Optimizer):
    """Adagrad (``tf.compat.v1.train.AdagradOptimizer``).

    Args:
        learning_rate: a float, scalar Tensor or callable.
        initial_accumulator_value: the accumulators' starting value (must be positive).
        use_locking: use locks for the update.
        name: the name scope of the update ops and the slots' suffix.

    Raises:
        ValueError: ``initial_accumulator_value`` is not positive.
    """

    def __init__(self, learning_rate, initial_accumulator_value=0.1, use_locking=False,
                 name="Adagrad"):
        if initial_accumulator_value <= 0.0:
            raise ValueError(f"initial_accumulator_value must be positive: "
                             f"{initial_accumulator_value}")
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._initial_accumulator_value = initial_accumulator_value
        self._learning_rate_tensor = None

    def _create_slots(self, var_list):
        for v in var_list:
            dtype, shape = value_dtype(v), value_shape(v)
            if shape.is_fully_defined():
                init = init_ops.constant_initializer(self._initial_accumulator_value,
                                                     dtype=dtype)
            else:
                init = self._init_constant_op(v, dtype)
            self._get_or_make_slot_with_initializer(v, init, shape, dtype,
                                                    "accumulator", self._name)

    def _init_constant_op(self, v, dtype):
        def init():
            filled = array_ops.fill(array_ops.shape(v), self._initial_accumulator_value)
            return math_ops.cast(filled, dtype)

        return init

    def _prepare(self):
        self._learning_rate_tensor = ops_lib.convert_to_tensor(
            self._call_if_callable(self._learning_rate), name="learning_rate")

    def _lr(self, dtype):
        return math_ops.cast(self._learning_rate_tensor, dtype.base_dtype)

    def _apply_dense(self, grad, var):
        acc = self.get_slot(var, "accumulator")
        return _apply("ApplyAdagrad", var=ref(var), accum=ref(acc), lr=self._lr(var.dtype),
                      grad=grad, use_locking=self._use_locking)

    def _resource_apply_dense(self, grad, var):
        acc = self.get_slot(var, "accumulator")
        return _apply("ResourceApplyAdagrad", var=resource_handle(var),
                      accum=resource_handle(acc), lr=self._lr(grad.dtype), grad=grad,
                      use_locking=self._use_locking)

    def _apply_sparse(self, grad, var):
        acc = self.get_slot(var, "accumulator")
        return _apply("SparseApplyAdagrad", var=ref(var), accum=ref(acc), lr=self._lr(var.dtype),
                      grad=grad.values, indices=grad.indices, use_locking=self._use_locking)

    def _resource_apply_sparse(self, grad, var, indices):
        acc = self.get_slot(var, "accumulator")
        return _apply("ResourceSparseApplyAdagrad", var=resource_handle(var),
                      accum=resource_handle(acc), lr=self._lr(grad.dtype), grad=grad,
                      indices=indices, use_locking=self._use_locking)
