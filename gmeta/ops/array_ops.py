"""Array builders: placeholders, identity, zeros/ones, reshape, concat, gather, slicing, ..."""

from __future__ import annotations

import numpy as np

from gmeta import dtypes
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework.tensor_shape import as_shape
from gmeta.ops import constant_op


def placeholder(dtype, shape=None, name=None):
    """A value that must be fed to ``Session.run`` (``tf.compat.v1.placeholder``)."""
    shape = as_shape(shape)
    return op_def_library.apply_op("Placeholder", dtype=dtypes.as_dtype(dtype), shape=shape,
                                   name=name)


def placeholder_with_default(input, shape, name=None):  # noqa: A002 - TF's argument name
    return op_def_library.apply_op("PlaceholderWithDefault", input=input, shape=as_shape(shape),
                                   name=name)


def identity(input, name=None):  # noqa: A002
    return op_def_library.apply_op("Identity", input=input, name=name)


def zeros(shape, dtype=dtypes.float32, name=None):
    dtype = dtypes.as_dtype(dtype).base_dtype
    with ops_lib.name_scope_v1(name, "zeros", [shape]) as scope:
        zero = "" if dtype == dtypes.string else (False if dtype == dtypes.bool else 0)
        if not isinstance(shape, ops_lib.Tensor):
            dims = as_shape(shape).as_list() if not isinstance(shape, (int, np.integer)) else [shape]
            if int(np.prod(dims)) < 1000:
                return constant_op.constant(zero, dtype=dtype, shape=dims, name=scope)
        raise NotImplementedError("zeros of large or dynamic shape needs Fill")


def _autopacking(values, dtype, name):
    raise NotImplementedError("packing lists of tensors needs array_ops.stack")
