"""``RMSPropOptimizer``: slots ``<var>/RMSProp`` (rms, initialised to ones),
``<var>/RMSProp_1`` (momentum) and, when centered, the mean-gradient slot before them."""

from __future__ import annotations

from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.ops import array_ops, init_ops, math_ops
from gmeta.train.optimizer import (
    Optimizer, ref, resource_handle, value_dtype, value_shape,
)

__all__ = ["RMSPropOptimizer"]

_apply = op_def_library.apply_op


class RMSPropOptimizer(Optimizer):
    """RMSProp (``tf.compat.v1.train.RMSPropOptimizer``).

    ``ms = decay * ms + (1 - decay) * g^2``; ``mom = momentum * mom + lr * g / sqrt(ms + eps)``;
    ``var -= mom``. Centered: ``mg = decay * mg + (1 - decay) * g`` and the denominator is
    ``sqrt(ms - mg^2 + eps)``.

    Args:
        learning_rate, decay, momentum, epsilon: floats, scalar Tensors or callables.
        use_locking: use locks for the update.
        centered: normalise by the estimated variance of the gradient.
        name: the name scope of the update ops and the slots' suffix.
    """

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10, use_locking=False,
                 centered=False, name="RMSProp"):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._decay = decay
        self._momentum = momentum
        self._epsilon = epsilon
        self._centered = centered
        self._learning_rate_tensor = self._decay_tensor = None
        self._momentum_tensor = self._epsilon_tensor = None

    def _create_slots(self, var_list):
        for v in var_list:
            dtype, shape = value_dtype(v), value_shape(v)
            if shape.is_fully_defined():
                init_rms = init_ops.ones_initializer(dtype=dtype)
            else:
                init_rms = array_ops.ones_like(v)
            self._get_or_make_slot_with_initializer(v, init_rms, shape, dtype, "rms",
                                                    self._name)
            if self._centered:
                self._zeros_slot(v, "mg", self._name)
            self._zeros_slot(v, "momentum", self._name)

    def _prepare(self):
        values = [self._call_if_callable(x) for x in (self._learning_rate, self._decay,
                                                       self._momentum, self._epsilon)]
        self._learning_rate_tensor = ops_lib.convert_to_tensor(values[0], name="learning_rate")
        self._decay_tensor = ops_lib.convert_to_tensor(values[1], name="decay")
        self._momentum_tensor = ops_lib.convert_to_tensor(values[2], name="momentum")
        self._epsilon_tensor = ops_lib.convert_to_tensor(values[3], name="epsilon")

    def _hyper(self, dtype):
        dtype = dtype.base_dtype
        lr, rho, momentum, epsilon = [math_ops.cast(t, dtype) for t in (
            self._learning_rate_tensor, self._decay_tensor, self._momentum_tensor,
            self._epsilon_tensor)]
        return dict(lr=lr, rho=rho, momentum=momentum, epsilon=epsilon)

    def _update(self, kind, var, grad, dtype, indices=None, resource=False):
        rms, mom = self.get_slot(var, "rms"), self.get_slot(var, "momentum")
        slot = resource_handle if resource else ref
        args = dict(var=slot(var), ms=slot(rms), mom=slot(mom), **self._hyper(dtype), grad=grad,
                    use_locking=self._use_locking)
        op = "RMSProp"
        if self._centered:
            args["mg"] = slot(self.get_slot(var, "mg"))
            op = "CenteredRMSProp"
        if indices is not None:
            args["indices"] = indices
        return _apply(kind.format(op), **args)

    def _apply_dense(self, grad, var):
        return self._update("Apply{}", var, grad, var.dtype).op

    def _resource_apply_dense(self, grad, var):
        return self._update("ResourceApply{}", var, grad, grad.dtype, resource=True)

    def _apply_sparse(self, grad, var):
        return self._update("SparseApply{}", var, grad.values, var.dtype, indices=grad.indices)

    def _resource_apply_sparse(self, grad, var, indices):
        return self._update("ResourceSparseApply{}", var, grad, grad.dtype, indices=indices,
                            resource=True)
