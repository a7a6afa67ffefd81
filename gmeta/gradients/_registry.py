"""The gradient registry: one gradient function (or "not differentiable") per op type.

Keys are TF's ``OpDef.name`` strings, as ``NodeDef.op`` holds them. A gradient function takes
the forward :class:`~gmeta.framework.ops.Operation` and one gradient per output, and returns
one gradient per input (``None`` where no gradient flows), built from ordinary graph ops.
"""

from __future__ import annotations

import sys
from typing import Callable, NamedTuple, Optional


class _Entry(NamedTuple):
    fn: Optional[Callable]  # None: registered as not differentiable
    site: str


_REGISTRY: dict[str, _Entry] = {}


def _register(op_type: str, fn: Optional[Callable], site: str) -> None:
    if not isinstance(op_type, str):
        raise TypeError(f"op_type must be a string, not {type(op_type).__name__}")
    old = _REGISTRY.get(op_type)
    if old is not None:
        raise KeyError(f"Registering two gradients for op type {op_type!r}: first at {old.site}, "
                       f"again at {site}")
    _REGISTRY[op_type] = _Entry(fn, site)


def _function_site(fn) -> str:
    code = getattr(fn, "__code__", None)
    if code is None:
        return repr(fn)
    return f"{code.co_filename}:{code.co_firstlineno} ({getattr(fn, '__name__', '?')})"


class RegisterGradient:
    """Decorator registering the gradient function of an op type (``tf.RegisterGradient``).

    For an op with ``m`` inputs and ``n`` outputs, the function takes the Operation and ``n``
    gradients (one per output; ``None`` for outputs nothing depends on, except trainable outputs,
    which get zeros) and returns ``m`` gradients, ``None`` where none flows::

        @gm.RegisterGradient("Sub")
        def _sub_grad(op, grad):
            return grad, gm.negative(grad)

    Registering an op type twice raises ``KeyError`` naming both definition sites.
    """

    __slots__ = ("_op_type",)

    def __init__(self, op_type: str):
        if not isinstance(op_type, str):
            raise TypeError("op_type must be a string")
        self._op_type = op_type

    def __call__(self, fn: Callable) -> Callable:
        _register(self._op_type, fn, _function_site(fn))
        return fn


def no_gradient(op_type: str) -> None:
    """Declares ops of type ``op_type`` not differentiable (``tf.no_gradient``).

    Gradients stop at such ops without error (``Shape``, ``Size``, comparisons, ...). Use it only
    for ops that truly have no gradient, not for a gradient that is merely missing: a missing one
    raises ``LookupError`` when ``gradients`` needs it.

    Raises:
        TypeError: ``op_type`` is not a string.
        KeyError: ``op_type`` already has a registration.
    """
    frame = sys._getframe(1)
    _register(op_type, None, f"{frame.f_code.co_filename}:{frame.f_lineno} (no_gradient)")


NotDifferentiable = no_gradient


def lookup(op_type: str) -> Optional[Callable]:
    """The gradient function of ``op_type``; None if it is registered as not differentiable.

    Raises:
        LookupError: nothing is registered for ``op_type``.
    """
    try:
        return _REGISTRY[op_type].fn
    except KeyError:
        raise LookupError(f"gradient registry has no entry for: {op_type}") from None


def gradient_op_type(op) -> str:
    """The op type whose gradient ``op`` uses: its ``_gradient_op_type`` attr (which
    ``Graph.gradient_override_map`` sets on ops it creates), else its own type."""
    av = op.node_def_attrs.get("_gradient_op_type")
    if av is not None and av.s:
        return av.s.decode()
    return op.type


def get_gradient_function(op) -> Optional[Callable]:
    """The function computing ``op``'s input gradients (TF's ``ops.get_gradient_function``).

    Ops without inputs get None. The ``_gradient_op_type`` attr set through
    ``Graph.gradient_override_map`` picks another registered op type's gradient.

    Raises:
        LookupError: nothing is registered for the op type.
    """
    if not op.inputs:
        return None
    return lookup(gradient_op_type(op))


def registered_gradients() -> dict[str, Callable]:
    """Op type -> gradient function, for every op type with one (not the non-differentiable)."""
    return {k: e.fn for k, e in _REGISTRY.items() if e.fn is not None}


def not_differentiable_ops() -> list[str]:
    """The op types registered as not differentiable, sorted."""
    return sorted(k for k, e in _REGISTRY.items() if e.fn is None)
