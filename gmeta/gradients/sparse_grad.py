"""The gradient of ``SparseFillEmptyRows`` as TF's sparse_grad.py builds it: the values'
gradient gathered back through ``reverse_index_map`` and the default value's the sum of the rest
(one ``SparseFillEmptyRowsGrad``). TF registers nothing for ``SparseReshape``: only its int64
outputs exist, which the walk never reaches.
"""

from __future__ import annotations

from gmeta.gradients._registry import RegisterGradient
from gmeta.gradients._util import apply_op
from gmeta.ops import _sparse_shapes  # noqa: F401 - registers the shape functions


@RegisterGradient("SparseFillEmptyRows")
def _sparse_fill_empty_rows_grad(op, unused_grad_output_indices, output_grad_values,
                                 unused_grad_empty_row_indicator,
                                 unused_grad_reverse_index_map):
    d_values, d_default_value = apply_op("SparseFillEmptyRowsGrad",
                                         reverse_index_map=op.outputs[3],
                                         grad_values=output_grad_values)
    return [None, d_values, None, d_default_value]
