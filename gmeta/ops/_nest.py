"""Nested structures of tensors, as TF's ``nest``: lists, tuples, namedtuples and dicts (by
sorted key) around leaves."""

from __future__ import annotations


def flatten(x) -> list:
    """The leaves of ``x`` in order (a dict's by sorted key)."""
    if isinstance(x, (list, tuple)):
        out = []
        for v in x:
            out.extend(flatten(v))
        return out
    if isinstance(x, dict):
        out = []
        for k in sorted(x):
            out.extend(flatten(x[k]))
        return out
    return [x]


def pack_sequence_as(structure, flat):
    """``flat`` (leaves in :func:`flatten` order) put back into the shape of ``structure``."""
    it = iter(flat)

    def pack(s):
        if isinstance(s, (list, tuple)):
            vals = [pack(v) for v in s]
            if isinstance(s, tuple) and hasattr(s, "_fields"):
                return type(s)(*vals)
            return type(s)(vals)
        if isinstance(s, dict):
            return {k: pack(s[k]) for k in sorted(s)}
        return next(it)

    return pack(structure)
