"""``gm.math`` (tf.compat.v1.math): the math builders under their tf.math names."""

from gmeta.ops.math_ops import *  # noqa: F401,F403
from gmeta.ops.math_ops import __all__ as _all

__all__ = list(_all)
