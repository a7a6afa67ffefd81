"""Builders of the op-coverage set, as ``tf.compat.v1`` builds them: ``nn.lrn`` /
``nn.local_response_normalization``, ``nn.top_k``, ``einsum``, ``image.resize_bilinear``,
``sparse_to_dense``, ``dynamic_stitch`` / ``dynamic_partition``, ``unsorted_segment_sum`` and
``unique`` (each one node of TF's generated op wrappers, ``einsum`` inside ``einsum/``)."""

from __future__ import annotations

from gmeta import dtypes
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.ops import _coverage_shapes  # noqa: F401 - registers the shape functions

__all__ = ["dynamic_partition", "dynamic_stitch", "einsum", "sparse_to_dense", "unique",
           "unsorted_segment_sum"]

_apply = op_def_library.apply_op


def lrn(input, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5, name=None):  # noqa: A002
    """Local response normalization along the last axis (one ``LRN`` node)::

        sqr_sum[a, b, c, d] = sum(input[a, b, c, d - depth_radius : d + depth_radius + 1] ** 2)
        output = input / (bias + alpha * sqr_sum) ** beta
    """
    return _apply("LRN", input=input, depth_radius=depth_radius, bias=bias, alpha=alpha,
                  beta=beta, name=name)


local_response_normalization = lrn


def top_k(input, k=1, sorted=True, index_type=dtypes.int32, name=None):  # noqa: A002
    """The ``k`` largest entries of the last axis and their indices (``values, indices``)."""
    return _apply("TopKV2", input=input, k=k, sorted=sorted, index_type=index_type, name=name)


def resize_bilinear(images, size, align_corners=False, name=None, half_pixel_centers=False):
    """``tf.compat.v1.image.resize_bilinear``: one ``ResizeBilinear`` node (float32 output)."""
    return _apply("ResizeBilinear", images=images, size=size, align_corners=align_corners,
                  half_pixel_centers=half_pixel_centers, name=name)


def sparse_to_dense(sparse_indices, output_shape, sparse_values, default_value=0,
                    validate_indices=True, name=None):
    """A dense ``output_shape`` tensor holding ``sparse_values`` at ``sparse_indices`` and
    ``default_value`` elsewhere (one ``SparseToDense`` node)."""
    return _apply("SparseToDense", sparse_indices=sparse_indices, output_shape=output_shape,
                  sparse_values=sparse_values, default_value=default_value,
                  validate_indices=validate_indices, name=name)


def dynamic_stitch(indices, data, name=None):
    """Interleaves ``data`` by ``indices``: ``merged[indices[m][i]] = data[m][i]``."""
    return _apply("DynamicStitch", indices=indices, data=data, name=name)


def parallel_dynamic_stitch(indices, data, name=None):
    return _apply("ParallelDynamicStitch", indices=indices, data=data, name=name)


def dynamic_partition(data, partitions, num_partitions, name=None):
    """Splits ``data`` into ``num_partitions`` tensors by ``partitions`` (a list)."""
    out = _apply("DynamicPartition", data=data, partitions=partitions,
                 num_partitions=num_partitions, name=name)
    return list(out) if isinstance(out, (list, tuple)) else [out]


def unsorted_segment_sum(data, segment_ids, num_segments, name=None):
    """Sums of the slices of ``data`` per segment id (negative ids dropped)."""
    return _apply("UnsortedSegmentSum", data=data, segment_ids=segment_ids,
                  num_segments=num_segments, name=name)


def unique(x, out_idx=dtypes.int32, name=None):
    """The unique elements of the 1-D ``x`` in order of first occurrence, and for each element
    of ``x`` its index in them (``y, idx``)."""
    return _apply("Unique", x=x, out_idx=out_idx, name=name)


def _resolve_equation(equation, n_inputs):
    eq = "".join(equation.split())
    if "->" in eq:
        return eq
    lhs = eq
    labels = lhs.replace("...", "").replace(",", "")
    once = sorted(c for c in set(labels) if labels.count(c) == 1)
    return lhs + "->" + ("..." if "..." in lhs else "") + "".join(once)


def einsum(equation, *inputs, **kwargs):
    """``tf.einsum`` (TF's ``_einsum_v2``) for one or two operands: ``einsum/Einsum``."""
    name = kwargs.pop("name", None)
    kwargs.pop("optimize", None)
    if kwargs:
        raise TypeError(f"Invalid keyword arguments for this function: {sorted(kwargs)}")
    if len(inputs) > 2:
        raise NotImplementedError("gm.einsum supports one or two operands (TF contracts more "
                                  "through opt_einsum)")
    with ops_lib.name_scope_v1(name, "einsum", [equation, inputs]):
        inputs = list(inputs)
        return _apply("Einsum", inputs=inputs, equation=_resolve_equation(equation, len(inputs)))
