"""``gm.constant``: a ``Const`` node whose value is encoded as TensorFlow encodes it."""

from __future__ import annotations

from gmeta import dtypes
from gmeta.framework import ops as ops_lib
from gmeta.framework import tensor_util
from gmeta.framework.attr_value import make_attr_value


def constant(value, dtype=None, shape=None, name="Const", verify_shape=False):
    """Creates a constant tensor (``tf.compat.v1.constant``).

    A scalar ``value`` with a ``shape`` fills the shape; a shorter list repeats its last element.

    >>> import gmeta as gm
    >>> with gm.Graph().as_default():
    ...     c = gm.constant([1.0, 2.0], name="c")
    >>> c.dtype.name, c.shape.as_list()
    ('float32', [2])
    """
    return _constant(value, dtype, shape, name, verify_shape, allow_broadcast=False)


def _constant(value, dtype, shape, name, verify_shape, allow_broadcast):
    g = ops_lib.get_default_graph()
    if isinstance(value, ops_lib.Tensor):
        raise TypeError(f"constant() expects a Python or numpy value, not the Tensor "
                        f"{value.name!r}; use gm.identity or gm.cast instead")
    try:
        proto = tensor_util.make_tensor_proto(value, dtype=dtype, shape=shape,
                                              verify_shape=verify_shape,
                                              allow_broadcast=allow_broadcast)
    except (TypeError, ValueError) as e:
        where = f" for constant {name!r}" if name else ""
        raise type(e)(f"{e}{where}") from None
    dtype_value = dtypes.as_dtype(proto.dtype)
    attrs = {"value": make_attr_value("tensor", proto),
             "dtype": make_attr_value("type", dtype_value)}
    from gmeta.framework import op_def_registry

    op = g._create_op_internal("Const", [], [dtype_value], name=name, attrs=attrs,
                               op_def=op_def_registry.get("Const"))
    return op.outputs[0]
