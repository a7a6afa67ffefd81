"""Gradients of the sorted segment reductions, op for op as TF's math_grad.py builds them:
``SegmentSum`` (a ``gather`` of the gradient by segment id) and ``SparseSegment{Sum,Mean,SqrtN}``
(with or without ``WithNumSegments``): a dense ``SparseSegment<X>Grad`` with ``shape(data)[0]``
rows, or, when the forward op has ``sparse_gradient=True`` (``embedding_lookup_sparse``'s fast
path), an ``IndexedSlices`` of ``SparseSegment<X>GradV2`` (one row per distinct index).

The ``...Grad`` / ``...GradV2`` ops themselves have no gradient in TF either.
"""

from __future__ import annotations

from gmeta.gradients._indexed_slices import IndexedSlices
from gmeta.gradients._registry import RegisterGradient
from gmeta.gradients._util import apply_op
from gmeta.ops import _segment_shapes  # noqa: F401 - registers the shape functions
from gmeta.ops import array_ops

_SUFFIX = {None: "Sum", "mean": "Mean", "sqrtn": "SqrtN"}


@RegisterGradient("SegmentSum")
def _segment_sum_grad(op, grad):
    return array_ops.gather(grad, op.inputs[1]), None


def _attr_or_none(op, name):
    try:
        return op.get_attr(name)
    except ValueError:
        return None


def _sparse_segment_reduce_grad_v2(op, grad, norm):
    """TF's ``_SparseSegmentReduceGradV2``: the IndexedSlices gradient of ``data``."""
    indices, segment_ids = op.inputs[1], op.inputs[2]
    data_shape = array_ops.shape(op.inputs[0])
    dense_output_dim0 = data_shape[0]
    values, unique_indices = apply_op(f"SparseSegment{_SUFFIX[norm]}GradV2", grad=grad,
                                      indices=indices, segment_ids=segment_ids,
                                      dense_output_dim0=dense_output_dim0)
    return IndexedSlices(values, unique_indices, data_shape)


def _sparse_segment_grad(norm, n_inputs):
    def grad_fn(op, grad):
        nones = [None] * (n_inputs - 1)
        if _attr_or_none(op, "sparse_gradient"):
            return [_sparse_segment_reduce_grad_v2(op, grad, norm)] + nones
        dim0 = array_ops.shape(op.inputs[0])[0]
        return [apply_op(f"SparseSegment{_SUFFIX[norm]}Grad", grad=grad, indices=op.inputs[1],
                         segment_ids=op.inputs[2], output_dim0=dim0)] + nones

    return grad_fn


for _norm, _suffix in _SUFFIX.items():
    RegisterGradient(f"SparseSegment{_suffix}")(_sparse_segment_grad(_norm, 3))
    RegisterGradient(f"SparseSegment{_suffix}WithNumSegments")(_sparse_segment_grad(_norm, 4))
