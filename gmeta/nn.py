"""``gm.nn``: neural-network ops (``tf.compat.v1.nn``)."""

from gmeta.ops.nn_ops import *  # noqa: F401,F403
from gmeta.ops import rnn_cell_impl as rnn_cell  # noqa: F401
from gmeta.ops.rnn import dynamic_rnn  # noqa: F401
from gmeta.ops import math_ops as _m
from gmeta.ops.coverage_ops import (  # noqa: F401
    local_response_normalization, lrn, top_k,
)
from gmeta.ops.embedding_ops import (  # noqa: F401
    embedding_lookup, embedding_lookup_sparse, safe_embedding_lookup_sparse,
)

# Math functions TF also exports under tf.nn.
sigmoid = _m.sigmoid
tanh = _m.tanh
