"""Math kernels, builders and shape functions: behaviour the TF fixtures do not pin.

Reference values come from numpy (and facts recorded from TF 2.21, noted where they surprise):
errors that name their node, exact output dtypes and 0-d arrays, TF's integer and NaN rules,
static shapes with unknown dimensions, and build-time constant folding.
"""

from __future__ import annotations

import numpy as np
import pytest

import gmeta as tf
from gmeta import errors
from gmeta.framework import op_def_library
from gmeta.kernels import KernelContext, lookup


@pytest.fixture
def g():
    graph = tf.Graph()
    with graph.as_default():
        yield graph


def _run(fetches, feeds=None):
    with tf.Session() as sess:
        return sess.run(fetches, feeds)


def _kernel(tensor):
    """The CPU kernel closure of ``tensor``'s op."""
    op = tensor.op
    return lookup(op.type, "CPU").factory(KernelContext(op, np, "CPU", None))


def _ph(dtype, shape, name=None):
    return tf.placeholder(dtype, shape, name=name)


# -- run-time errors name their node ---------------------------------------------------------------
@pytest.mark.parametrize("build, cls, text", [
    (lambda x, y: x // y, errors.InvalidArgumentError, "Integer division by zero"),
    (lambda x, y: x % y, errors.InvalidArgumentError, "Integer division by zero"),
    (lambda x, y: tf.div(x, y), errors.InvalidArgumentError, "Integer division by zero"),
    # TF 2.21's TruncateDiv/TruncateMod kernels report division by zero as Internal.
    (lambda x, y: tf.truncatediv(x, y), errors.InternalError, "Integer division by zero"),
    (lambda x, y: tf.truncatemod(x, y), errors.InternalError, "Integer division by zero"),
    (lambda x, y: tf.pow(x, y - 1), errors.InvalidArgumentError, "negative integer powers"),
])
def test_integer_errors_name_the_node(g, build, cls, text):
    x, y = _ph(tf.int32, [3], "x"), _ph(tf.int32, [3], "y")
    out = build(x, y)
    with pytest.raises(cls) as info:
        _run(out, {x: [5, -5, 1], y: [2, 0, 1]})
    assert info.value.op is out.op
    assert text in info.value.message and out.op.name in info.value.message


def test_shape_errors_at_run_time_name_the_node(g):
    x, y = _ph(tf.float32, None, "x"), _ph(tf.float32, None, "y")
    cases = [
        (x + y, "Incompatible shapes: [2,3] vs. [4]"),
        (tf.matmul(_ph(tf.float32, [None, None]), _ph(tf.float32, [None, None])), None),
        (tf.reduce_sum(x, _ph(tf.int32, [], "axis")), "Invalid reduction dimension (5"),
        (tf.argmax(x, _ph(tf.int32, [], "dim")), "Expected dimension in the range [-2, 2)"),
    ]
    feeds = {x: np.zeros((2, 3), np.float32), y: np.zeros(4, np.float32)}
    for out, text in cases:
        feed = dict(feeds)
        for t in out.op.inputs:
            if t.op.type == "Placeholder" and t not in feed:
                feed[t] = 5 if t.dtype == tf.int32 else np.zeros((4, 2), np.float32)
        if out.op.type == "MatMul":
            feed = {out.op.inputs[0]: np.zeros((2, 3), np.float32),
                    out.op.inputs[1]: np.zeros((4, 2), np.float32)}
            text = "Matrix size-incompatible: In[0]: [2,3], In[1]: [4,2]"
        with pytest.raises(errors.InvalidArgumentError) as info:
            _run(out, feed)
        assert info.value.op is out.op and text in info.value.message
        assert out.op.name in info.value.message


def test_range_errors_at_run_and_build_time(g):
    d = _ph(tf.int32, [], "d")
    r = tf.range(0, 5, d)
    with pytest.raises(errors.InvalidArgumentError, match="Requires delta != 0"):
        _run(r, {d: 0})
    with pytest.raises(errors.InvalidArgumentError, match="Requires start <= limit"):
        _run(tf.range(d, 2), {d: 5})
    with pytest.raises(errors.InvalidArgumentError, match="must be a scalar"):
        _run(tf.range(_ph(tf.int32, None, "n")), {"n:0": [1, 2]})
    with pytest.raises(ValueError, match="Requires delta != 0"):
        tf.range(0, 5, 0)
    with pytest.raises(ValueError, match="Requires start >= limit when delta < 0"):
        tf.range(0, 5, -1)


def test_argmax_of_an_empty_axis(g):
    x = _ph(tf.float32, None, "x")
    with pytest.raises(errors.InvalidArgumentError, match=r"Reduction axis 0 is empty in shape"):
        _run(tf.argmax(x, 0), {x: np.zeros((0, 2), np.float32)})


# -- build-time dtype errors -----------------------------------------------------------------------
def test_mixed_python_value_raises_type_error(g):
    x = _ph(tf.int32, [2], "x")
    with pytest.raises(TypeError, match="Expected int32"):
        _ = 1.5 - x
    with pytest.raises(TypeError, match="Invalid dtype bool in __truediv__"):
        b = _ph(tf.bool, [2], "b")
        _ = b / b
    with pytest.raises(TypeError, match="not in list of allowed values"):
        tf.sqrt(x)


@pytest.mark.parametrize("build, text", [
    (lambda f, i: tf.add(f, i), "Input 'y' of 'AddV2' Op has type int32"),
    (lambda f, i: f * i, "Input 'y' of 'Mul' Op has type int32"),
    (lambda f, i: tf.matmul(f, i), "Input 'b' of 'MatMul' Op has type int32"),
    (lambda f, i: tf.logical_and(f, f), "Input 'x' of 'LogicalAnd' Op has type float32"),
])
def test_mixed_tensor_dtypes_raise_type_error(g, build, text):
    f, i = _ph(tf.float32, [2, 2], "f"), _ph(tf.int32, [2, 2], "i")
    with pytest.raises(TypeError, match=text):
        build(f, i)


# -- dtypes, 0-d results, numpy's differences ------------------------------------------------------
def test_zero_d_results_are_arrays_of_the_exact_dtype(g):
    x, y = _ph(tf.int32, [], "x"), _ph(tf.float16, [], "y")
    outs = [x + x, x * 2, -x, abs(x), tf.reduce_sum(x), tf.cast(x, tf.float32), y * y,
            tf.reduce_mean(tf.reshape(y, [1])), tf.argmax(tf.reshape(x, [1])), x > 1,
            tf.sqrt(y), tf.maximum(y, y), tf.add_n([x, x])]
    values = {x: np.array(3, np.int32), y: np.array(1.5, np.float16)}
    for out in outs:
        args = []
        for t in out.op.inputs:
            args.append(values[t] if t in values else _run(t, values))
        got = _kernel(out)(*[np.asarray(a, t.dtype.as_numpy_dtype)
                             for a, t in zip(args, out.op.inputs)])
        assert isinstance(got, np.ndarray), out.op.type
        assert got.dtype == out.dtype.as_numpy_dtype, out.op.type


def test_integer_arithmetic_keeps_its_dtype_and_wraps(g):
    u = _ph(tf.uint8, [3], "u")
    i = _ph(tf.int32, [3], "i")
    got = _run([u + u, tf.reduce_sum(u), tf.reduce_sum(i), tf.reduce_prod(i), tf.square(i)],
               {u: [200, 100, 1], i: [2**30, 2**30, 3]})
    assert got[0].dtype == np.uint8 and got[0].tolist() == [144, 200, 2]
    assert got[1].dtype == np.uint8 and int(got[1]) == 301 % 256
    assert got[2].dtype == np.int32 and int(got[2]) == (2**31 + 3) - 2**32
    assert got[3].dtype == np.int32 and got[4].dtype == np.int32


def test_integer_mean_sums_in_64_bits_and_truncates(g):
    # Recorded from TF 2.21: narrow integer means do not overflow; int64 sums wrap.
    i8 = _ph(tf.int8, [2, 3], "i8")
    i32 = _ph(tf.int32, [2], "i32")
    u8 = _ph(tf.uint8, [3], "u8")
    got = _run([tf.reduce_mean(i8, 1), tf.reduce_mean(i8, 0), tf.reduce_mean(i32),
                tf.reduce_mean(u8), tf.reduce_mean(tf.zeros([0, 2], tf.int32), 0)],
               {i8: [[-7, 0, 0], [1, 2, 2]], i32: [2**31 - 1, 2**31 - 1], u8: [255, 255, 254]})
    assert got[0].tolist() == [-2, 1] and got[1].tolist() == [-3, 1, 1]
    assert int(got[2]) == 2**31 - 1 and int(got[3]) == 254
    assert got[4].tolist() == [0, 0] and got[4].dtype == np.int32


def test_empty_reductions(g):
    x = _ph(tf.float32, [0, 2], "x")
    i = _ph(tf.int64, [2, 0], "i")
    got = _run([tf.reduce_max(x, 0), tf.reduce_min(i, 1), tf.reduce_mean(x, 0),
                tf.reduce_prod(i), tf.reduce_all(tf.cast(x, tf.bool)),
                tf.reduce_any(tf.cast(x, tf.bool))],
               {x: np.zeros((0, 2), np.float32), i: np.zeros((2, 0), np.int64)})
    assert got[0].tolist() == [-np.inf, -np.inf]
    assert got[1].tolist() == [np.iinfo(np.int64).max] * 2
    assert np.isnan(got[2]).all() and int(got[3]) == 1
    assert bool(got[4]) is True and bool(got[5]) is False


def test_float_division_family_follows_tf(g):
    x = _ph(tf.float32, [6], "x")
    y = _ph(tf.float32, [6], "y")
    feeds = {x: [5.5, -5.5, 5.5, -6.0, 1.0, 0.0], y: [3.0, 3.0, -3.0, 3.0, 0.0, 0.0]}
    got = _run([x // y, x % y, tf.truncatediv(x, y), tf.truncatemod(x, y),
                tf.div_no_nan(x, y), tf.multiply_no_nan(x / y, y), tf.xdivy(x, y)], feeds)
    with np.errstate(all="ignore"):
        xv, yv = (np.asarray(feeds[t], np.float32) for t in (x, y))
        np.testing.assert_array_equal(got[0], np.floor(xv / yv))
        fmod = np.fmod(xv, yv)
        np.testing.assert_array_equal(got[1], np.where((fmod != 0) & ((yv < 0) != (fmod < 0)),
                                                       fmod + yv, fmod))
        np.testing.assert_array_equal(got[2], np.trunc(xv / yv))
        np.testing.assert_array_equal(got[3], fmod)
        np.testing.assert_array_equal(got[4], np.where(yv == 0, 0, xv / yv))
        np.testing.assert_array_equal(got[5][yv == 0], [0.0, 0.0])
        np.testing.assert_array_equal(got[6], np.where(xv == 0, 0, xv / yv))
    assert np.signbit(got[1][3])  # -6 mod 3 keeps fmod's -0.0, as TF does


def test_integer_division_rounding(g):
    x = _ph(tf.int32, [4], "x")
    y = _ph(tf.int32, [4], "y")
    feeds = {x: [7, -7, 7, -7], y: [2, 2, -2, -2]}
    got = _run([x // y, x % y, tf.div(x, y), tf.truncatediv(x, y), tf.truncatemod(x, y),
                tf.realdiv(tf.cast(x, tf.float32), tf.cast(y, tf.float32))], feeds)
    assert got[0].tolist() == [3, -4, -4, 3] and got[1].tolist() == [1, 1, -1, -1]
    assert got[2].tolist() == [3, -4, -4, 3]  # tf.div on ints is FloorDiv
    assert got[3].tolist() == [3, -3, -3, 3] and got[4].tolist() == [1, -1, 1, -1]
    assert got[5].dtype == np.float32


def test_truediv_casts_as_tf(g):
    for dtype, want in ((tf.int8, np.float32), (tf.uint16, np.float32), (tf.int32, np.float64),
                        (tf.int64, np.float64), (tf.float16, np.float16)):
        x = _ph(dtype, [2], None)
        out = x / x
        assert out.dtype.as_numpy_dtype == want
        assert _run(out, {x: [1, 2]}).dtype == want


def test_casts(g):
    x = _ph(tf.float32, [6], "x")
    feeds = {x: [-2.7, -0.5, 0.0, np.nan, 300.0, 2.5]}
    got = _run([tf.cast(x, tf.int32), tf.cast(x, tf.bool), tf.cast(x, tf.uint8),
                tf.cast(tf.cast(x, tf.complex64), tf.float32), tf.to_int64(x),
                tf.saturate_cast(x, tf.uint8)], feeds)
    assert got[0].tolist()[:3] == [-2, 0, 0] and got[0].tolist()[5] == 2
    assert got[1].tolist() == [True, True, False, True, True, True]
    assert got[2].tolist()[4] == 44  # 300 wraps as a C cast does
    np.testing.assert_array_equal(got[3], np.asarray(feeds[x], np.float32))
    assert got[4].dtype == np.int64
    assert got[5].tolist()[4] == 255 and got[5].tolist()[0] == 0  # saturated


def test_nan_rules(g):
    x = _ph(tf.float32, [3], "x")
    feeds = {x: [np.nan, 1.0, 3.0]}
    got = _run([tf.reduce_max(x), tf.reduce_min(x), tf.argmax(x), tf.argmin(x),
                tf.maximum(x, 2.0), tf.not_equal(x, x), tf.sign(x)], feeds)
    assert np.isnan(got[0]) and np.isnan(got[1])
    # TF's arg reductions never select a NaN.
    assert int(got[2]) == 2 and int(got[3]) == 1
    assert np.isnan(got[4][0]) and got[5].tolist() == [True, False, False]
    assert np.isnan(got[6][0])


def test_round_and_sigmoid(g):
    x = _ph(tf.float32, [6], "x")
    got = _run([tf.round(x), tf.sigmoid(x), tf.rint(x)],
               {x: [0.5, 1.5, 2.5, -0.5, -1000.0, 1000.0]})
    assert got[0].tolist() == [0.0, 2.0, 2.0, -0.0, -1000.0, 1000.0]
    assert got[1].tolist()[4:] == [0.0, 1.0]
    i = _ph(tf.int32, [2], "i")
    assert tf.round(i) is i


def test_equal_without_shape_error(g):
    x, y = _ph(tf.float32, None, "x"), _ph(tf.float32, None, "y")
    eq = op_def_library.apply_op("Equal", x=x, y=y, incompatible_shape_error=False)
    ne = op_def_library.apply_op("NotEqual", x=x, y=y, incompatible_shape_error=False)
    got = _run([eq, ne], {x: np.zeros((2, 3)), y: np.zeros(4)})
    assert got[0].shape == () and not got[0] and got[1]


def test_strings_add_and_compare(g):
    s = _ph(tf.string, [2], "s")
    got = _run([s + s, tf.equal(s, "ab")], {s: [b"ab", b"c"]})
    assert got[0].tolist() == [b"abab", b"cc"] and got[1].tolist() == [True, False]


# -- matmul, selection, scans, sequences -----------------------------------------------------------
def test_batch_matmul_broadcast_and_adjoint(g):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 1, 3, 2)).astype(np.float32)
    b = rng.standard_normal((4, 3, 5)).astype(np.float32)
    pa, pb = _ph(tf.float32, [None, None, 3, 2]), _ph(tf.float32, [4, None, 5])
    out = tf.matmul(pa, pb, transpose_a=True)
    assert out.op.type == "BatchMatMulV2" and out.shape.as_list() == [None, 4, 2, 5]
    np.testing.assert_allclose(_run(out, {pa: a, pb: b}), np.swapaxes(a, -1, -2) @ b,
                               rtol=1e-5)
    c = (rng.standard_normal((2, 2)) + 1j * rng.standard_normal((2, 2))).astype(np.complex64)
    pc = _ph(tf.complex64, [2, 2])
    np.testing.assert_allclose(_run(tf.matmul(pc, pc, adjoint_b=True), {pc: c}), c @ c.conj().T,
                               rtol=1e-5)


def test_select_kernels(g):
    c = _ph(tf.bool, None, "c")
    x, y = _ph(tf.float32, None, "x"), _ph(tf.float32, None, "y")
    sel = op_def_library.apply_op("Select", condition=c, t=x, e=y)
    sel2 = op_def_library.apply_op("SelectV2", condition=c, t=x, e=y)
    xs, ys = np.ones((3, 2), np.float32), np.zeros((3, 2), np.float32)
    assert _run(sel, {c: [True, False, True], x: xs, y: ys}).tolist() == \
        [[1, 1], [0, 0], [1, 1]]
    assert _run(sel, {c: False, x: xs, y: ys}).tolist() == ys.tolist()
    assert _run(sel2, {c: [[True], [False], [True]], x: xs, y: 5.0}).tolist() == \
        [[1, 1], [5, 5], [1, 1]]
    with pytest.raises(errors.InvalidArgumentError, match="'then' and 'else' must have"):
        _run(sel, {c: [True], x: xs, y: np.zeros(2, np.float32)})
    with pytest.raises(errors.InvalidArgumentError, match="must be broadcastable"):
        _run(sel2, {c: [True, False, True], x: xs, y: ys})


def test_cumulative_ops(g):
    x = _ph(tf.int32, [2, 3], "x")
    v = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
    got = _run([tf.cumsum(x, 1), tf.cumsum(x, 1, exclusive=True),
                tf.cumsum(x, 1, reverse=True), tf.cumsum(x, -1, exclusive=True, reverse=True),
                tf.cumprod(x, 0, exclusive=True)], {x: v})
    assert got[0].tolist() == np.cumsum(v, 1).tolist()
    assert got[1].tolist() == [[0, 1, 3], [0, 4, 9]]
    assert got[2].tolist() == [[6, 5, 3], [15, 11, 6]]
    assert got[3].tolist() == [[5, 3, 0], [11, 6, 0]]
    assert got[4].tolist() == [[1, 1, 1], [1, 2, 3]] and got[4].dtype == np.int32


def test_range_and_linspace_values(g):
    got = _run([tf.range(1, 2, 0.3), tf.range(10, 2, -3), tf.range(5, dtype=tf.int64),
                tf.linspace(0.0, 1.0, 5), tf.lin_space(2.0, 3.0, 1)])
    np.testing.assert_allclose(got[0], [1.0, 1.3, 1.6, 1.9], rtol=1e-6)
    assert got[0].dtype == np.float32
    assert got[1].tolist() == [10, 7, 4] and got[2].dtype == np.int64
    assert got[3].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0] and got[4].tolist() == [2.0]


def test_clip_count_logsumexp(g):
    x = _ph(tf.float32, [2, 3], "x")
    v = np.array([[-2.0, 0.5, 3.0], [0.0, 1.0, -1.0]], np.float32)
    got = _run([tf.clip_by_value(x, -1.0, 1.0), tf.count_nonzero(x, 1),
                tf.reduce_logsumexp(x, 1), tf.reduce_logsumexp(x)], {x: v})
    assert got[0].tolist() == np.clip(v, -1, 1).tolist()
    assert got[1].tolist() == [3, 2] and got[1].dtype == np.int64
    np.testing.assert_allclose(got[2], np.log(np.exp(v).sum(1)), rtol=1e-6)
    np.testing.assert_allclose(got[3], np.log(np.exp(v).sum()), rtol=1e-6)


# -- static shapes and constant folding ------------------------------------------------------------
def test_broadcast_shapes_with_unknown_dims(g):
    a = _ph(tf.float32, [None, 3], "a")
    b = _ph(tf.float32, [None, None], "b")
    c = _ph(tf.float32, [None, 1], "c")
    assert (a + b).shape.as_list() == [None, 3]
    assert (a + c).shape.as_list() == [None, 3]
    assert (b * c).shape.as_list() == [None, None]
    assert (a + _ph(tf.float32, None)).shape.ndims is None
    assert (a > 1.0).shape.as_list() == [None, 3]
    with pytest.raises(ValueError, match="Dimensions must be equal, but are 3 and 4"):
        _ = a + _ph(tf.float32, [4])


def test_reduction_and_arg_shapes(g):
    x = _ph(tf.float32, [None, 3, 4], "x")
    axis = _ph(tf.int32, [], "axis")
    assert tf.reduce_sum(x, [0, -1]).shape.as_list() == [3]
    assert tf.reduce_sum(x, 1, keepdims=True).shape.as_list() == [None, 1, 4]
    assert tf.reduce_sum(x, axis, keepdims=True).shape.as_list() == [None, None, None]
    assert tf.reduce_sum(x, axis).shape.ndims is None
    assert tf.reduce_sum(x).shape.as_list() == []
    assert tf.argmax(x, -1).shape.as_list() == [None, 3]
    assert tf.argmax(x, axis).shape.as_list() == [None, None]
    # Constant subgraphs are folded as TF's shape inference folds them.
    assert tf.reduce_sum(x, tf.constant(1) + 1).shape.as_list() == [None, 3]
    assert tf.range(tf.constant(3) * 2).shape.as_list() == [6]
    with pytest.raises(ValueError, match="Invalid reduction dimension 3"):
        tf.reduce_sum(x, 3)


def test_operators_on_variables(g):
    v = tf.Variable([1.0, -2.0], name="v")
    outs = [v + 1.0, 1.0 - v, v * v, v / 2.0, -v, abs(v), v > 0.0, v ** 2.0]
    assert [o.op.name for o in outs] == ["add", "sub", "mul", "truediv", "Neg", "Abs",
                                         "Greater", "pow"]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(outs)
    assert got[0].tolist() == [2.0, -1.0] and got[1].tolist() == [0.0, 3.0]
    assert got[6].tolist() == [True, False] and got[7].tolist() == [1.0, 4.0]


def test_bitwise_and_bool_operators(g):
    i, j = _ph(tf.int32, [3], "i"), _ph(tf.int32, [3], "j")
    b = _ph(tf.bool, [3], "b")
    outs = [i & j, i | j, i ^ j, ~i, b * b, ~b]
    assert [o.op.type for o in outs] == ["BitwiseAnd", "BitwiseOr", "BitwiseXor", "Invert",
                                         "Cast", "LogicalNot"]
    assert outs[0].op.name == "and/BitwiseAnd"
    got = _run(outs, {i: [1, 2, 3], j: [3, 3, 3], b: [True, False, True]})
    assert got[0].tolist() == [1, 2, 3] and got[2].tolist() == [2, 1, 0]
    assert got[3].tolist() == [-2, -3, -4] and got[4].tolist() == [True, False, True]
