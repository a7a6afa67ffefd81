"""``tf.compat.v1.assign`` / ``assign_add`` / ``assign_sub``: the module-level updates of a ref
variable (or a ref tensor); a resource variable's own method otherwise, as in TensorFlow."""

from __future__ import annotations

from gmeta.framework import op_def_library


def _ref(ref):
    from gmeta.ops.variables import Variable

    if isinstance(ref, Variable) and not getattr(ref, "_is_resource_variable", False):
        return ref._ref()
    return ref


def _update(op_type, method, ref, value, name, **attrs):
    if getattr(ref, "_is_resource_variable", False):
        return getattr(ref, method)(value, name=name)
    attrs = {k: v for k, v in attrs.items() if v is not None}  # None: the OpDef's default
    return op_def_library.apply_op(op_type, ref=_ref(ref), value=value, name=name or op_type,
                                   **attrs)


def assign(ref, value, validate_shape=None, use_locking=None, name=None):
    """Sets ``ref`` to ``value``; returns the ref, which holds the new value after the run."""
    return _update("Assign", "assign", ref, value, name, validate_shape=validate_shape,
                   use_locking=use_locking)


def assign_add(ref, value, use_locking=None, name=None):
    return _update("AssignAdd", "assign_add", ref, value, name, use_locking=use_locking)


def assign_sub(ref, value, use_locking=None, name=None):
    return _update("AssignSub", "assign_sub", ref, value, name, use_locking=use_locking)
