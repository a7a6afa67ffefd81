"""Static shapes (TF's C++ shape functions) of the sorted segment reductions the embedding
builders use: ``SegmentSum``, ``SparseSegment{Sum,Mean,SqrtN}`` (and ``...WithNumSegments``)
and their gradients ``SparseSegment{Sum,Mean,SqrtN}Grad`` / ``...GradV2``."""

from __future__ import annotations

from gmeta.framework import shape_inference as si
from gmeta.framework.shape_inference import constant_value
from gmeta.framework.tensor_shape import TensorShape


def _rank(shape, rank, what):
    if shape.ndims is not None and shape.ndims != rank:
        raise ValueError(f"Shape must be rank {rank} but is rank {shape.ndims} for {what}")
    return shape.with_rank(rank)


def _rank_at_least(shape, rank, what):
    if shape.ndims is not None and shape.ndims < rank:
        raise ValueError(f"Shape must be at least rank {rank} but is rank {shape.ndims} for "
                         f"{what}")
    return shape


def _merge_vectors(a, b):
    x, y = a[0], b[0]
    if x is not None and y is not None and x != y:
        raise ValueError(f"Dimension 0 in both shapes must be equal, but are {x} and {y}. "
                         f"Shapes are [{x}] and [{y}].")
    return x if x is not None else y


def _tail(shape):
    return None if shape.ndims is None else list(shape)[1:]


def _scalar_value(op, i, what):
    _rank(op.inputs[i].shape, 0, what)
    value = constant_value(op.inputs[i])
    return None if value is None else int(value)


def _sparse_segment_inputs(op, first):
    """Input 0 (named ``first`` in errors) at least a vector, indices and segment_ids vectors of
    one length; returns input 0's shape."""
    data = _rank_at_least(op.inputs[0].shape, 1, f"{op.type} {first}")
    idx = _rank(op.inputs[1].shape, 1, f"{op.type} indices")
    seg = _rank(op.inputs[2].shape, 1, f"{op.type} segment_ids")
    _merge_vectors(idx, seg)
    return data


def _size_input(op, what):
    """Input 3, a scalar dimension size when known (must not be negative)."""
    value = _scalar_value(op, 3, f"{op.type} {what}")
    if value is not None and value < 0:
        raise ValueError(f"Dimension size, given by scalar input 3, must be non-negative but "
                         f"is {value}")
    return value


@si.register("SegmentSum", "SegmentMean", "SegmentMax", "SegmentMin", "SegmentProd")
def _segment(op):
    data = _rank_at_least(op.inputs[0].shape, 1, f"{op.type} data")
    _rank(op.inputs[1].shape, 1, f"{op.type} segment_ids")
    tail = _tail(data)
    return [TensorShape(None) if tail is None else [None] + tail]


@si.register("SparseSegmentSum", "SparseSegmentMean", "SparseSegmentSqrtN",
             "SparseSegmentSumWithNumSegments", "SparseSegmentMeanWithNumSegments",
             "SparseSegmentSqrtNWithNumSegments")
def _sparse_segment(op):
    data = _sparse_segment_inputs(op, "data")
    head = _size_input(op, "num_segments") if op.type.endswith("WithNumSegments") else None
    tail = _tail(data)
    return [TensorShape(None) if tail is None else [head] + tail]


@si.register("SparseSegmentSumGrad", "SparseSegmentMeanGrad", "SparseSegmentSqrtNGrad")
def _sparse_segment_grad(op):
    grad = _sparse_segment_inputs(op, "grad")
    dim0 = _size_input(op, "output_dim0")
    tail = _tail(grad)
    return [TensorShape(None) if tail is None else [dim0] + tail]


@si.register("SparseSegmentSumGradV2", "SparseSegmentMeanGradV2", "SparseSegmentSqrtNGradV2")
def _sparse_segment_grad_v2(op):
    grad = _sparse_segment_inputs(op, "grad")
    _rank(op.inputs[3].shape, 0, f"{op.type} dense_output_dim0")
    tail = _tail(grad)
    return [TensorShape(None) if tail is None else [None] + tail, [None]]
