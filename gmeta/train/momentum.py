"""``MomentumOptimizer``: ``accum = momentum * accum + grad; var -= lr * accum`` (or Nesterov's
form), with one ``<var>/Momentum`` slot per variable."""

from __future__ import annotations

from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.ops import math_ops
from gmeta.train.optimizer import Optimizer, ref, resource_handle

__all__ = ["MomentumOptimizer"]

_apply = op_def_library.apply_op


class MomentumOptimizer(Optimizer):
    """Gradient descent with momentum (``tf.compat.v1.train.MomentumOptimizer``).

    Args:
        learning_rate: a float, scalar Tensor or callable.
        momentum: a float, scalar Tensor or callable.
        use_locking: use locks for the update.
        name: the name scope of the update ops and the slots' suffix.
        use_nesterov: Nesterov momentum (``var -= lr * grad + lr * momentum * accum``).
    """

    def __init__(self, learning_rate, momentum, use_locking=False, name="Momentum",
                 use_nesterov=False):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._momentum = momentum
        self._use_nesterov = use_nesterov

    def _create_slots(self, var_list):
        for v in var_list:
            self._zeros_slot(v, "momentum", self._name)

    def _prepare(self):
        self._learning_rate_tensor = ops_lib.convert_to_tensor(
            self._call_if_callable(self._learning_rate), name="learning_rate")
        self._momentum_tensor = ops_lib.convert_to_tensor(
            self._call_if_callable(self._momentum), name="momentum")

    def _hyper(self, dtype):
        dtype = dtype.base_dtype
        return dict(lr=math_ops.cast(self._learning_rate_tensor, dtype),
                    momentum=math_ops.cast(self._momentum_tensor, dtype))

    def _apply_dense(self, grad, var):
        mom = self.get_slot(var, "momentum")
        h = self._hyper(var.dtype)
        return _apply("ApplyMomentum", var=ref(var), accum=ref(mom), lr=h["lr"], grad=grad,
                      momentum=h["momentum"], use_locking=self._use_locking,
                      use_nesterov=self._use_nesterov).op

    def _resource_apply_dense(self, grad, var):
        mom = self.get_slot(var, "momentum")
        h = self._hyper(grad.dtype)
        return _apply("ResourceApplyMomentum", var=resource_handle(var),
                      accum=resource_handle(mom), lr=h["lr"], grad=grad, momentum=h["momentum"],
                      use_locking=self._use_locking, use_nesterov=self._use_nesterov)

    def _apply_sparse(self, grad, var):
        mom = self.get_slot(var, "momentum")
        h = self._hyper(var.dtype)
        return _apply("SparseApplyMomentum", var=ref(var), accum=ref(mom), lr=h["lr"],
                      grad=grad.values, indices=grad.indices, momentum=h["momentum"],
                      use_locking=self._use_locking, use_nesterov=self._use_nesterov).op

    def _resource_apply_sparse(self, grad, var, indices):
        mom = self.get_slot(var, "momentum")
        h = self._hyper(grad.dtype)
        return _apply("ResourceSparseApplyMomentum", var=resource_handle(var),
                      accum=resource_handle(mom), lr=h["lr"], grad=grad, indices=indices,
                      momentum=h["momentum"], use_locking=self._use_locking,
                      use_nesterov=self._use_nesterov)
