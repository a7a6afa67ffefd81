"""Grouping and ordering: ``no_op``, ``group``, ``tuple``, ``with_dependencies``."""

from __future__ import annotations

from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib


def no_op(name=None):
    return op_def_library.apply_op("NoOp", name=name)


def _group_on_device(dev, deps, name=None):
    g = ops_lib.get_default_graph()
    with g.control_dependencies(deps):
        if dev is None:
            return no_op(name=name)
        with g.device(dev):
            return no_op(name=name)


def group(*inputs, name=None):
    """One ``NoOp`` that runs after all of ``inputs`` (TF's device-grouped tree of NoOps)."""
    with ops_lib.name_scope_v1(name, "group_deps", list(inputs)) as scope:
        if not inputs:
            return no_op(name=scope)
        by_device: dict = {}
        operation = ops_lib.Operation
        for inp in _flatten(inputs):
            if inp.__class__ is operation:
                op = inp
            else:
                if hasattr(inp, "_as_graph_element_for_control"):
                    inp = inp._as_graph_element_for_control()
                op = inp if isinstance(inp, operation) else getattr(inp, "op", None)
                if not isinstance(op, operation):
                    raise TypeError(f"'{inp!r}' is not an Operation, Tensor or Variable and "
                                    "cannot be grouped")
            deps = by_device.get(op._device)
            if deps is None:
                by_device[op._device] = [op]
            else:
                deps.append(op)
        if len(by_device) == 1:
            (dev, deps), = by_device.items()
            return _group_on_device(dev, deps, name=scope)
        deps = [_group_on_device(dev, by_device[dev]) for dev in sorted(by_device)]
        g = ops_lib.get_default_graph()
        with g.control_dependencies(deps):
            return no_op(name=scope)


def _flatten(items) -> list:
    out = []
    for x in items:
        if isinstance(x, (list, tuple)):
            out.extend(_flatten(x))
        elif isinstance(x, dict):
            out.extend(_flatten(list(x.values())))
        elif x is not None:
            out.append(x)
    return out


def with_dependencies(dependencies, output_tensor, name=None):
    """``output_tensor`` passed through an Identity that runs after ``dependencies``."""
    with ops_lib.name_scope_v1(name, "control_dependency", list(dependencies) + [output_tensor]) \
            as scope:
        g = ops_lib.get_default_graph()
        with g.colocate_with(output_tensor.op):
            with g.control_dependencies(dependencies):
                t = ops_lib.convert_to_tensor(output_tensor)
                return op_def_library.apply_op("Identity", input=t, name=scope)


def tuple_(tensors, name=None, control_inputs=None):
    """Tensors equal to ``tensors``, each available only after all of them are computed."""
    with ops_lib.name_scope_v1(name, "tuple", tensors):
        gating = [t.op for t in tensors if t is not None]
        if control_inputs:
            gating.extend(c if isinstance(c, ops_lib.Operation) else c.op for c in control_inputs)
        gate = group(*gating)
        return [None if t is None else with_dependencies([gate], t) for t in tensors]
