"""Static shapes of the ops gradient graphs use (ReluGrad, BiasAddGrad, BroadcastGradientArgs,
UnsortedSegmentSum, ...), so gradients built by ``gm.gradients`` carry TF's static shapes."""

from __future__ import annotations

from gmeta.framework import shape_inference as si
from gmeta.framework.shape_inference import constant_value, constant_value_as_shape
from gmeta.framework.tensor_shape import TensorShape


# TF: the cwise math gradients keep input 0's shape (their inputs need only the same size)...
si.register("TanhGrad", "SigmoidGrad", "SqrtGrad", "RsqrtGrad", "ReciprocalGrad", "InvGrad")(
    si.unchanged_shape)


# ... while the activation gradients merge the shapes of both inputs.
@si.register("ReluGrad", "Relu6Grad", "EluGrad", "SeluGrad", "SoftplusGrad", "SoftsignGrad",
             "LeakyReluGrad")
def _elementwise_grad(op):
    a, b = op.inputs[0].shape, op.inputs[1].shape
    try:
        return [a.merge_with(b)]
    except ValueError:
        raise ValueError(f"Incompatible shapes {a} and {b} for {op.type}") from None


@si.register("BiasAddGrad")
def _bias_add_grad(op):
    shape = op.inputs[0].shape
    if shape.ndims is None:
        return [[None]]
    nchw = op._attr("data_format", b"NHWC") == b"NCHW"
    return [[shape[1] if nchw and shape.ndims > 2 else shape[-1]]]


@si.register("BroadcastGradientArgs", "ListDiff")
def _two_vectors(op):
    return [[None], [None]]


@si.register("ConcatOffset")
def _concat_offset(op):
    return [t.shape for t in op.inputs[1:]]


@si.register("InvertPermutation", "IdentityN")
def _same_as_inputs(op):
    return [t.shape for t in op.inputs][:len(op.outputs)]


@si.register("UnsortedSegmentSum", "UnsortedSegmentMax", "UnsortedSegmentMin",
             "UnsortedSegmentProd")
def _unsorted_segment(op):
    data, ids = op.inputs[0].shape, op.inputs[1].shape
    n = constant_value(op.inputs[2])
    head = [None if n is None else int(n)]
    if data.ndims is None or ids.ndims is None:
        return [TensorShape(None)]
    return [head + list(data)[ids.ndims:]]


@si.register("StridedSliceGrad", "ScatterNd")
def _shape_from_input(op):
    index = 0 if op.type == "StridedSliceGrad" else 2
    return [constant_value_as_shape(op.inputs[index])]


@si.register("DynamicStitch", "ParallelDynamicStitch")
def _dynamic_stitch(op):
    n = len(op.inputs) // 2
    data = op.inputs[n].shape
    idx = op.inputs[0].shape
    if data.ndims is None or idx.ndims is None:
        return [TensorShape(None)]
    # TF: when every indices input is a constant, the first dimension is their max + 1.
    values = [constant_value(t) for t in op.inputs[:n]]
    first = None
    if all(v is not None for v in values):
        first = max([int(v.max()) for v in values if v.size] + [-1]) + 1
    return [[first] + list(data)[idx.ndims:]]


@si.register("Complex")
def _complex_shape(op):
    return [si.broadcast_shapes(op.inputs[0].shape, op.inputs[1].shape)]
