"""Kernels of reference variables: VariableV2, Assign, AssignAdd/Sub, IsVariableInitialized.

A ref variable's output is a :class:`VarRef` held in the Session's state, so every plan of that
Session sees the same storage. The executor reads a ref through :func:`read_ref` where an op
takes the value (not the ref), raising TF's FailedPreconditionError when it is uninitialised.
"""

from __future__ import annotations

import numpy as np

from gmeta import errors
from gmeta.kernels import is_cupy, kernel
from gmeta.kernels.array import take_unchecked


class VarRef:
    """The storage of one ref variable in one Session."""

    __slots__ = ("name", "value", "dtype", "shape")

    def __init__(self, name, dtype, shape):
        self.name = name
        self.value = None
        self.dtype = dtype
        self.shape = shape

    def __repr__(self):
        state = "uninitialized" if self.value is None else f"shape={self.value.shape}"
        return f"<VarRef {self.name} {state}>"


def read_ref(ref: VarRef, consumer):
    value = ref.value
    if value is None:
        raise errors.FailedPreconditionError(
            None, consumer, f"Attempting to use uninitialized value {ref.name} (read by node "
                            f"'{consumer.name}'). Run the variable's initializer first, e.g. "
                            "sess.run(gm.global_variables_initializer()).")
    return value


@kernel("VariableV2", "Variable")
def _variable(ctx):
    shared = ctx.attr("shared_name", b"").decode() or ctx.name
    container = ctx.attr("container", b"").decode()
    key = (container, shared)
    refs = ctx.state.variables
    ref = refs.get(key)
    if ref is None:
        ref = refs[key] = VarRef(ctx.name, ctx.output_dtypes[0], ctx.attr("shape"))
    return lambda: ref


def _assign_value(ctx, op_name, ref, value, validate):
    if validate and ref.value is not None and ref.value.shape != value.shape:
        raise errors.InvalidArgumentError(
            None, ctx.op, f"Assign requires shapes of both tensors to match. lhs shape= "
                          f"{list(ref.value.shape)} rhs shape= {list(value.shape)} (node "
                          f"'{op_name}', variable '{ref.name}')")
    if validate and ref.value is None and ref.shape is not None and ref.shape.ndims is not None:
        if not ref.shape.is_compatible_with(value.shape):
            raise errors.InvalidArgumentError(
                None, ctx.op, f"Assign requires shapes of both tensors to match. lhs shape= "
                              f"{ref.shape.as_list()} rhs shape= {list(value.shape)} (node "
                              f"'{op_name}', variable '{ref.name}')")


@kernel("Assign")
def _assign(ctx):
    validate = ctx.attr("validate_shape", True)
    name = ctx.name
    xp = ctx.xp

    def run(ref, value):
        _assign_value(ctx, name, ref, value, validate)
        ref.value = xp.array(value, copy=True)
        return ref

    return run


def _update(ctx, fn):
    name = ctx.name

    def run(ref, value):
        current = read_ref(ref, ctx.op)
        if current.shape != value.shape:
            raise errors.InvalidArgumentError(
                None, ctx.op, f"{ctx.type} requires shapes of both tensors to match. lhs shape= "
                              f"{list(current.shape)} rhs shape= {list(value.shape)} (node "
                              f"'{name}')")
        ref.value = fn(current, value).astype(current.dtype, copy=False)
        return ref

    return run


@kernel("AssignAdd")
def _assign_add(ctx):
    return _update(ctx, lambda a, b: a + b)


@kernel("AssignSub")
def _assign_sub(ctx):
    return _update(ctx, lambda a, b: a - b)


@kernel("IsVariableInitialized")
def _is_initialized(ctx):
    return lambda ref: np.bool_(ref.value is not None)


# -- resource variables: a handle is the VarRef itself --------------------------------------------
@kernel("VarHandleOp")
def _var_handle(ctx):
    shared = ctx.attr("shared_name", b"").decode() or ctx.name
    key = (ctx.attr("container", b"").decode(), shared)
    refs = ctx.state.variables
    ref = refs.get(key)
    if ref is None:
        ref = refs[key] = VarRef(ctx.name, ctx.attr("dtype"), ctx.attr("shape"))
    return lambda: ref


@kernel("ReadVariableOp")
def _read_variable(ctx):
    op = ctx.op
    return lambda ref: read_ref(ref, op)


@kernel("AssignVariableOp")
def _assign_variable(ctx):
    xp = ctx.xp
    op = ctx.op
    validate = ctx.attr("validate_shape", False)

    def run(ref, value):
        if validate:
            _assign_value(ctx, op.name, ref, value, True)
        ref.value = xp.array(value, copy=True)
        return None

    return run


@kernel("AssignAddVariableOp", "AssignSubVariableOp")
def _assign_update_variable(ctx):
    update = _update(ctx, (lambda a, b: a + b) if ctx.type == "AssignAddVariableOp"
                     else (lambda a, b: a - b))
    return lambda ref, value: (update(ref, value), None)[1]


@kernel("VarIsInitializedOp")
def _var_is_initialized(ctx):
    return lambda ref: np.bool_(ref.value is not None)


@kernel("DestroyResourceOp")
def _destroy_resource(ctx):
    def run(ref):
        ref.value = None

    return run


@kernel("ResourceGather")
def _resource_gather(ctx):
    xp = ctx.xp
    op = ctx.op
    batch_dims = ctx.attr("batch_dims", 0)
    if batch_dims:
        raise errors.UnimplementedError(None, op, f"ResourceGather with batch_dims={batch_dims} "
                                                  f"(node '{op.name}') is not supported yet")

    device = is_cupy(xp)

    def run(ref, indices):
        params = read_ref(ref, op)
        n = params.shape[0]
        idx = xp.asarray(indices)
        if device and idx.size:  # TF's GPU kernel: zeros for an out-of-range index, no check
            return take_unchecked(xp, params, idx)
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
            bad = int(idx[(idx < 0) | (idx >= n)].ravel()[0])
            raise errors.InvalidArgumentError(None, op, f"indices = {bad} is not in [0, {n}) "
                                                        f"(node '{op.name}', variable "
                                                        f"'{ref.name}')")
        return xp.take(params, idx, axis=0)

    return run


@kernel("VariableShape")
def _variable_shape(ctx):
    op = ctx.op
    dtype = ctx.output_np_dtype()
    return lambda ref: np.asarray(read_ref(ref, op).shape, dtype=dtype)
