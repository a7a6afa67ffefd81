"""Unit tests of the embedding API without fixtures: argument errors of
``gm.nn.embedding_lookup`` / ``embedding_lookup_sparse`` (TF's exception types and messages),
``gm.SparseTensor`` (construction checks, fetching and feeding through a session),
``gm.clip_by_norm``, and the sparse segment kernels (``SparseSegment{Sum,Mean,SqrtN}``, their
``Grad`` / ``GradV2`` gradients, ``SegmentSum``'s gradient) against values and error messages
TF 2.21 gives for the same inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

import gmeta as gm
from gmeta.framework.op_def_library import apply_op

DATA = np.arange(12, dtype=np.float32).reshape(4, 3)
GRAD = np.arange(9, dtype=np.float32).reshape(3, 3)


def _run(fetches, feed_dict=None):
    with gm.Session() as sess:
        return sess.run(fetches, feed_dict)


@pytest.fixture(autouse=True)
def _fresh_graph():
    with gm.Graph().as_default() as g:
        yield g


def _sp(indices, values, shape):
    return gm.SparseTensor(np.asarray(indices, np.int64), np.asarray(values),
                           np.asarray(shape, np.int64))


# -- argument errors ------------------------------------------------------------------------------
def test_unknown_partition_strategy_is_a_value_error_naming_it():
    params = [gm.constant(np.ones((2, 3), np.float32)) for _ in range(3)]
    with pytest.raises(ValueError, match="Unrecognized partition strategy: modulo.Must be one "
                                         "of either `mod` or `div`."):
        gm.nn.embedding_lookup(params, [0, 1], partition_strategy="modulo")
    sp = _sp([[0, 0]], [1], [1, 1])
    with pytest.raises(ValueError, match="Unrecognized partition strategy: block"):
        gm.nn.embedding_lookup_sparse(params, sp, None, partition_strategy="block")


def test_partition_strategy_is_not_checked_for_one_tensor():
    # As in TF: with one params tensor the strategy is never read.
    out = gm.nn.embedding_lookup(gm.constant(DATA), [2, 0], partition_strategy="bogus")
    np.testing.assert_array_equal(_run(out), DATA[[2, 0]])


@pytest.mark.parametrize("combiner", ["max", "Mean", ""])
def test_unknown_combiner_is_a_value_error_naming_it(combiner):
    sp = _sp([[0, 0]], [1], [1, 1])
    with pytest.raises(ValueError, match=f"combiner must be one of 'mean', 'sqrtn' or 'sum', "
                                         f"got {combiner}$"):
        gm.nn.embedding_lookup_sparse(gm.constant(DATA), sp, None, combiner=combiner)


def test_sparse_lookup_type_errors():
    with pytest.raises(TypeError, match="sp_ids must be SparseTensor"):
        gm.nn.embedding_lookup_sparse(gm.constant(DATA), gm.constant([1, 2]), None)
    sp = _sp([[0, 0]], [1], [1, 1])
    with pytest.raises(TypeError, match="sp_weights must be either None or SparseTensor"):
        gm.nn.embedding_lookup_sparse(gm.constant(DATA), sp, gm.constant([1.0]))


def test_sparse_lookup_weights_must_match_the_ids():
    sp = _sp([[0, 0], [1, 0]], [1, 2], [2, 1])
    weights = _sp([[0, 0]], [1.0], [2, 1])
    with pytest.raises(ValueError):
        gm.nn.embedding_lookup_sparse(gm.constant(DATA), sp, weights)


def test_a_tuple_of_params_is_one_packed_tensor():
    # As in TF: only a list is a partitioned table; a tuple converts to one (packed) tensor.
    a, b = gm.constant(DATA[:2]), gm.constant(DATA[2:])
    out = gm.nn.embedding_lookup((a, b), [1])
    assert out.shape.as_list() == [1, 2, 3]
    np.testing.assert_array_equal(_run(out), DATA[2:][None])


def test_empty_or_missing_params():
    with pytest.raises(ValueError, match="Length of params is currently 0"):
        gm.nn.embedding_lookup([], [0])
    with pytest.raises(ValueError, match="params must be specified"):
        gm.nn.embedding_lookup(None, [0])


# -- lookups --------------------------------------------------------------------------------------
def _split(table, sizes):
    return np.split(table, np.cumsum(sizes)[:-1])


@pytest.mark.parametrize("sizes", [(5, 4, 4), (3, 3, 3, 2), (13,), (7, 6)])
def test_div_strategy_assigns_contiguous_blocks(sizes):
    table = np.arange(sum(sizes) * 2, dtype=np.float32).reshape(-1, 2)
    # TF's "div" layout: the first (total % n) shards hold one id more than the others.
    n, total = len(sizes), sum(sizes)
    want = [total // n + (1 if i < total % n else 0) for i in range(n)]
    assert list(sizes) == want
    ids = np.arange(total)[::-1].reshape(-1, 1)
    params = [gm.constant(s) for s in _split(table, sizes)]
    out = gm.nn.embedding_lookup(params if n > 1 else params[0], ids,
                                 partition_strategy="div")
    assert out.shape.as_list() == [total, 1, 2]
    np.testing.assert_array_equal(_run(out), table[ids])


def test_div_strategy_with_unknown_shard_sizes():
    table = np.arange(26, dtype=np.float32).reshape(13, 2)
    phs = [gm.placeholder(gm.float32, [None, 2]) for _ in range(5)]
    out = gm.nn.embedding_lookup(phs, [12, 0, 5, 9], partition_strategy="div")
    fd = dict(zip(phs, _split(table, (3, 3, 3, 2, 2))))
    np.testing.assert_array_equal(_run(out, fd), table[[12, 0, 5, 9]])


def test_max_norm_clips_rows_over_the_embedding_axes():
    table = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]], np.float32)
    out = gm.nn.embedding_lookup(gm.constant(table), [[0, 1], [2, 0]], max_norm=1.0)
    want = np.array([[[0.6, 0.8], [0.3, 0.4]], [[0.0, 0.0], [0.6, 0.8]]], np.float32)
    np.testing.assert_allclose(_run(out), want, rtol=1e-6)


def test_sparse_lookup_docstring_example():
    # TF's docstring example (combiner "sum", with and without weights).
    params = gm.constant([[1, 2], [3, 4], [5, 6], [7, 8]], dtype=gm.float32)
    sp_ids = gm.SparseTensor(indices=[[0, 0], [0, 1], [1, 0], [2, 0]], values=[0, 1, 3, 2],
                             dense_shape=(3, 2))
    weights = gm.SparseTensor(indices=[[0, 0], [0, 1], [1, 0], [2, 0]],
                              values=[0.1, 1.0, 0.5, 2.0], dense_shape=(3, 2))
    a = gm.nn.embedding_lookup_sparse(params, sp_ids, sp_weights=None, combiner="sum")
    b = gm.nn.embedding_lookup_sparse(params, sp_ids, sp_weights=weights, combiner="sum")
    va, vb = _run([a, b])
    np.testing.assert_allclose(va, [[4.0, 6.0], [7.0, 8.0], [5.0, 6.0]])
    np.testing.assert_allclose(vb, [[3.1, 4.2], [3.5, 4.0], [10.0, 12.0]], rtol=1e-6)


def test_sparse_lookup_gradient_kinds():
    params = gm.Variable(DATA)
    sp = _sp([[0, 0], [0, 1], [1, 0]], [3, 1, 3], [2, 2])
    fast = gm.nn.embedding_lookup_sparse(params, sp, None, combiner="sum")
    assert fast.op.type == "SparseSegmentSum" and fast.op.get_attr("sparse_gradient")
    (g,) = gm.gradients(gm.reduce_sum(fast), [params])
    assert isinstance(g, gm.IndexedSlices)
    assert g.values.op.type == "SparseSegmentSumGradV2"
    with gm.Session() as sess:
        sess.run(gm.global_variables_initializer())
        values, indices = sess.run([g.values, g.indices])
    np.testing.assert_array_equal(indices, [1, 3])
    np.testing.assert_array_equal(values, np.ones((2, 3)) * [[1], [2]])


# -- SparseTensor ---------------------------------------------------------------------------------
def test_sparse_tensor_construction():
    sp = gm.SparseTensor([[0, 1], [2, 0]], [1.5, 2.5], [3, 4])
    assert sp.indices.dtype == gm.int64 and sp.dense_shape.dtype == gm.int64
    assert sp.dtype == gm.float32 and sp.shape.as_list() == [3, 4]
    assert sp.indices.op.name == "SparseTensor/indices"
    assert sp.values.op.name == "SparseTensor/values"
    assert sp.dense_shape.op.name == "SparseTensor/dense_shape"
    assert gm.SparseTensor([[0]], [1], [2]).indices.op.name == "SparseTensor_1/indices"
    with pytest.raises(ValueError):
        gm.SparseTensor([[0, 1], [2, 0]], [1.5], [3, 4])
    with pytest.raises(ValueError):
        gm.SparseTensor([[0, 1]], [1.5], [3, 4, 5])
    with pytest.raises(ValueError):
        gm.SparseTensor([0, 1], [1.5, 2.5], [3])


def test_sparse_tensor_fetch_and_feed():
    ind = gm.placeholder(gm.int64, [None, 2])
    val = gm.placeholder(gm.float32, [None])
    shp = gm.placeholder(gm.int64, [2])
    sp = gm.SparseTensor(ind, val, shp)
    assert sp.shape.as_list() == [None, None]
    doubled = sp.with_values(sp.values * 2)
    value = gm.SparseTensorValue(np.array([[0, 0], [1, 2]]), np.array([1.0, 3.0], np.float32),
                                 np.array([2, 3]))
    got = _run(doubled, {sp: value})
    assert isinstance(got, gm.SparseTensorValue)
    np.testing.assert_array_equal(got.indices, value.indices)
    np.testing.assert_array_equal(got.values, [2.0, 6.0])
    np.testing.assert_array_equal(got.dense_shape, [2, 3])
    with pytest.raises(TypeError, match="SparseTensor feed"):
        _run(doubled, {sp: [1, 2]})


# -- clip_by_norm ---------------------------------------------------------------------------------
def test_clip_by_norm():
    x = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
    np.testing.assert_allclose(_run(gm.clip_by_norm(x, 2.5)), x * 0.5, rtol=1e-6)
    np.testing.assert_allclose(_run(gm.clip_by_norm(x, 10.0)), x)
    rows = _run(gm.clip_by_norm(x, 1.0, axes=[1]))
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
    np.testing.assert_array_equal(_run(gm.clip_by_norm(x, -1.0)), np.zeros_like(x))
    t = gm.constant(x)
    (g,) = gm.gradients(gm.reduce_sum(gm.clip_by_norm(t, 1.0, axes=[1])), [t])
    assert np.all(np.isfinite(_run(g)))  # the zero row: no NaN through the sqrt
    slices = gm.IndexedSlices(gm.constant(x), gm.constant([0, 2]), gm.constant([3, 2]))
    clipped = gm.clip_by_norm(slices, 1.0)
    assert isinstance(clipped, gm.IndexedSlices) and clipped.indices is slices.indices
    np.testing.assert_allclose(_run(clipped.values), x / 5.0, rtol=1e-6)


# -- sparse segment kernels: TF 2.21's values ----------------------------------------------------
SUMS = {
    "sum": [[6, 8, 10], [0, 0, 0], [6, 8, 10]],
    "mean": [[3, 4, 5], [0, 0, 0], [3, 4, 5]],
    "sqrtn": [[4.2426405, 5.656854, 7.071068], [0, 0, 0], [4.2426405, 5.656854, 7.071068]],
}
_FORWARD = {"sum": "sparse_segment_sum", "mean": "sparse_segment_mean",
            "sqrtn": "sparse_segment_sqrt_n"}
_SUFFIX = {"sum": "Sum", "mean": "Mean", "sqrtn": "SqrtN"}


@pytest.mark.parametrize("kind", sorted(SUMS))
def test_sparse_segment_values(kind):
    fn = getattr(gm, _FORWARD[kind])
    out = fn(DATA, [0, 2, 1, 1], [0, 0, 2, 2])
    assert out.shape.as_list() == [None, 3]
    np.testing.assert_allclose(_run(out), SUMS[kind], rtol=1e-6)
    gap = _run(fn(DATA, [0, 1], [1, 1]))
    assert gap.shape == (2, 3) and not gap[0].any()
    assert _run(fn(DATA, np.zeros(0, np.int32), np.zeros(0, np.int32))).shape == (0, 3)
    with_n = fn(DATA, [0, 1, 2], [0, 0, 3], num_segments=5)
    assert with_n.op.type.endswith("WithNumSegments") and with_n.shape.as_list() == [5, 3]
    got = _run(with_n)
    assert got.shape == (5, 3) and not got[[1, 2, 4]].any()
    i64 = fn(DATA.astype(np.float64), np.array([0, 1, 1], np.int64),
             np.array([0, 0, 1], np.int64))
    assert _run(i64).dtype == np.float64
    half = _run(fn(DATA.astype(np.float16), [0, 1, 1], [0, 0, 1]))
    assert half.dtype == np.float16


@pytest.mark.parametrize("kind", sorted(SUMS))
@pytest.mark.parametrize("indices, segment_ids, num_segments, message", [
    ([0, 4], [0, 1], None, r"Bad: indices\[1\] == 4 out of range \[0, 4\)"),
    ([0, -1], [0, 1], None, r"Bad: indices\[1\] == -1 out of range \[0, 4\)"),
    ([0, 1], [1, 0], None, "segment ids are not increasing"),
    ([0, 9, 1], [0, 2, 1], None, "segment ids are not increasing"),
    ([0, 1], [-1, 0], None, r"Segment id -1 out of range \[0, 1\), possibly because "
                            "'segment_ids' input is not sorted."),
    ([0, 9, 1], [0, 0, -1], None, "segment ids must be >= 0"),
    ([0, 9, 1], [3, 3, 3], None, r"Bad: indices\[1\] == 9"),
    ([0, 1, 2], [0, 0, 3], 3, "segment ids must be < num_segments"),
    ([0, 9, 1], [-2, -2, -2], 4, r"Segment id -2 out of range \[0, 4\)"),
])
def test_sparse_segment_errors(kind, indices, segment_ids, num_segments, message):
    out = getattr(gm, _FORWARD[kind])(DATA, indices, segment_ids, num_segments=num_segments)
    with pytest.raises(gm.errors.InvalidArgumentError, match=message):
        _run(out)


def test_sparse_segment_static_shape_errors():
    with pytest.raises(ValueError, match="Dimension 0 in both shapes must be equal"):
        gm.sparse_segment_sum(DATA, [0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="must be rank 1"):
        gm.sparse_segment_sum(DATA, [[0, 1]], [0, 1])
    with pytest.raises(ValueError, match="at least rank 1"):
        gm.sparse_segment_mean(np.float32(1), [0], [0])


GRADS = {
    "sum": [[0, 1, 2], [6, 7, 8], [0, 0, 0], [6, 8, 10], [0, 0, 0]],
    "mean": [[0, 0.5, 1], [3, 3.5, 4], [0, 0, 0], [3, 4, 5], [0, 0, 0]],
    "sqrtn": [[0, 0.70710677, 1.4142135], [4.2426405, 4.9497476, 5.656854], [0, 0, 0],
              [4.2426405, 5.656854, 7.071068], [0, 0, 0]],
}


@pytest.mark.parametrize("kind", sorted(GRADS))
def test_sparse_segment_grad_kernels(kind):
    dense = apply_op(f"SparseSegment{_SUFFIX[kind]}Grad", grad=GRAD, indices=[3, 0, 3, 1],
                     segment_ids=[0, 0, 2, 2], output_dim0=5)
    assert dense.shape.as_list() == [5, 3]
    values, unique = apply_op(f"SparseSegment{_SUFFIX[kind]}GradV2", grad=GRAD,
                              indices=[3, 0, 3, 1], segment_ids=[0, 0, 2, 2],
                              dense_output_dim0=5)
    assert values.shape.as_list() == [None, 3] and unique.shape.as_list() == [None]
    d, v, u = _run([dense, values, unique])
    np.testing.assert_allclose(d, GRADS[kind], rtol=1e-6)
    np.testing.assert_array_equal(u, [0, 1, 3])
    assert u.dtype == np.int32
    np.testing.assert_allclose(v, np.asarray(GRADS[kind])[[0, 1, 3]], rtol=1e-6)


@pytest.mark.parametrize("v2", [False, True])
@pytest.mark.parametrize("kind", sorted(GRADS))
def test_sparse_segment_grad_errors(kind, v2):
    op_type = f"SparseSegment{_SUFFIX[kind]}Grad" + ("V2" if v2 else "")
    dim = "dense_output_dim0" if v2 else "output_dim0"

    def run(indices, segment_ids):
        out = apply_op(op_type, grad=GRAD, indices=indices, segment_ids=segment_ids,
                       **{dim: 5})
        with pytest.raises(gm.errors.InvalidArgumentError) as info:
            _run(out)
        return str(info.value)

    assert "Index 9 out of range [0, 5)." in run([9, 0, 3, 1], [0, 0, 2, 2])
    assert "Invalid number of segments" in run([0, 0, 9, 1], [0, 0, 0, 3])
    assert "Index -1 out of range [0, 5)." in run([0, 0, -1, 1], [0, 0, 1, 2])
    # Mean and SqrtN count the segments before they look at the indices (V1 only).
    want = ("Segment id 3 out of range [0, 3)." if kind != "sum" and not v2
            else "Index 9 out of range [0, 5).")
    assert want in run([0, 0, 9, 1], [0, 0, 3, 2])
    ids = gm.placeholder_with_default(np.array([0, 0, 1], np.int32), [None])
    assert "segment_ids and indices should have same size." in run(ids, [0, 0, 1, 2])


def test_sparse_segment_grads_accept_unsorted_segment_ids():
    dense = apply_op("SparseSegmentMeanGrad", grad=GRAD, indices=[0, 0, 1, 1],
                     segment_ids=[0, 1, 0, 2], output_dim0=5)
    np.testing.assert_allclose(_run(dense)[:2], [[3, 4.5, 6], [6, 7.5, 9]])


def test_sparse_segment_dense_and_sparse_gradients():
    data = gm.constant(DATA)
    for kind in ("sum", "mean", "sqrtn"):
        fn = getattr(gm, _FORWARD[kind])
        dense = fn(data, [3, 0, 3, 1], [0, 0, 2, 2])
        sparse = fn(data, [3, 0, 3, 1], [0, 0, 2, 2], sparse_gradient=True)
        w = gm.constant(GRAD)
        (gd,) = gm.gradients(gm.reduce_sum(dense * w), [data])
        (gs,) = gm.gradients(gm.reduce_sum(sparse * w), [data])
        assert gd.op.type == f"SparseSegment{_SUFFIX[kind]}Grad"
        assert isinstance(gs, gm.IndexedSlices)
        got_d, got_s = _run([gd, gm.convert_to_tensor(gs)])
        np.testing.assert_allclose(got_d, np.asarray(GRADS[kind])[:4], rtol=1e-6)
        np.testing.assert_allclose(got_s, got_d, rtol=1e-6)


def test_segment_sum_gradient():
    data = gm.constant(DATA)
    out = gm.segment_sum(data, [0, 0, 2, 2])
    assert out.shape.as_list() == [None, 3]
    np.testing.assert_array_equal(_run(out), [[3, 5, 7], [0, 0, 0], [15, 17, 19]])
    (g,) = gm.gradients(gm.reduce_sum(out * gm.constant(GRAD)), [data])
    assert g.op.type == "GatherV2"
    np.testing.assert_array_equal(_run(g), GRAD[[0, 0, 2, 2]])


# -- numerical gradient checks (listed in tests/gradients/test_gradients.py's NUMERIC_EXEMPT) ---
def _segment_builders():
    idx, seg = [3, 0, 3, 1, 2], [0, 0, 2, 2, 3]
    out = {"SegmentSum": lambda d: gm.segment_sum(d, [0, 0, 2, 2])}
    for kind, fn_name in _FORWARD.items():
        fn = getattr(gm, fn_name)
        op = f"SparseSegment{_SUFFIX[kind]}"
        out[op] = lambda d, fn=fn: fn(d, idx, seg)
        out[op + "/sparse_gradient"] = lambda d, fn=fn: fn(d, idx, seg, sparse_gradient=True)
        out[op + "WithNumSegments"] = lambda d, fn=fn: fn(d, idx, seg, num_segments=6)
    return out


_SEGMENT_BUILDERS = _segment_builders()


@pytest.mark.parametrize("case", sorted(_SEGMENT_BUILDERS))
def test_segment_gradients_numerically(case):
    """Central differences in float64 along a random direction against ``gm.gradients``."""
    rng = np.random.default_rng(7)
    x0 = rng.standard_normal((4, 3))
    d = gm.placeholder(gm.float64, [4, 3])
    y = _SEGMENT_BUILDERS[case](d)
    assert y.op.type == case.split("/")[0]
    with gm.Session() as sess:
        rows = sess.run(y, {d: x0}).shape[0]
    w = gm.constant(rng.uniform(0.5, 1.5, size=(rows, 3)))
    objective = gm.reduce_sum(y * w)
    (g,) = gm.gradients(objective, [d])
    assert isinstance(g, gm.IndexedSlices) == case.endswith("/sparse_gradient")
    direction = rng.standard_normal(x0.shape)
    h = 1e-5
    with gm.Session() as sess:
        numeric = (sess.run(objective, {d: x0 + h * direction}) -
                   sess.run(objective, {d: x0 - h * direction})) / (2 * h)
        symbolic = np.sum(sess.run(gm.convert_to_tensor(g), {d: x0}) * direction)
    assert abs(numeric - symbolic) <= 1e-6 * max(1.0, abs(numeric))


# -- safe_embedding_lookup_sparse and its SparseTensor ops ---------------------------------------
def test_safe_lookup_argument_errors():
    sp = _sp([[0, 0]], [1], [1, 1])
    with pytest.raises(ValueError, match="Missing embedding_weights None."):
        gm.nn.safe_embedding_lookup_sparse(None, sp)
    with pytest.raises(ValueError, match=r"Missing embedding_weights \[\]."):
        gm.nn.safe_embedding_lookup_sparse([], sp)


def test_safe_lookup_prunes_and_fills():
    table = np.arange(10, dtype=np.float32).reshape(5, 2)
    sp = _sp([[0, 0], [0, 1], [2, 0], [3, 0]], [1, -1, 4, 2], [4, 3])
    weights = _sp([[0, 0], [0, 1], [2, 0], [3, 0]], np.float32([2.0, 1.0, 1.0, -1.0]), [4, 3])
    zeros = gm.nn.safe_embedding_lookup_sparse(gm.constant(table), sp, weights)
    default = gm.nn.safe_embedding_lookup_sparse(gm.constant(table), sp, weights,
                                                 default_id=3)
    assert zeros.shape.as_list() == [4, 2]  # TF folds the constant dense shape too
    got_zeros, got_default = _run([zeros, default])
    # row 1 is empty, row 3's only weight is negative (pruned for "mean")
    np.testing.assert_allclose(got_zeros, [table[1], [0, 0], table[4], [0, 0]])
    np.testing.assert_allclose(got_default, [table[1], table[3], table[4], table[3]])


def test_sparse_fill_empty_rows_matches_tf():
    indices = np.array([[2, 0], [0, 1], [4, 2], [2, 3]], np.int64)
    sp = gm.SparseTensor(indices, np.array([1.0, 2.0, 3.0, 4.0], np.float32),
                         np.array([6, 5], np.int64))
    filled, empty = gm.sparse_fill_empty_rows(sp, 9.0)
    reverse = filled.indices.op.outputs[3]
    got, e, r = _run([filled, empty, reverse])
    # TF 2.21's output for this (row-unsorted) input
    np.testing.assert_array_equal(got.indices, [[0, 1], [1, 0], [2, 0], [2, 3], [3, 0], [4, 2],
                                                [5, 0]])
    np.testing.assert_array_equal(got.values, [2, 9, 1, 4, 9, 3, 9])
    np.testing.assert_array_equal(e, [False, True, False, True, False, True])
    np.testing.assert_array_equal(r, [2, 0, 5, 3])
    none = gm.SparseTensor(np.zeros((0, 2), np.int64), np.zeros(0, np.float32), [3, 5])
    got = _run(gm.sparse_fill_empty_rows(none, 9.0)[0])
    np.testing.assert_array_equal(got.indices, [[0, 0], [1, 0], [2, 0]])
    bad = gm.SparseTensor(indices, np.ones(4, np.float32), np.array([4, 5], np.int64))
    with pytest.raises(gm.errors.InvalidArgumentError,
                       match=r"indices\(2, 0\) is invalid: 4 >= 4"):
        _run(gm.sparse_fill_empty_rows(bad, 0.0)[1])


def test_sparse_fill_empty_rows_grad_kernel():
    d_values, d_default = apply_op("SparseFillEmptyRowsGrad",
                                   reverse_index_map=np.array([0, 2, 3, 6], np.int64),
                                   grad_values=np.arange(7, dtype=np.float32))
    v, d = _run([d_values, d_default])
    np.testing.assert_array_equal(v, [0, 2, 3, 6])
    assert d == 10.0
    bad = apply_op("SparseFillEmptyRowsGrad", reverse_index_map=np.array([0, 9], np.int64),
                   grad_values=np.arange(7, dtype=np.float32))
    with pytest.raises(gm.errors.InvalidArgumentError,
                       match=r"Elements in reverse index must be in \[0, 7\) but got 9"):
        _run(bad)


def test_sparse_fill_empty_rows_gradient_numerically():
    values = gm.placeholder(gm.float64, [3])
    default = gm.placeholder(gm.float64, [])
    sp = gm.SparseTensor(np.array([[0, 1], [2, 0], [2, 3]], np.int64), values,
                         np.array([5, 4], np.int64))
    filled, _ = gm.sparse_fill_empty_rows(sp, default)
    w = gm.constant(np.linspace(0.5, 1.5, 6))
    objective = gm.reduce_sum(filled.values * w) + gm.reduce_sum(filled.values ** 2)
    gv, gd = gm.gradients(objective, [values, default])
    x0, d0 = np.array([0.3, -1.2, 0.7]), 0.4
    dx, dd = np.array([0.5, 1.0, -0.25]), -0.8
    h = 1e-5
    with gm.Session() as sess:
        def f(s):
            return sess.run(objective, {values: x0 + s * h * dx, default: d0 + s * h * dd})

        numeric = (f(1) - f(-1)) / (2 * h)
        sv, sd = sess.run([gv, gd], {values: x0, default: d0})
    assert abs(numeric - (np.dot(sv, dx) + sd * dd)) <= 1e-6 * max(1.0, abs(numeric))


@pytest.mark.parametrize("new_shape, want_indices, want_shape", [
    ([3, 10], [[0, 1], [1, 0], [1, 3], [2, 2]], [3, 10]),
    ([-1, 2], [[0, 1], [5, 0], [6, 1], [11, 0]], [15, 2]),
    ([30], [[1], [10], [13], [22]], [30]),
    ([2, 3, 5], [[0, 0, 1], [0, 2, 0], [0, 2, 3], [1, 1, 2]], [2, 3, 5]),
])
def test_sparse_reshape_matches_tf(new_shape, want_indices, want_shape):
    indices = np.array([[0, 1], [2, 0], [2, 3], [4, 2]], np.int64)
    shape = gm.placeholder_with_default(np.array([6, 5], np.int64), [2])
    sp = gm.SparseTensor(indices, np.arange(4.0, dtype=np.float32), shape)
    got = _run(gm.sparse_reshape(sp, new_shape))
    np.testing.assert_array_equal(got.indices, want_indices)
    np.testing.assert_array_equal(got.dense_shape, want_shape)
    np.testing.assert_array_equal(got.values, np.arange(4.0))


@pytest.mark.parametrize("new_shape, message", [
    ([-1, 7], r"Input to reshape is a SparseTensor with 30 dense values, but the requested "
              r"shape requires a multiple of 7. input_shape=\[6,5\] output_shape=\[1,7\]"),
    ([-1, -1], "only one output dimension may be -1, not both 0 and 1"),
    ([4, 7], r"Input to reshape is a tensor with 30 dense values, but the requested shape has "
             r"28. input_shape=\[6,5\] output_shape=\[4,7\]"),
    ([-2, 15], "size 0 must be non-negative, not -2"),
])
def test_sparse_reshape_errors(new_shape, message):
    indices = np.array([[0, 1], [2, 0]], np.int64)
    shape = gm.placeholder_with_default(np.array([6, 5], np.int64), [2])
    target = gm.placeholder_with_default(np.array(new_shape, np.int64), [len(new_shape)])
    sp = gm.SparseTensor(indices, np.arange(2.0, dtype=np.float32), shape)
    with pytest.raises(gm.errors.InvalidArgumentError, match=message):
        _run(gm.sparse_reshape(sp, target).indices)


def test_sparse_reshape_static_checks():
    sp = gm.SparseTensor(np.array([[0, 1]], np.int64), [1.0], np.array([6, 5], np.int64))
    out = gm.sparse_reshape(sp, [-1, 3])
    assert out.dense_shape.op.type == "Const" and out.shape.as_list() == [10, 3]
    with pytest.raises(ValueError, match="Cannot reshape a tensor with 30 elements"):
        gm.sparse_reshape(sp, [4, 7])
    with pytest.raises(ValueError, match="At most one dimension can be inferred"):
        gm.sparse_reshape(sp, [-1, -1])


def test_tf_sparse_namespace():
    assert gm.sparse.SparseTensor is gm.SparseTensor
    assert gm.sparse.reshape is gm.sparse_reshape and gm.sparse.retain is gm.sparse_retain
    assert gm.sparse.fill_empty_rows is gm.sparse_fill_empty_rows
    assert gm.sparse.segment_sum is gm.sparse_segment_sum
    assert gm.math.segment_sum is gm.segment_sum


def test_sparse_retain():
    sp = gm.SparseTensor([[0, 0], [1, 2], [3, 1]], [1.0, 2.0, 3.0], [4, 3])
    got = _run(gm.sparse_retain(sp, [True, False, True]))
    np.testing.assert_array_equal(got.indices, [[0, 0], [3, 1]])
    np.testing.assert_array_equal(got.values, [1.0, 3.0])
    with pytest.raises(ValueError):
        gm.sparse_retain(sp, [True, False])
