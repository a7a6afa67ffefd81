"""Array family unit tests the TF fixtures do not pin: __getitem__ against numpy's basic indexing,
build-time errors, kernel errors that name their node, static shapes that need partial
evaluation, and the less common builders (split, pad, gather_nd, batch gather, ...)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

import gmeta as tf
from gmeta import errors
from gmeta.kernels import has_kernel


@pytest.fixture
def g():
    graph = tf.Graph()
    with graph.as_default():
        yield graph


def _run(fetches, feed_dict=None):
    with tf.Session() as sess:
        return sess.run(fetches, feed_dict)


def _nodes(graph):
    return [(op.name, op.type) for op in graph.get_operations()]


# -- __getitem__ ---------------------------------------------------------------------------------
def _random_spec(rng):
    def item():
        k = rng.random()
        if k < 0.25:
            return rng.randint(-3, 2)
        if k < 0.35:
            return None
        if k < 0.42:
            return Ellipsis

        def bound():
            return rng.choice([None, rng.randint(-7, 7)])

        return slice(bound(), bound(), rng.choice([None, 1, 2, -1, -2, 3]))

    while True:
        spec = tuple(item() for _ in range(rng.randint(1, 4)))
        if sum(s is Ellipsis for s in spec) <= 1:
            return spec


def test_getitem_matches_numpy_basic_indexing(g):
    rng = random.Random(1234)
    value = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    known = tf.placeholder(tf.float32, [3, 4, 5])
    unknown = tf.placeholder(tf.float32, None)
    specs = [_random_spec(rng) for _ in range(150)]
    specs = [s for s in specs if sum(x is not None and x is not Ellipsis for x in s) <= 3]
    for spec in specs:
        want = value[spec]
        for x in (known, unknown):
            out = x[spec]
            if x is known:
                assert out.shape.as_list() == list(want.shape), spec
            got = _run(out, {x: value})
            np.testing.assert_array_equal(got, want, err_msg=str(spec))


def test_getitem_node_structure(g):
    x = tf.placeholder(tf.float32, [3, 4])
    y = x[1:, tf.newaxis, ::-1]
    assert y.op.type == "StridedSlice"
    assert [t.op.name for t in y.op.inputs[1:]] == [
        "strided_slice/stack", "strided_slice/stack_1", "strided_slice/stack_2"]
    assert (y.op.get_attr("begin_mask"), y.op.get_attr("end_mask"),
            y.op.get_attr("new_axis_mask")) == (4, 5, 2)
    assert y.shape.as_list() == [2, 1, 4]


def test_getitem_tensor_indices_pack(g):
    x = tf.placeholder(tf.float32, [5, 3])
    i = tf.placeholder(tf.int32, [])
    y = x[i]
    assert y.op.inputs[1].op.type == "Pack" and y.op.inputs[2].op.type == "Pack"
    assert y.shape.as_list() == [3]
    v = np.arange(15, dtype=np.float32).reshape(5, 3)
    np.testing.assert_array_equal(_run(y, {x: v, i: 4}), v[4])
    j = tf.placeholder(tf.int64, [])
    z = x[j:, 1]  # an int64 bound casts the other vectors to int64
    assert z.op.get_attr("Index") == tf.int64
    np.testing.assert_array_equal(_run(z, {x: v, j: 2}), v[2:, 1])


def test_getitem_rejects_bad_indices(g):
    x = tf.placeholder(tf.float32, [3, 4])
    with pytest.raises(TypeError, match="valid indices"):
        x[1.5]
    with pytest.raises(TypeError, match="valid indices"):
        x[tf.placeholder(tf.int32, [2])]
    with pytest.raises(TypeError, match="valid indices"):
        x[tf.placeholder(tf.float32, [])]
    with pytest.raises(ValueError, match="out of bounds"):
        x[3]  # a constant index into a known dim fails at build time, as in TF
    with pytest.raises(ValueError, match="Index out of range"):
        x[1, 1, 1]


def test_getitem_runtime_error_names_node(g):
    x = tf.placeholder(tf.int32, None)
    y = x[5]
    with pytest.raises(errors.InvalidArgumentError, match="slice index 5 of dimension 0") as e:
        _run(y, {x: np.arange(3, dtype=np.int32)})
    assert e.value.op is y.op and y.op.name in str(e.value)


def test_getitem_bool_mask_and_variable(g):
    x = tf.placeholder(tf.float32, [4])
    m = tf.placeholder(tf.bool, [4])
    v = np.array([1, 2, 3, 4], np.float32)
    np.testing.assert_array_equal(_run(x[m], {x: v, m: [True, False, True, False]}), [1, 3])
    var = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="w")
    row = var[1, ::-1]
    assert row.op.inputs[0].name == "w/read:0"
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(row), [5, 4, 3])


def test_newaxis_is_none():
    assert tf.newaxis is None


# -- build-time errors ----------------------------------------------------------------------------
@pytest.mark.parametrize("build, error, match", [
    (lambda x: tf.reshape(x, [5, -1]), ValueError, "Cannot reshape"),
    (lambda x: tf.reshape(x, [-2, 3]), ValueError, "Invalid value"),
    (lambda x: tf.squeeze(x, [0]), ValueError, "Can not squeeze dim"),
    (lambda x: tf.concat([x, tf.zeros([2, 4])], 0), ValueError, "Dimension"),
    (lambda x: tf.transpose(x, [0, 2]), ValueError, "perm dim 2"),
    (lambda x: tf.stack([x, x], axis=4), ValueError, "not in range"),
    (lambda x: tf.expand_dims(x), ValueError, "Must specify an axis"),
    (lambda x: tf.expand_dims(x, 5), ValueError, "not in the interval"),
    (lambda x: tf.split(x, 4, axis=1), ValueError, "evenly divide"),
    (lambda x: tf.split(x, [1, 1], axis=1), ValueError, "can't split axis"),
    (lambda x: tf.one_hot([0], 3, on_value=1.0, dtype=tf.int32), TypeError, "does not match"),
    (lambda x: tf.one_hot([0], 3, on_value=1, off_value=0.0), TypeError, "does not match"),
    (lambda x: tf.tile(x, [1, 2, 3]), ValueError, "rank"),
    (lambda x: tf.fill([-1, 2], 1.0), ValueError, ">= 0"),
    (lambda x: tf.slice(x, [0, 0], [-2, 1]), ValueError, "cannot be < -1"),
])
def test_build_time_errors(g, build, error, match):
    x = tf.placeholder(tf.float32, [2, 3])
    with pytest.raises(error, match=match):
        build(x)


def test_unstack_needs_num(g):
    with pytest.raises(ValueError, match="Cannot infer argument `num`"):
        tf.unstack(tf.placeholder(tf.float32, [None, 3]))
    parts = tf.unstack(tf.placeholder(tf.float32, [None, 3]), num=2)
    assert len(parts) == 2 and parts[0].shape.as_list() == [3]


# -- run-time errors name their node --------------------------------------------------------------
@pytest.mark.parametrize("build, feed, match", [
    (lambda x: tf.reshape(x, [2, 2]), np.zeros(3, np.float32), "requested shape has 4"),
    (lambda x: tf.gather(x, [0, 3]), np.zeros(3, np.float32), r"indices\[1\] = 3 is not in"),
    (lambda x: tf.gather_nd(x, [[5]]), np.zeros(3, np.float32), "does not index into param"),
    (lambda x: tf.slice(x, [1], [5]), np.zeros(3, np.float32), r"Expected size\[0\]"),
    (lambda x: tf.squeeze(x, [0]), np.zeros((2, 3), np.float32), "Can not squeeze dim"),
    (lambda x: tf.tile(x, [2]), np.zeros((2, 3), np.float32), "multiples argument"),
    (lambda x: tf.concat([x, x[:, :1]], 0), np.zeros((2, 3), np.float32), "ConcatOp"),
    (lambda x: tf.stack([x, x[1:]]), np.zeros(3, np.float32), "Shapes of all inputs"),
    (lambda x: tf.transpose(x, [0, 0]), np.zeros((2, 2), np.float32), "missing from"),
    (lambda x: tf.split(x, 2), np.zeros(3, np.float32), "evenly divide"),
    (lambda x: tf.split(x, [1, 5]), np.zeros(3, np.float32), "Determined shape"),
    (lambda x: tf.where(x), np.float32(1), "Unhandled input dimensions"),
    (lambda x: tf.broadcast_to(x, [2, 4]), np.zeros(3, np.float32), "Incompatible shapes"),
    (lambda x: tf.expand_dims(x, 3), np.zeros(3, np.float32), "Tried to expand dim"),
    (lambda x: tf.unstack(x, num=2), np.zeros(3, np.float32), "must equal 2"),
    (lambda x: tf.reverse(x, [0, 0]), np.zeros(3, np.float32), "specified more than once"),
    (lambda x: tf.pad(x, [[4, 0]], "REFLECT"), np.zeros(3, np.float32), "paddings must be less"),
])
def test_kernel_errors_name_the_node(g, build, feed, match):
    x = tf.placeholder(tf.float32, None)
    out = build(x)
    out = out[0] if isinstance(out, list) else out
    with pytest.raises(errors.InvalidArgumentError, match=match) as e:
        _run(out, {x: feed})
    assert e.value.op is not None and e.value.op.name in str(e.value)


def test_fill_negative_and_one_hot_negative_depth(g):
    d = tf.placeholder(tf.int32, [2])
    with pytest.raises(errors.InvalidArgumentError, match="Dimension -1 must be >= 0"):
        _run(tf.fill(d, 1.0), {d: [-1, 2]})
    depth = tf.placeholder(tf.int32, [])
    with pytest.raises(errors.InvalidArgumentError, match="depth must be non-negative"):
        _run(tf.one_hot([0, 1], depth), {depth: -1})


# -- static shapes through partial evaluation -----------------------------------------------------
def test_shapes_propagate_through_shape_arithmetic(g):
    x = tf.placeholder(tf.float32, [None, 3, 4])
    assert tf.reshape(x, [-1, tf.shape(x)[2]]).shape.as_list() == [None, 4]
    assert tf.zeros(tf.shape(x)[1:]).shape.as_list() == [3, 4]
    assert tf.fill([tf.shape(x)[1], 2], 1.0).shape.as_list() == [3, 2]
    assert tf.fill([tf.shape(x)[0], 2], 1.0).shape.as_list() == [None, 2]
    assert tf.reshape(x, tf.concat([[-1], tf.shape(x)[1:]], 0)).shape.as_list() == [None, 3, 4]
    y = tf.placeholder(tf.float32, [2, 3])
    assert tf.broadcast_to(tf.constant([1.0, 2.0, 3.0]), tf.shape(y)).shape.as_list() == [2, 3]
    assert tf.tile(y, tf.shape(y)).shape.as_list() == [4, 9]


def test_known_shapes_fold_to_constants(g):
    x = tf.placeholder(tf.float32, [2, 3])
    assert tf.shape(x).op.type == "Const" and tf.size(x).op.type == "Const"
    assert tf.rank(x).op.type == "Const"
    assert tf.zeros_like(x).op.type == "Const"
    assert tf.ones_like(x).op.type == "Fill"
    u = tf.placeholder(tf.float32, [None, 3])
    assert tf.shape(u).op.type == "Shape" and tf.zeros_like(u).op.type == "ZerosLike"
    assert tf.zeros([100, 20]).op.type == "Fill"


def test_tensor_shape_converts_to_shape_as_tensor(g):
    t = tf.convert_to_tensor(tf.TensorShape([2, 3]))
    assert t.op.name == "shape_as_tensor" and t.dtype == tf.int32
    with pytest.raises(ValueError, match="partially known"):
        tf.convert_to_tensor(tf.TensorShape([None, 3]))


# -- builders and kernels the fixtures do not cover -----------------------------------------------
def test_autopacking_nested_lists(g):
    a = tf.placeholder(tf.float32, [])
    t = tf.convert_to_tensor([[a, 1.0], [2.0, 3.0]])
    assert t.op.type == "Pack" and t.op.name == "packed"
    assert t.shape.as_list() == [2, 2]
    np.testing.assert_array_equal(_run(t, {a: 5.0}), [[5, 1], [2, 3]])
    i = tf.placeholder(tf.int32, [])
    c = tf.convert_to_tensor([i, 7], dtype=tf.int64)
    assert c.dtype == tf.int64
    np.testing.assert_array_equal(_run(c, {i: 3}), [3, 7])


def test_single_output_multi_output_ops(g):
    x = tf.placeholder(tf.float32, [1, 3])
    (part,) = tf.unstack(x)
    (whole,) = tf.split(x, 1, axis=1)
    (sized,) = tf.split(x, [3], axis=1)
    v = np.array([[1, 2, 3]], np.float32)
    got = _run([part, whole, sized], {x: v})
    np.testing.assert_array_equal(got[0], v[0])
    np.testing.assert_array_equal(got[1], v)
    np.testing.assert_array_equal(got[2], v)


def test_split_v_infers_minus_one(g):
    x = tf.placeholder(tf.float32, [2, 7])
    parts = tf.split(x, [2, -1, 1], axis=1)
    assert [p.shape.as_list() for p in parts] == [[2, 2], [2, 4], [2, 1]]
    v = np.arange(14, dtype=np.float32).reshape(2, 7)
    for got, want in zip(_run(parts, {x: v}), np.split(v, [2, 6], axis=1)):
        np.testing.assert_array_equal(got, want)


def test_gather_batch_dims_and_gather_nd(g):
    p = tf.placeholder(tf.float32, [2, 3, 4])
    i = tf.placeholder(tf.int32, [2, 2])
    out = tf.gather(p, i, axis=2, batch_dims=1)
    assert out.shape.as_list() == [2, 3, 2]
    pv = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    iv = np.array([[1, 3], [0, 2]], np.int32)
    want = np.stack([np.take(pv[b], iv[b], axis=1) for b in range(2)])
    np.testing.assert_array_equal(_run(out, {p: pv, i: iv}), want)
    nd = tf.gather_nd(p, [[1, 0], [0, 2]])
    assert nd.shape.as_list() == [2, 4]
    np.testing.assert_array_equal(_run(nd, {p: pv}), pv[[1, 0], [0, 2]])


@pytest.mark.parametrize("mode", ["CONSTANT", "REFLECT", "SYMMETRIC"])
def test_pad_modes(g, mode):
    x = tf.placeholder(tf.float32, [2, 3])
    pads = [[1, 1], [2, 0]]
    out = tf.pad(x, pads, mode)
    assert out.shape.as_list() == [4, 5]
    v = np.arange(6, dtype=np.float32).reshape(2, 3)
    np_mode = {"CONSTANT": "constant", "REFLECT": "reflect", "SYMMETRIC": "symmetric"}[mode]
    np.testing.assert_array_equal(_run(out, {x: v}), np.pad(v, pads, mode=np_mode))


def test_pad_constant_value_uses_pad_v2(g):
    x = tf.placeholder(tf.int32, [2])
    out = tf.pad(x, [[1, 2]], constant_values=9)
    assert out.op.type == "PadV2"
    np.testing.assert_array_equal(_run(out, {x: [1, 2]}), [9, 1, 2, 9, 9])


def test_reverse_broadcast_to_where(g):
    x = tf.placeholder(tf.int32, [2, 3])
    v = np.arange(6, dtype=np.int32).reshape(2, 3)
    np.testing.assert_array_equal(_run(tf.reverse(x, [-1]), {x: v}), v[:, ::-1])
    b = tf.broadcast_to(tf.constant([1, 2, 3]), [2, 3])
    assert b.shape.as_list() == [2, 3]
    got = _run(b)
    got[0, 0] = 7  # a fetched broadcast is an ordinary, writable array
    w = tf.where(x)
    assert w.shape.as_list() == [None, 2] and w.dtype == tf.int64
    np.testing.assert_array_equal(_run(w, {x: v}), np.argwhere(v))


@pytest.mark.parametrize("axis", [-1, 0, 1, 2])
def test_one_hot_axes(g, axis):
    i = tf.placeholder(tf.int64, [2, 3])
    out = tf.one_hot(i, 4, on_value=2.0, off_value=-1.0, axis=axis)
    iv = np.array([[0, 3, -1], [5, 1, 2]])
    hot = np.where(iv[..., None] == np.arange(4), 2.0, -1.0).astype(np.float32)
    want = hot if axis == -1 else np.moveaxis(hot, -1, axis)
    assert out.shape.as_list() == list(want.shape)
    np.testing.assert_array_equal(_run(out, {i: iv}), want)


def test_transpose_unknown_rank_builds_range(g):
    x = tf.placeholder(tf.float32, None)
    y = tf.transpose(x)
    types = dict(_nodes(tf.get_default_graph()))
    assert types["transpose/Rank"] == "Rank" and types["transpose/Range"] == "Range"
    if has_kernel("Range", "CPU") and has_kernel("Sub", "CPU"):
        v = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
        np.testing.assert_array_equal(_run(y, {x: v}), v.T)


def test_reshape_infers_and_keeps_empty(g):
    x = tf.placeholder(tf.float32, None)
    cases = [((0, 3), [-1, 0], (3, 0)), ((0, 3), [3, -1], (3, 0)), ((2, 3), [-1], (6,)),
             ((1, 1), [], ())]
    for shape, new, want in cases:
        got = _run(tf.reshape(x, tf.constant(new, tf.int32)), {x: np.zeros(shape, np.float32)})
        assert got.shape == want


def test_strided_slice_all_mask_combinations(g):
    x = tf.placeholder(tf.int32, [4, 5])
    v = np.arange(20, dtype=np.int32).reshape(4, 5)
    for bm, em, sm in itertools.product(range(4), range(4), range(4)):
        out = tf.strided_slice(x, [1, -2], [3, 5], [1, -1], begin_mask=bm, end_mask=em,
                               shrink_axis_mask=sm)
        index = []
        for k, (b, e, s) in enumerate(zip([1, -2], [3, 5], [1, -1])):
            if sm >> k & 1:
                index.append(b)
            else:
                index.append(slice(None if bm >> k & 1 else b, None if em >> k & 1 else e, s))
        want = v[tuple(index)]
        assert out.shape.as_list() == list(want.shape)
        np.testing.assert_array_equal(_run(out, {x: v}), want)


# -- gathers on a CUDA device: no index check (TF's GPU kernels give zeros) ------------------------
def _fake_cupy():
    """numpy under the name "cupy": the kernels take their device path."""
    import types

    mod = types.ModuleType("cupy")
    mod.__getattr__ = lambda name: getattr(np, name)
    return mod


@pytest.mark.parametrize("axis, batch_dims", [(0, 0), (1, 0), (1, 1), (2, 1)])
def test_gather_on_a_cuda_device_gives_zeros_for_out_of_range_indices(axis, batch_dims):
    from gmeta.kernels import KernelContext, lookup

    rng = np.random.default_rng(4)
    params = rng.normal(size=(2, 3, 4)).astype(np.float32)
    limit = params.shape[axis]
    indices = np.array([[0, limit, 1], [-1, limit - 1, 2 * limit]], np.int32)[:, :2 + axis]
    with tf.Graph().as_default():
        out = tf.gather(tf.constant(params), tf.placeholder(tf.int32, indices.shape),
                        axis=axis, batch_dims=batch_dims)
    kdef = lookup("GatherV2", "GPU")
    got = kdef.factory(KernelContext(out.op, _fake_cupy(), "GPU", None))(
        params, indices, np.int32(axis))
    bad = (indices < 0) | (indices >= limit)
    cpu = kdef.factory(KernelContext(out.op, np, "CPU", None))
    want = cpu(params, np.where(bad, 0, indices), np.int32(axis))
    b = batch_dims
    mask = bad.reshape(indices.shape[:b] + (1,) * (axis - b) + indices.shape[b:] +
                       (1,) * (params.ndim - axis - 1))
    want = np.where(mask, 0, want)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.float32 and bad.any() and (got != 0).any()
    with pytest.raises(tf.errors.InvalidArgumentError, match="is not in"):
        cpu(params, indices, np.int32(axis))  # the CPU kernel checks, as TF's does


def test_resource_gather_on_a_cuda_device_gives_zeros_for_out_of_range_indices():
    from gmeta.kernels import KernelContext, lookup
    from gmeta.kernels.state import VarRef

    params = np.arange(12, dtype=np.float32).reshape(4, 3)
    with tf.Graph().as_default():
        v = tf.Variable(params, use_resource=True)
        out = tf.gather(v, tf.placeholder(tf.int32, [3]))
    ref = VarRef("v", tf.float32, [4, 3])
    ref.value = params
    run = lookup("ResourceGather", "GPU").factory(
        KernelContext(out.op, _fake_cupy(), "GPU", None))
    got = run(ref, np.array([3, 4, -1], np.int32))
    np.testing.assert_array_equal(got, [params[3], np.zeros(3), np.zeros(3)])


def test_slice_and_reshape_fast_paths_keep_tfs_checks():
    """Slice remembers checked indices per (shape, begin, size) and Reshape tries numpy's rule
    first; both must still raise TF's errors, also right after a valid call with equal bytes."""
    from gmeta.kernels import KernelContext, lookup

    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [4, 6])
        sl = tf.slice(x, tf.placeholder(tf.int32, None), tf.placeholder(tf.int32, None)).op
        rs = tf.reshape(x, tf.placeholder(tf.int32, None)).op
    slice_ = lookup("Slice", "CPU").factory(KernelContext(sl, np, "CPU", None))
    reshape = lookup("Reshape", "CPU").factory(KernelContext(rs, np, "CPU", None))
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    i32 = lambda *v: np.array(v, np.int32)  # noqa: E731
    for _ in range(2):  # computed, then remembered
        np.testing.assert_array_equal(slice_(a, i32(1, 2), i32(2, -1)), a[1:3, 2:])
    with pytest.raises(errors.InvalidArgumentError, match="1-D tensors of size 2"):
        slice_(a, i32(1, 2).reshape(1, 2), i32(2, -1).reshape(1, 2))  # same bytes, 2-D
    with pytest.raises(errors.InvalidArgumentError, match=r"Expected size\[1\] in \[0, 4\]"):
        slice_(a, i32(1, 2), i32(2, 5))
    np.testing.assert_array_equal(reshape(a, i32(3, -1)), a.reshape(3, 8))
    np.testing.assert_array_equal(reshape(np.zeros((0, 4), np.float32), i32(0, -1)).shape,
                                  (0, 4))  # TF infers -1 with a zero size; numpy refuses
    with pytest.raises(errors.InvalidArgumentError, match="Only one input size may be -1"):
        reshape(a, i32(-1, -1))
    with pytest.raises(errors.InvalidArgumentError, match="requires a multiple of 5"):
        reshape(a, i32(5, -1))
