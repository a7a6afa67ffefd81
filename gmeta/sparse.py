"""``gm.sparse`` (tf.compat.v1.sparse): SparseTensor and the sparse ops gmeta builds, under their
tf.sparse names."""

from gmeta.framework.sparse_tensor import SparseTensor  # noqa: F401
from gmeta.ops.embedding_ops import (  # noqa: F401
    sparse_segment_mean as segment_mean, sparse_segment_sqrt_n as segment_sqrt_n,
    sparse_segment_sum as segment_sum,
)
from gmeta.ops.sparse_ops import (  # noqa: F401
    sparse_fill_empty_rows as fill_empty_rows, sparse_reshape as reshape,
    sparse_retain as retain,
)

__all__ = ["SparseTensor", "fill_empty_rows", "reshape", "retain", "segment_mean",
           "segment_sqrt_n", "segment_sum"]
