"""The OpDefs of TensorFlow's ops: inputs, outputs and attrs with their types and defaults.

``op_defs.binpb`` is a serialized ``OpList`` dumped from TensorFlow 2.21 by
``tools/gen_op_defs.py`` (documentation stripped). It lets gmeta emit complete NodeDefs (every
attr with its default, as TF's C API does), fill ``stripped_op_list`` on export, strip default
attrs, and know the signature of ops it cannot run.
"""

from __future__ import annotations

import os

_OP_DEFS: dict | None = None
_PATH = os.path.join(os.path.dirname(__file__), "op_defs.binpb")


def _load() -> dict:
    global _OP_DEFS
    if _OP_DEFS is None:
        from gmeta.proto import OpList

        op_list = OpList()
        with open(_PATH, "rb") as f:
            op_list.ParseFromString(f.read())
        _OP_DEFS = {op.name: op for op in op_list.op}
    return _OP_DEFS


def get(op_type: str):
    """The OpDef registered for ``op_type``, or None."""
    return _load().get(op_type)


def register(op_def) -> None:
    """Adds or replaces an OpDef (for custom ops gmeta users define)."""
    _load()[op_def.name] = op_def


def all_op_types() -> list[str]:
    return sorted(_load())
