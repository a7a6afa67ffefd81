"""``gm.math`` (tf.compat.v1.math): the math builders under their tf.math names."""

from gmeta.ops.math_ops import *  # noqa: F401,F403
from gmeta.ops.math_ops import __all__ as _all
from gmeta.ops.coverage_ops import top_k, unsorted_segment_sum  # noqa: F401
from gmeta.ops.embedding_ops import segment_sum  # noqa: F401

__all__ = list(_all) + ["segment_sum", "top_k", "unsorted_segment_sum"]
