"""``AdadeltaOptimizer`` (Zeiler): slots ``<var>/Adadelta`` (accum) and ``<var>/Adadelta_1``
(accum_update)."""

from __future__ import annotations

from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.ops import math_ops
from gmeta.train.optimizer import Optimizer, ref, resource_handle

__all__ = ["AdadeltaOptimizer"]

_apply = op_def_library.apply_op


class AdadeltaOptimizer(Optimizer):
    """Adadelta (``tf.compat.v1.train.AdadeltaOptimizer``).

    ``accum = rho * accum + (1 - rho) * g^2``;
    ``update = sqrt(accum_update + eps) / sqrt(accum + eps) * g``;
    ``accum_update = rho * accum_update + (1 - rho) * update^2``; ``var -= lr * update``.

    Args:
        learning_rate, rho, epsilon: floats, scalar Tensors or callables.
        use_locking: use locks for the update.
        name: the name scope of the update ops and the slots' suffix.
    """

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-08, use_locking=False,
                 name="Adadelta"):
        super().__init__(use_locking, name)
        self._lr = learning_rate
        self._rho = rho
        self._epsilon = epsilon
        self._lr_t = self._rho_t = self._epsilon_t = None

    def _create_slots(self, var_list):
        for v in var_list:
            self._zeros_slot(v, "accum", self._name)
            self._zeros_slot(v, "accum_update", self._name)

    def _prepare(self):
        self._lr_t = ops_lib.convert_to_tensor(self._call_if_callable(self._lr), name="lr")
        self._rho_t = ops_lib.convert_to_tensor(self._call_if_callable(self._rho), name="rho")
        self._epsilon_t = ops_lib.convert_to_tensor(self._call_if_callable(self._epsilon),
                                                    name="epsilon")

    def _args(self, var, dtype, resource=False):
        slot = resource_handle if resource else ref
        dtype = dtype.base_dtype
        lr, rho, epsilon = [math_ops.cast(t, dtype)
                            for t in (self._lr_t, self._rho_t, self._epsilon_t)]
        return dict(var=slot(var), accum=slot(self.get_slot(var, "accum")),
                    accum_update=slot(self.get_slot(var, "accum_update")), lr=lr, rho=rho,
                    epsilon=epsilon, use_locking=self._use_locking)

    def _apply_dense(self, grad, var):
        return _apply("ApplyAdadelta", grad=grad, **self._args(var, var.dtype))

    def _resource_apply_dense(self, grad, var):
        return _apply("ResourceApplyAdadelta", grad=grad,
                      **self._args(var, grad.dtype, resource=True))

    def _apply_sparse(self, grad, var):
        return _apply("SparseApplyAdadelta", grad=grad.values, indices=grad.indices,
                      **self._args(var, var.dtype))

    def _resource_apply_sparse(self, grad, var, indices):
        return _apply("ResourceSparseApplyAdadelta", grad=grad, indices=indices,
                      **self._args(var, grad.dtype, resource=True))
