"""Static shapes (TF's C++ shape functions) of the op-coverage set: ``LRN``/``LRNGrad``,
``Einsum``, ``ResizeBilinear``/``ResizeBilinearGrad``, ``SparseToDense``, ``TopKV2``,
``DynamicPartition`` and ``Unique``."""

from __future__ import annotations

from gmeta.framework import shape_inference as si
from gmeta.framework.shape_inference import constant_value, constant_value_as_shape
from gmeta.framework.tensor_shape import TensorShape


def _with_rank(shape, rank, what):
    if shape.ndims is None:
        return TensorShape([None] * rank)
    if shape.ndims != rank:
        raise ValueError(f"Shape must be rank {rank} but is rank {shape.ndims} for {what}")
    return shape


@si.register("LRN")
def _lrn(op):
    return [_with_rank(op.inputs[0].shape, 4, "LRN input")]


@si.register("LRNGrad")
def _lrn_grad(op):
    s = _with_rank(op.inputs[0].shape, 4, "LRNGrad input_grads")
    for t in op.inputs[1:]:
        s = s.merge_with(_with_rank(t.shape, 4, "LRNGrad"))
    return [s]


@si.register("ResizeBilinear")
def _resize(op):
    images = _with_rank(op.inputs[0].shape, 4, "ResizeBilinear images")
    size = constant_value(op.inputs[1])
    hw = [None, None] if size is None else [int(v) for v in size.reshape(-1)]
    dims = list(images)
    return [[dims[0], hw[0], hw[1], dims[3]]]


@si.register("ResizeBilinearGrad")
def _resize_grad(op):
    _with_rank(op.inputs[0].shape, 4, "ResizeBilinearGrad grads")
    return [_with_rank(op.inputs[1].shape, 4, "ResizeBilinearGrad original_image")]


@si.register("SparseToDense")
def _sparse_to_dense(op):
    return [constant_value_as_shape(op.inputs[1])]


@si.register("TopKV2", "TopK")
def _top_k(op):
    x = op.inputs[0].shape
    if op.type == "TopK":
        k = op._attr("k")
    else:
        value = constant_value(op.inputs[1])
        k = None if value is None else int(value)
    if x.ndims is None:
        return [TensorShape(None)] * 2
    if x.ndims < 1:
        raise ValueError(f"Shape must be at least rank 1 but is rank {x.ndims}")
    last = list(x)[-1]
    if last is not None and k is not None and last < k:
        raise ValueError(f"input must have last dimension >= k = {k} but is {last}")
    out = list(x)[:-1] + [k]
    return [out, out]


@si.register("DynamicPartition")
def _dynamic_partition(op):
    data, parts = op.inputs[0].shape, op.inputs[1].shape
    n = op._attr("num_partitions")
    if data.ndims is None or parts.ndims is None:
        return [TensorShape(None)] * n
    return [[None] + list(data)[parts.ndims:]] * n


@si.register("Unique")
def _unique(op):
    x = _with_rank(op.inputs[0].shape, 1, "Unique x")
    return [[None], x]


@si.register("Einsum")
def _einsum(op):
    eq = op._attr("equation")
    eq = eq.decode() if isinstance(eq, bytes) else eq
    lhs, out = eq.split("->")
    sizes: dict = {}
    batch = None
    for sub, t in zip(lhs.split(","), op.inputs):
        s = t.shape
        if s.ndims is None:
            return [TensorShape(None)]
        dims = list(s)
        if "..." in sub:
            head, tail = sub.split("...")
            nb = len(dims) - len(head) - len(tail)
            labels = list(head) + [None] * nb + list(tail)
            bdims = dims[len(head):len(head) + nb]
            batch = bdims if batch is None else list(si.broadcast_shapes(batch, bdims))
        else:
            labels = list(sub)
        if len(labels) != len(dims):
            raise ValueError(f"Einsum: input rank {len(dims)} does not match subscripts {sub!r}")
        for c, d in zip(labels, dims):
            if c is None:
                continue
            old = sizes.get(c)
            v = d
            if old is None or old == 1:
                sizes[c] = v if old is None or v is not None else old
            elif v is not None and v != 1 and v != old:
                raise ValueError(f"Einsum: dimension {c!r} is {old} and {v}")
    result = []
    head, _, tail = out.partition("...")
    result += [sizes.get(c) for c in head]
    if "..." in out:
        result += list(batch or [])
    result += [sizes.get(c) for c in tail]
    return [result]
