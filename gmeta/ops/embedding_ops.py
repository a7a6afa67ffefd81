"""TF's embedding API (``tf.compat.v1.nn.embedding_lookup``, ``embedding_lookup_sparse``,
``safe_embedding_lookup_sparse``) and the ops it is made of, built node for node as TF 2.21
builds them (embedding_ops.py, clip_ops.py, math_ops.py), so the graphs, their gradients and
their placement match TF's:

- :func:`embedding_lookup`: one tensor (a colocated ``GatherV2`` + ``Identity``) or a list of
  partitions (``DynamicPartition`` of the ids by the ``"mod"`` or ``"div"`` strategy, one
  ``GatherV2`` per partition colocated with it, ``ParallelDynamicStitch``, ``Reshape``); with
  ``max_norm`` the rows are clipped by :func:`clip_by_norm` over the embedding axes;
- :func:`embedding_lookup_sparse`: a ``SparseTensor`` of ids (rows = segments) combined by
  ``"sum"``, ``"mean"`` or ``"sqrtn"``: ``Unique`` + :func:`embedding_lookup` +
  ``SparseSegment<X>`` without weights (one plain tensor and no ``max_norm``: the
  ``SparseSegment<X>`` reads it directly with ``sparse_gradient=True``, so its gradient is an
  ``IndexedSlices``), or ``GatherV2`` + ``Mul`` + ``SegmentSum`` (+ ``DivNoNan``) with weights;
- :func:`safe_embedding_lookup_sparse`: ids of any rank reshaped to 2-D (``SparseReshape``),
  invalid ids and weights dropped (``sparse_retain``), empty rows filled
  (``SparseFillEmptyRows``), then :func:`embedding_lookup_sparse`;
- :func:`clip_by_norm`, :func:`segment_sum`, :func:`sparse_segment_sum`,
  :func:`sparse_segment_mean`, :func:`sparse_segment_sqrt_n`.
"""

from __future__ import annotations

import numpy as np

from gmeta import dtypes
from gmeta.framework import op_def_library
from gmeta.framework import ops as ops_lib
from gmeta.framework.sparse_tensor import SparseTensor
from gmeta.framework.tensor_shape import Dimension, TensorShape
from gmeta.ops import _segment_shapes  # noqa: F401 - registers the shape functions
from gmeta.ops import array_ops, math_ops
from gmeta.ops.coverage_ops import dynamic_partition, parallel_dynamic_stitch, unique

__all__ = ["clip_by_norm", "segment_sum", "sparse_segment_mean", "sparse_segment_sqrt_n",
           "sparse_segment_sum"]

_apply = op_def_library.apply_op
_COMBINERS = ("mean", "sqrtn", "sum")


# -- segment reductions ---------------------------------------------------------------------------
def segment_sum(data, segment_ids, name=None):
    """Sums of the rows of ``data`` per (sorted) segment id: one ``SegmentSum`` node."""
    return _apply("SegmentSum", data=data, segment_ids=segment_ids, name=name)


def _sparse_segment(kind, data, indices, segment_ids, name, num_segments, sparse_gradient):
    if num_segments is not None:
        return _apply(f"SparseSegment{kind}WithNumSegments", data=data, indices=indices,
                      segment_ids=segment_ids, num_segments=num_segments,
                      sparse_gradient=sparse_gradient, name=name)
    return _apply(f"SparseSegment{kind}", data=data, indices=indices, segment_ids=segment_ids,
                  sparse_gradient=sparse_gradient, name=name)


def sparse_segment_sum(data, indices, segment_ids, name=None, num_segments=None,
                       sparse_gradient=False):
    """``output[s] = sum(data[indices[i]] for segment_ids[i] == s)`` (sorted segment ids;
    ``num_segments`` rows when given, else the last id + 1). With ``sparse_gradient`` the
    gradient of ``data`` is an ``IndexedSlices`` of the rows ``indices`` reach."""
    return _sparse_segment("Sum", data, indices, segment_ids, name, num_segments,
                           sparse_gradient)


def sparse_segment_mean(data, indices, segment_ids, name=None, num_segments=None,
                        sparse_gradient=False):
    """Like :func:`sparse_segment_sum`, divided by the size of each segment."""
    return _sparse_segment("Mean", data, indices, segment_ids, name, num_segments,
                           sparse_gradient)


def sparse_segment_sqrt_n(data, indices, segment_ids, name=None, num_segments=None,
                          sparse_gradient=False):
    """Like :func:`sparse_segment_sum`, divided by the square root of each segment's size."""
    return _sparse_segment("SqrtN", data, indices, segment_ids, name, num_segments,
                           sparse_gradient)


# -- clip_by_norm ---------------------------------------------------------------------------------
def clip_by_norm(t, clip_norm, axes=None, name=None):
    """``t * clip_norm / max(l2norm(t, axes), clip_norm)``: ``t`` rescaled so that its L2-norm
    over ``axes`` (all axes by default) is at most ``clip_norm``; an ``IndexedSlices`` has its
    values clipped. A negative ``clip_norm`` counts as 0.

    Raises:
        ValueError: the shape of ``t * clip_norm`` differs from ``t``'s (``clip_norm`` is not a
            scalar).
    """
    from gmeta.gradients import IndexedSlices

    with ops_lib.name_scope_v1(name, "clip_by_norm", [t, clip_norm]) as name:
        values = ops_lib.convert_to_tensor(t.values if isinstance(t, IndexedSlices) else t,
                                           name="t")
        if np.isscalar(clip_norm):
            if clip_norm < 0:
                clip_norm = 0
        else:
            clip_norm = math_ops.cast(math_ops.maximum(clip_norm, 0), dtype=values.dtype)
        l2sum = math_ops.reduce_sum(values * values, axes, keepdims=True)
        pred = l2sum > 0
        # TF's two-tap where: no NaN gradient through the sqrt of 0.
        l2sum_safe = array_ops.where(pred, l2sum, array_ops.ones_like(l2sum))
        l2norm = array_ops.where(pred, math_ops.sqrt(l2sum_safe), l2sum)
        intermediate = values * clip_norm
        values.shape.assert_is_compatible_with(intermediate.shape)
        values_clip = array_ops.identity(intermediate / math_ops.maximum(l2norm, clip_norm),
                                         name=name)
        if isinstance(t, IndexedSlices):
            return IndexedSlices(values_clip, t.indices, t.dense_shape)
        return values_clip


# -- embedding_lookup -----------------------------------------------------------------------------
def _is_resource_variable(p) -> bool:
    return bool(getattr(p, "_is_resource_variable", False))


def _clip(params, ids, max_norm):
    """TF's ``embedding_ops._clip``: the looked-up rows clipped to ``max_norm`` over the axes
    after those of ``ids``."""

    def _rank(x):
        rank = ops_lib.convert_to_tensor(x).shape.ndims
        if rank:
            return rank, True
        return array_ops.rank(x), False

    if max_norm is None:
        return params
    ids_rank, ids_static = _rank(ids)
    params_rank, params_static = _rank(params)
    axes = (list(range(ids_rank, params_rank)) if ids_static and params_static
            else math_ops.range(ids_rank, params_rank))
    return clip_by_norm(params, max_norm, axes=axes)


def _dim0(p):
    return TensorShape(p.shape)[0]


def _div_assignments(params, flat_ids, n):
    """The "div" strategy: partition and row of each id, ``ids_per_partition = total // n`` and
    the first ``total % n`` partitions one id longer."""
    dim_0_size = Dimension(_dim0(params[0]))
    for p in params[1:]:
        d = _dim0(p)
        dim_0_size = Dimension(None if dim_0_size.value is None or d is None
                               else dim_0_size.value + d)
    if dim_0_size.value:
        from gmeta.ops.constant_op import constant

        num_total_ids = constant(dim_0_size.value, flat_ids.dtype)
    else:
        dim_0_sizes = []
        for p in params:
            d = _dim0(p)
            if d is not None:
                dim_0_sizes.append(d)
            else:
                with ops_lib.colocate_with(p):
                    dim_0_sizes.append(array_ops.shape(p)[0])
        num_total_ids = math_ops.reduce_sum(
            math_ops.cast(array_ops.stack(dim_0_sizes), flat_ids.dtype))
    ids_per_partition = num_total_ids // n
    extras = num_total_ids % n
    p_assignments = math_ops.maximum(flat_ids // (ids_per_partition + 1),
                                     (flat_ids - extras) // ids_per_partition)
    new_ids = array_ops.where(p_assignments < extras, flat_ids % (ids_per_partition + 1),
                              (flat_ids - extras) % ids_per_partition)
    return p_assignments, new_ids


def embedding_lookup(params, ids, partition_strategy="mod", name=None, validate_indices=True,
                     max_norm=None):
    """``tf.compat.v1.nn.embedding_lookup``: the rows ``ids`` of ``params``, a tensor or a list of
    partitions of one (same shape but for dimension 0), shape ``shape(ids) + shape(params)[1:]``.

    With several partitions, ``partition_strategy`` assigns the ids: ``"mod"``: id ``i`` is row
    ``i // n`` of partition ``i % n``; ``"div"``: contiguous blocks, the first ``total % n``
    partitions one id longer (13 ids over 5: ``[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10],
    [11, 12]``). ``max_norm``: each row whose L2-norm exceeds it is scaled down to it.
    ``validate_indices`` is ignored (deprecated in TF too).

    Raises:
        ValueError: ``params`` is None or empty, or ``partition_strategy`` is neither "mod" nor
            "div" (only checked when there are several partitions, as in TF).
    """
    del validate_indices
    if params is None:
        raise ValueError("params must be specified")
    if isinstance(params, (list, tuple)) and not params:
        raise ValueError("Length of params is currently 0. Need at least one param.")
    if not isinstance(params, list):
        params = [params]  # as in TF: only a list is partitions (a tuple is one packed tensor)
    with ops_lib.name_scope_v1(name, "embedding_lookup", params + [ids]) as name:
        n = len(params)
        if not any(_is_resource_variable(p) for p in params):
            params = [ops_lib.convert_to_tensor_or_indexed_slices(
                p, name=f"params_{i}") for i, p in enumerate(params)]
        ids = ops_lib.convert_to_tensor(ids, name="ids")
        if n == 1:
            with ops_lib.colocate_with(params[0]):
                result = _clip(array_ops.gather(params[0], ids, name=name), ids, max_norm)
            return array_ops.identity(result)
        flat_ids = array_ops.reshape(ids, [-1])
        original_indices = math_ops.range(array_ops.size(flat_ids, out_type=dtypes.int32))
        if partition_strategy == "mod":
            p_assignments = flat_ids % n
            new_ids = flat_ids // n
        elif partition_strategy == "div":
            p_assignments, new_ids = _div_assignments(params, flat_ids, n)
        else:
            raise ValueError(f"Unrecognized partition strategy: {partition_strategy}."
                             "Must be one of either `mod` or `div`.")
        p_assignments = math_ops.cast(p_assignments, dtypes.int32)
        gather_ids = dynamic_partition(new_ids, p_assignments, n)
        pindices = dynamic_partition(original_indices, p_assignments, n)
        partitioned = []
        for p in range(n):
            with ops_lib.device(None), ops_lib.colocate_with(params[p]):
                partitioned.append(array_ops.gather(params[p], gather_ids[p]))
        ret = parallel_dynamic_stitch(pindices, partitioned, name=name)
        element_shape_s = TensorShape(params[0].shape)[1:]
        for p in params[1:]:
            element_shape_s = element_shape_s.merge_with(TensorShape(p.shape)[1:])
        if element_shape_s.is_fully_defined():
            element_shape_d = element_shape_s
        else:
            with ops_lib.colocate_with(params[0]):
                params_shape = array_ops.shape(params[0])
            element_shape_d = params_shape[1:]
        ret = array_ops.reshape(ret, array_ops.concat([array_ops.shape(ids), element_shape_d],
                                                      0))
        ret.set_shape(ids.shape.concatenate(element_shape_s))
        return _clip(ret, ids, max_norm)


# -- embedding_lookup_sparse ----------------------------------------------------------------------
def embedding_lookup_sparse(params, sp_ids, sp_weights, partition_strategy="mod", name=None,
                            combiner=None, max_norm=None, allow_fast_lookup=False):
    """``tf.compat.v1.nn.embedding_lookup_sparse``: per row of the ``[N, M]`` SparseTensor
    ``sp_ids`` (every row non-empty, indices in row-major order), the embeddings of its ids
    (looked up as :func:`embedding_lookup` does, ``partition_strategy`` and ``max_norm``
    alike) times their ``sp_weights`` (a SparseTensor like ``sp_ids``; None: all 1) combined
    by ``combiner``: ``"sum"``, ``"mean"`` (the weighted sum over the sum of the weights, the
    default) or ``"sqrtn"`` (over the root of the sum of the squared weights). The result has
    shape ``[N] + shape(params)[1:]``.

    Raises:
        ValueError: ``combiner`` is not "mean", "sqrtn" or "sum".
        TypeError: ``sp_ids`` is not a SparseTensor, or ``sp_weights`` neither None nor one.
    """
    if combiner is None:
        combiner = "mean"
    if combiner not in _COMBINERS:
        raise ValueError(f"combiner must be one of 'mean', 'sqrtn' or 'sum', got {combiner}")
    if not isinstance(params, list):
        params = [params]
    if not isinstance(sp_ids, SparseTensor):
        raise TypeError(f"sp_ids must be SparseTensor, got {type(sp_ids)}")
    ignore_weights = sp_weights is None
    if not ignore_weights:
        if not isinstance(sp_weights, SparseTensor):
            raise TypeError(f"sp_weights must be either None or SparseTensor,"
                            f"got {type(sp_weights)}")
        sp_ids.values.shape.assert_is_compatible_with(sp_weights.values.shape)
        sp_ids.indices.shape.assert_is_compatible_with(sp_weights.indices.shape)
        sp_ids.dense_shape.shape.assert_is_compatible_with(sp_weights.dense_shape.shape)
    with ops_lib.name_scope_v1(name, "embedding_lookup_sparse",
                               params + [sp_ids.indices]) as name:
        segment_ids = sp_ids.indices[:, 0]
        ids = sp_ids.values
        return _embedding_lookup_sparse_impl(params, segment_ids, sp_weights, ids, combiner,
                                             ignore_weights, max_norm, allow_fast_lookup,
                                             partition_strategy, name)


def _embedding_lookup_sparse_impl(params, segment_ids, sp_weights, ids, combiner, ignore_weights,
                                  max_norm, allow_fast_lookup, partition_strategy, name):
    need_sparse_segment_gradient = False
    segment_ids = ops_lib.convert_to_tensor(segment_ids, name="segment_ids")
    if len(params) == 1 and not isinstance(params[0], ops_lib.Tensor) and \
            not hasattr(params[0], "_as_graph_element"):
        params = [ops_lib.convert_to_tensor(params[0], name="params")]
    # TF's fast path: one tensor (a resource variable is a CompositeTensor: not taken) read
    # directly by the SparseSegment<X>, whose gradient is then an IndexedSlices.
    if (len(params) == 1 and not _is_resource_variable(params[0])
            and params[0].device == segment_ids.device and max_norm is None
            and (allow_fast_lookup or ignore_weights)):
        idx = ids
        embeddings = params[0]
        if not allow_fast_lookup:
            need_sparse_segment_gradient = True
    else:
        ids, idx = unique(ids)
        embeddings = embedding_lookup(params, ids, partition_strategy=partition_strategy,
                                      max_norm=max_norm)
    if not ignore_weights:
        if segment_ids.dtype != dtypes.int32:
            segment_ids = math_ops.cast(segment_ids, dtypes.int32)
        weights = sp_weights.values
        embeddings = array_ops.gather(embeddings, idx)
        original_dtype = embeddings.dtype
        if embeddings.dtype in (dtypes.float16, dtypes.bfloat16):
            embeddings = math_ops.cast(embeddings, dtypes.float32)
        if weights.dtype != embeddings.dtype:
            weights = math_ops.cast(weights, embeddings.dtype)
        ones_shape = array_ops.expand_dims(array_ops.rank(embeddings) - 1, 0)
        weights_shape = array_ops.shape(weights)
        ones = array_ops.ones(ones_shape, dtype=weights_shape.dtype)
        bcast_weights_shape = array_ops.concat([weights_shape, ones], 0)
        orig_weights_shape = weights.shape
        weights = array_ops.reshape(weights, bcast_weights_shape)
        if embeddings.shape.ndims is not None:
            weights.set_shape(orig_weights_shape.concatenate(
                [1 for _ in range(embeddings.shape.ndims - 1)]))
        embeddings *= weights
        if combiner == "sum":
            embeddings = segment_sum(embeddings, segment_ids, name=name)
        elif combiner == "mean":
            embeddings = segment_sum(embeddings, segment_ids)
            weight_sum = segment_sum(weights, segment_ids)
            embeddings = math_ops.div_no_nan(embeddings, weight_sum, name=name)
        else:
            embeddings = segment_sum(embeddings, segment_ids)
            weights_squared = math_ops.pow(weights, 2)
            weight_sum = segment_sum(weights_squared, segment_ids)
            weight_sum_sqrt = math_ops.sqrt(weight_sum)
            embeddings = math_ops.div_no_nan(embeddings, weight_sum_sqrt, name=name)
        if embeddings.dtype != original_dtype:
            embeddings = math_ops.cast(embeddings, original_dtype)
        return embeddings
    if segment_ids.dtype not in (dtypes.int32, dtypes.int64):
        segment_ids = math_ops.cast(segment_ids, dtypes.int32)
    reduce = {"sum": sparse_segment_sum, "mean": sparse_segment_mean,
              "sqrtn": sparse_segment_sqrt_n}[combiner]
    return reduce(embeddings, idx, segment_ids, name=name,
                  sparse_gradient=need_sparse_segment_gradient)


# -- safe_embedding_lookup_sparse -----------------------------------------------------------------
def _prune_invalid_ids(sparse_ids, sparse_weights):
    from gmeta.ops.sparse_ops import sparse_retain

    is_id_valid = math_ops.greater_equal(sparse_ids.values, 0)
    if sparse_weights is not None:
        is_id_valid = math_ops.logical_and(
            is_id_valid, array_ops.ones_like(sparse_weights.values, dtype=dtypes.bool))
    sparse_ids = sparse_retain(sparse_ids, is_id_valid)
    if sparse_weights is not None:
        sparse_weights = sparse_retain(sparse_weights, is_id_valid)
    return sparse_ids, sparse_weights


def _prune_invalid_weights(sparse_ids, sparse_weights):
    from gmeta.ops.sparse_ops import sparse_retain

    if sparse_weights is not None:
        is_weights_valid = math_ops.greater(sparse_weights.values, 0)
        sparse_ids = sparse_retain(sparse_ids, is_weights_valid)
        sparse_weights = sparse_retain(sparse_weights, is_weights_valid)
    return sparse_ids, sparse_weights


def safe_embedding_lookup_sparse(embedding_weights, sparse_ids, sparse_weights=None,
                                 combiner="mean", default_id=None, name=None,
                                 partition_strategy="div", max_norm=None,
                                 allow_fast_lookup=False):
    """``tf.compat.v1.nn.safe_embedding_lookup_sparse``: :func:`embedding_lookup_sparse` that
    first drops ids < 0 (and, unless ``combiner`` is "sum", entries with weight <= 0) and gives
    rows with no entries the embedding of ``default_id`` (zeros when None). ``sparse_ids`` may
    have rank > 2: all but its last dimension are kept in the result, shape
    ``shape(sparse_ids)[:-1] + shape(params)[1:]``. Note the default ``partition_strategy``
    is "div", as in TF.

    Raises:
        ValueError: ``embedding_weights`` is None or empty.
    """
    from gmeta.ops.sparse_ops import sparse_fill_empty_rows, sparse_reshape

    if embedding_weights is None:
        raise ValueError(f"Missing embedding_weights {embedding_weights}.")
    if not isinstance(embedding_weights, list):
        embedding_weights = [embedding_weights]
    if len(embedding_weights) < 1:
        raise ValueError(f"Missing embedding_weights {embedding_weights}.")
    dtype = sparse_weights.dtype if sparse_weights is not None else None
    embedding_weights = [
        w if (_is_resource_variable(w) and dtype in (None, w.dtype))
        else ops_lib.convert_to_tensor(w, dtype=dtype) for w in embedding_weights]
    with ops_lib.name_scope_v1(name, "embedding_lookup", embedding_weights + [
            sparse_ids.indices] + ([] if sparse_weights is None else [sparse_weights.values])
    ) as scope:
        original_shape = sparse_ids.dense_shape
        original_rank_dim = sparse_ids.dense_shape.shape[0]
        original_rank = (array_ops.size(original_shape) if original_rank_dim is None
                         else original_rank_dim)
        sparse_ids = sparse_reshape(sparse_ids, [
            math_ops.reduce_prod(array_ops.slice(original_shape, [0], [original_rank - 1])),
            array_ops.gather(original_shape, original_rank - 1)])
        if sparse_weights is not None:
            sparse_weights = SparseTensor(sparse_ids.indices, sparse_weights.values,
                                          sparse_ids.dense_shape)
        sparse_ids, sparse_weights = _prune_invalid_ids(sparse_ids, sparse_weights)
        if combiner != "sum":
            sparse_ids, sparse_weights = _prune_invalid_weights(sparse_ids, sparse_weights)
        sparse_ids, is_row_empty = sparse_fill_empty_rows(sparse_ids, default_id or 0)
        if sparse_weights is not None:
            sparse_weights, _ = sparse_fill_empty_rows(sparse_weights, 1.0)
        result = embedding_lookup_sparse(
            embedding_weights, sparse_ids, sparse_weights, combiner=combiner,
            partition_strategy=partition_strategy, name=None if default_id is None else scope,
            max_norm=max_norm, allow_fast_lookup=allow_fast_lookup)
        if default_id is None:
            is_row_empty = array_ops.tile(
                array_ops.reshape(is_row_empty, [-1, 1]),
                array_ops.stack([1, array_ops.shape(result)[1]]))
            result = array_ops.where(is_row_empty, array_ops.zeros_like(result), result,
                                     name=scope)
        final_result = array_ops.reshape(result, array_ops.concat([
            array_ops.slice(math_ops.cast(original_shape, dtypes.int32), [0],
                            [original_rank - 1]),
            array_ops.slice(array_ops.shape(result), [1], [-1])], 0))
        lead = None if original_rank_dim is None else original_rank_dim - 1
        final_result.set_shape(TensorShape(None if lead is None else [None] * lead)
                               .concatenate(result.shape[1:]))
        return final_result
