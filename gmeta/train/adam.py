"""``AdamOptimizer`` (Kingma & Ba): slots ``<var>/Adam`` (m) and ``<var>/Adam_1`` (v), and the
non-slot ``beta1_power``/``beta2_power`` colocated with the first variable by name."""

from __future__ import annotations

from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.ops import control_flow_ops, math_ops
from gmeta.train.optimizer import (
    Optimizer, is_resource_variable, ref, resource_handle, value_dtype,
)

__all__ = ["AdamOptimizer"]

_apply = op_def_library.apply_op


class AdamOptimizer(Optimizer):
    """The Adam algorithm (``tf.compat.v1.train.AdamOptimizer``).

    ``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``; ``m = beta1 * m + (1 - beta1) * g``;
    ``v = beta2 * v + (1 - beta2) * g^2``; ``var -= lr_t * m / (sqrt(v) + epsilon)``. Sparse
    gradients decay all of ``m`` and ``v`` and add the new terms to the gathered rows only.

    Args:
        learning_rate, beta1, beta2, epsilon: floats, scalar Tensors or callables.
        use_locking: use locks for the update.
        name: the name scope of the update ops and the slots' suffix.
        use_own_namescope_for_non_slot_vars: put ``beta1_power``/``beta2_power`` under a root
            variable scope named after the optimizer.
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-08,
                 use_locking=False, name="Adam", use_own_namescope_for_non_slot_vars=False):
        super().__init__(use_locking, name, use_own_namescope_for_non_slot_vars)
        self._lr = learning_rate
        self._beta1 = beta1
        self._beta2 = beta2
        self._epsilon = epsilon
        self._lr_t = self._beta1_t = self._beta2_t = self._epsilon_t = None

    def _get_beta_accumulators(self):
        graph = ops_lib.get_default_graph()
        return (self._get_non_slot_variable("beta1_power", graph=graph),
                self._get_non_slot_variable("beta2_power", graph=graph))

    def _create_slots(self, var_list):
        first_var = min(var_list, key=lambda x: x.name)
        self._create_non_slot_variable(initial_value=self._beta1, name="beta1_power",
                                       colocate_with=first_var)
        self._create_non_slot_variable(initial_value=self._beta2, name="beta2_power",
                                       colocate_with=first_var)
        for v in var_list:
            self._zeros_slot(v, "m", self._name)
            self._zeros_slot(v, "v", self._name)

    def _prepare(self):
        self._lr_t = ops_lib.convert_to_tensor(self._call_if_callable(self._lr),
                                               name="learning_rate")
        self._beta1_t = ops_lib.convert_to_tensor(self._call_if_callable(self._beta1),
                                                  name="beta1")
        self._beta2_t = ops_lib.convert_to_tensor(self._call_if_callable(self._beta2),
                                                  name="beta2")
        self._epsilon_t = ops_lib.convert_to_tensor(self._call_if_callable(self._epsilon),
                                                    name="epsilon")

    def _dense_args(self, dtype):
        dtype = dtype.base_dtype
        beta1_power, beta2_power = self._get_beta_accumulators()
        return [math_ops.cast(t, dtype) for t in (beta1_power, beta2_power, self._lr_t,
                                                  self._beta1_t, self._beta2_t,
                                                  self._epsilon_t)]

    def _apply_dense(self, grad, var):
        m, v = self.get_slot(var, "m"), self.get_slot(var, "v")
        b1p, b2p, lr, b1, b2, eps = self._dense_args(var.dtype)
        return _apply("ApplyAdam", var=ref(var), m=ref(m), v=ref(v), beta1_power=b1p,
                      beta2_power=b2p, lr=lr, beta1=b1, beta2=b2, epsilon=eps, grad=grad,
                      use_locking=self._use_locking).op

    def _resource_apply_dense(self, grad, var):
        m, v = self.get_slot(var, "m"), self.get_slot(var, "v")
        b1p, b2p, lr, b1, b2, eps = self._dense_args(grad.dtype)
        return _apply("ResourceApplyAdam", var=resource_handle(var), m=resource_handle(m),
                      v=resource_handle(v), beta1_power=b1p, beta2_power=b2p, lr=lr, beta1=b1,
                      beta2=b2, epsilon=eps, grad=grad, use_locking=self._use_locking)

    def _apply_sparse_shared(self, grad, var, indices, scatter_add):
        b1p, b2p, lr_t, beta1_t, beta2_t, epsilon_t = self._dense_args(value_dtype(var))
        lr = lr_t * math_ops.sqrt(1 - b2p) / (1 - b1p)
        m = self.get_slot(var, "m")
        m_scaled_g_values = grad * (1 - beta1_t)
        m_t = _assign(m, m * beta1_t, self._use_locking)
        with ops_lib.control_dependencies([m_t]):
            m_t = scatter_add(m, indices, m_scaled_g_values)
        v = self.get_slot(var, "v")
        v_scaled_g_values = grad * grad * (1 - beta2_t)
        v_t = _assign(v, v * beta2_t, self._use_locking)
        with ops_lib.control_dependencies([v_t]):
            v_t = scatter_add(v, indices, v_scaled_g_values)
        v_sqrt = math_ops.sqrt(v_t)
        var_update = _assign_sub(var, lr * m_t / (v_sqrt + epsilon_t), self._use_locking)
        return control_flow_ops.group(*[var_update, m_t, v_t])

    def _apply_sparse(self, grad, var):
        def scatter_add(x, i, v):
            return _apply("ScatterAdd", ref=ref(x), indices=i, updates=v,
                          use_locking=self._use_locking)

        return self._apply_sparse_shared(grad.values, var, grad.indices, scatter_add)

    def _resource_scatter_add(self, x, i, v):
        with ops_lib.control_dependencies([_apply("ResourceScatterAdd",
                                                  resource=resource_handle(x), indices=i,
                                                  updates=v)]):
            return x.value()

    def _resource_apply_sparse(self, grad, var, indices):
        return self._apply_sparse_shared(grad, var, indices, self._resource_scatter_add)

    def _finish(self, update_ops, name_scope):
        with ops_lib.control_dependencies(update_ops):
            beta1_power, beta2_power = self._get_beta_accumulators()
            with ops_lib.colocate_with(beta1_power):
                update_beta1 = _assign(beta1_power, beta1_power * self._beta1_t,
                                       self._use_locking)
                update_beta2 = _assign(beta2_power, beta2_power * self._beta2_t,
                                       self._use_locking)
        return control_flow_ops.group(*update_ops + [update_beta1, update_beta2],
                                      name=name_scope)


def _assign(var, value, use_locking):
    """TF's ``state_ops.assign``: ``Assign`` for ref variables, ``var.assign`` for resource."""
    if is_resource_variable(var):
        return var.assign(value)
    return var.assign(value, use_locking=use_locking)


def _assign_sub(var, value, use_locking):
    if is_resource_variable(var):
        return var.assign_sub(value)
    return var.assign_sub(value, use_locking=use_locking)
