"""Numeric checks: ``check_numerics`` and ``add_check_numerics_ops`` (TF1's opt-in NaN/Inf
guard: a training step that produces a NaN stops with an error naming the tensor)."""

from __future__ import annotations

from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib

__all__ = ["add_check_numerics_ops", "check_numerics", "verify_tensor_all_finite"]


def check_numerics(tensor, message, name=None):
    """``tensor`` unchanged, or an InvalidArgumentError at run time if it holds NaN or Inf."""
    return op_def_library.apply_op("CheckNumerics", tensor=tensor, message=message, name=name)


def verify_tensor_all_finite(t, msg, name=None):
    with ops_lib.name_scope_v1(name, "VerifyFinite", [t]) as scope:
        t = ops_lib.convert_to_tensor(t, name="t")
        with ops_lib.get_default_graph().colocate_with(t.op):
            verify = check_numerics(t, message=msg)
        from gmeta.ops import control_flow_ops

        return control_flow_ops.with_dependencies([verify], t, name=scope)


def add_check_numerics_ops():
    """One op that checks every floating-point output in the default graph (TF's
    ``add_check_numerics_ops``): run it with the train op to stop at the first NaN or Inf."""
    g = ops_lib.get_default_graph()
    check = []  # each check runs after the previous one, as TF chains them
    for op in g.get_operations():
        for output in op.outputs:
            if output.dtype.base_dtype.is_floating and not output.dtype.is_ref_dtype:
                with g.control_dependencies(check):
                    check = [check_numerics(output, message=f"{op.name}:{output.value_index}")]
    from gmeta.ops import control_flow_ops

    return control_flow_ops.group(*check)


from gmeta.framework import shape_inference as _si  # noqa: E402

_si.register("CheckNumerics", "CheckNumericsV2")(_si.unchanged_shape)
