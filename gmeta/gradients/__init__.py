"""Symbolic differentiation: ``gradients`` builds the gradient subgraph TensorFlow 1.x builds.

``gm.gradients(ys, xs)`` walks the ops between ``xs`` and ``ys`` backwards and calls each op
type's registered gradient function, which adds ordinary graph ops (so gradients export, place
and run like any node, and can be differentiated again). The gradient functions mirror TF's
``math_grad.py``, ``array_grad.py`` and ``nn_grad.py`` op for op, so the nodes, names and inputs
match TF's.

Adding a gradient: register a function of the forward op and one gradient per output that
returns one gradient per input (None where none flows)::

    @gm.RegisterGradient("MyOp")
    def _my_op_grad(op, grad):
        return grad * op.outputs[0], None

Ops with no gradient are declared with ``gm.no_gradient("MyOp")``; an op on the path with no
registration at all raises ``LookupError`` naming the op and its type.
"""

from gmeta.gradients._indexed_slices import IndexedSlices
from gmeta.gradients._impl import AggregationMethod, gradients
from gmeta.gradients._registry import (
    NotDifferentiable, RegisterGradient, get_gradient_function, no_gradient,
    not_differentiable_ops, registered_gradients,
)
from gmeta.gradients import array_grad, math_grad, nn_grad, reduction_grad  # noqa: F401,E402
from gmeta.gradients import control_flow_grad, tensor_array_grad  # noqa: F401,E402
from gmeta.gradients import coverage_grad  # noqa: F401,E402
from gmeta.gradients import segment_grad, sparse_grad  # noqa: F401,E402

NoGradient = no_gradient

__all__ = [
    "AggregationMethod", "IndexedSlices", "NoGradient", "NotDifferentiable", "RegisterGradient",
    "get_gradient_function", "gradients", "no_gradient", "not_differentiable_ops",
    "registered_gradients",
]
