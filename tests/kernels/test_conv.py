"""Convolution, pooling and fused batch-norm kernels and shape functions against TF.

The cases (tests/fixtures/data/conv_cases.*, by tests/fixtures/make_conv_fixtures.py) are raw
ops TF's CPU kernels ran: every case checks gmeta's static shapes against TF's, its values and
dtypes, and, for error cases, the error class (run time: raised by the kernel with ``.op`` set and
the node named; build time: ValueError from the shape function). Extra tests pin what the
fixtures cannot: adjoint identities between the forward ops and their gradients in the
configurations TF's CPU has no kernel for (grouped/dilated backprops), CuPy-safe chunking, and
attr errors.

Tolerances (rtol and atol): float64 1e-10, float32 1e-5 (the convolutions' sums of up to a few
hundred products meet it too, though summed in another order than Eigen's), float16 1e-2
(computed in float32 here, partly in half by TF's CPU kernels).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import gmeta as tf
import gmeta.kernels.conv  # noqa: F401  (until gmeta/kernels/__init__.py imports it)
import gmeta.ops.conv_shapes  # noqa: F401  (until gmeta/__init__.py imports it)
from gmeta import errors
from gmeta.framework.op_def_library import apply_op

DATA = os.path.join(os.path.dirname(__file__), os.pardir, "fixtures", "data")
with open(os.path.join(DATA, "conv_cases.json")) as _f:
    CASES = {c["name"]: c for c in json.load(_f)}
ARRAYS = dict(np.load(os.path.join(DATA, "conv_cases.npz")))

VALUE_CASES = sorted(n for n, c in CASES.items() if c["error"] is None)
RUN_ERRORS = sorted(n for n, c in CASES.items() if c["error"] and c["error"]["where"] == "run")
BUILD_ERRORS = sorted(n for n, c in CASES.items() if c["error"] and c["error"]["where"] == "build")


def _inputs(case):
    return {arg: ARRAYS[f"{case['name']}/in/{arg}"] for arg in case["inputs"]}


def _build(case, unknown=False):
    """The case's op from placeholders (Consts for its shape inputs); (outputs, feed_dict)."""
    feeds, kwargs = {}, {}
    for arg, value in _inputs(case).items():
        if arg in case["consts"]:
            kwargs[arg] = tf.constant(value, name=arg)
        else:
            ph = tf.placeholder(tf.as_dtype(value.dtype), None if unknown else value.shape,
                                name=arg)
            feeds[ph] = value
            kwargs[arg] = ph
    outs = apply_op(case["op"], name="op", **kwargs, **case["attrs"])
    return (list(outs) if isinstance(outs, (list, tuple)) else [outs]), feeds


def _tolerance(dtype):
    if dtype == np.float16:
        return 1e-2
    if dtype == np.float64:
        return 1e-10
    return 1e-5


@pytest.mark.parametrize("name", VALUE_CASES)
def test_values_dtypes_and_static_shapes_match_tf(name):
    case = CASES[name]
    with tf.Graph().as_default():
        outs, feeds = _build(case)
        got_static = [None if t.shape.ndims is None else t.shape.as_list() for t in outs]
        assert got_static == case["static_shapes"], "static shapes differ from TF's"
        with tf.Session() as sess:
            values = sess.run(outs, feeds)
    for i, value in enumerate(values):
        assert str(value.dtype) == case["output_dtypes"][i], f"output {i} dtype"
        assert list(value.shape) == case["output_shapes"][i], f"output {i} shape"
        if i not in case["compared"]:
            continue
        want = ARRAYS[f"{name}/out/{i}"]
        tol = _tolerance(want.dtype)
        np.testing.assert_allclose(value.astype(np.float64), want.astype(np.float64), rtol=tol,
                                   atol=tol, err_msg=f"{name} output {i}")


@pytest.mark.parametrize("name", RUN_ERRORS)
def test_runtime_errors_match_tf_and_name_the_node(name):
    case = CASES[name]
    with tf.Graph().as_default():
        outs, feeds = _build(case, unknown=True)
        with tf.Session() as sess:
            with pytest.raises(errors.OpError) as info:
                sess.run(outs, feeds)
    assert type(info.value).__name__ == case["error"]["class"], str(info.value)
    assert info.value.op is not None and info.value.op.name == "op"
    assert "'op'" in str(info.value)


@pytest.mark.parametrize("name", BUILD_ERRORS)
def test_build_errors_match_tf(name):
    case = CASES[name]
    with tf.Graph().as_default():
        with pytest.raises(ValueError) as info:
            _build(case)
    theirs = case["error"]["message"].split(" for '{{node")[0]
    assert theirs in str(info.value)
    assert "'op'" in str(info.value)


# -- properties the fixtures cannot pin ---------------------------------------------------------
def _run_op(op_type, **kwargs):
    with tf.Graph().as_default():
        out = apply_op(op_type, name="op", **kwargs)
        with tf.Session() as sess:
            return sess.run(out)


def _conv_attrs(strides, dilations, padding, fmt, explicit=None):
    def order(v):
        return [1, 1, v[0], v[1]] if fmt == "NCHW" else [1, v[0], v[1], 1]

    attrs = dict(strides=order(strides), dilations=order(dilations), padding=padding,
                 data_format=fmt)
    if explicit is not None:
        (t, b), (l, r) = explicit
        attrs["explicit_paddings"] = ([0, 0, 0, 0, t, b, l, r] if fmt == "NCHW"
                                      else [0, 0, t, b, l, r, 0, 0])
    return attrs


ADJOINT_CONFIGS = [
    ("Conv2D", (2, 7, 6, 4), (3, 3, 2, 6), (2, 1), (1, 2), "SAME", "NHWC", None),
    ("Conv2D", (1, 9, 8, 6), (2, 3, 3, 4), (1, 2), (2, 1), "VALID", "NCHW", None),
    ("Conv2D", (2, 6, 7, 3), (3, 2, 3, 5), (2, 2), (2, 2), "EXPLICIT", "NHWC",
     ((1, 2), (0, 3))),
    ("DepthwiseConv2dNative", (2, 7, 6, 3), (3, 3, 3, 2), (2, 1), (2, 2), "SAME", "NHWC", None),
    ("DepthwiseConv2dNative", (1, 8, 8, 2), (2, 3, 2, 3), (1, 2), (1, 2), "EXPLICIT", "NCHW",
     ((2, 0), (1, 1))),
]


@pytest.mark.parametrize("config", ADJOINT_CONFIGS, ids=lambda c: f"{c[0]}-{c[5]}-{c[6]}")
def test_backprops_are_the_adjoints_of_the_forward_conv(config):
    """<conv(x, w), dy> == <x, backprop_input(dy)> == <w, backprop_filter(dy)>: grouped, dilated
    and NCHW backprops have no TF CPU kernel to record, so pin them by this identity."""
    op, xs, ws, strides, dilations, padding, fmt, explicit = config
    rng = np.random.default_rng(7)
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    if fmt == "NCHW":
        x = x.transpose(0, 3, 1, 2).copy()
    attrs = _conv_attrs(strides, dilations, padding, fmt, explicit)
    y = _run_op(op, input=x, filter=w, **attrs)
    dy = rng.standard_normal(y.shape)
    dx = _run_op(f"{op}BackpropInput", input_sizes=np.array(x.shape, np.int32), filter=w,
                 out_backprop=dy, **attrs)
    dw = _run_op(f"{op}BackpropFilter", input=x, filter_sizes=np.array(w.shape, np.int32),
                 out_backprop=dy, **attrs)
    lhs = float(np.sum(y * dy))
    assert lhs == pytest.approx(float(np.sum(x * dx)), rel=1e-10)
    assert lhs == pytest.approx(float(np.sum(w * dw)), rel=1e-10)


def test_conv_matches_a_direct_loop_reference():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 5, 6, 2))
    w = rng.standard_normal((2, 3, 2, 3))
    y = _run_op("Conv2D", input=x, filter=w, **_conv_attrs((2, 1), (2, 1), "SAME", "NHWC"))
    # SAME, stride (2, 1), dilation (2, 1): effective window 3x3, pad rows 1/1, cols 1/1.
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    want = np.zeros((1, 3, 6, 3))
    for i in range(3):
        for j in range(6):
            patch = xp[0, 2 * i:2 * i + 3:2, j:j + 3, :]
            want[0, i, j] = np.tensordot(patch, w, axes=([0, 1, 2], [0, 1, 2]))
    np.testing.assert_allclose(y, want, rtol=1e-12)


def test_chunked_im2col_gives_the_same_values(monkeypatch):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 6, 6, 3))
    w = rng.standard_normal((3, 3, 3, 4))
    attrs = _conv_attrs((1, 1), (1, 1), "SAME", "NHWC")
    whole = _run_op("Conv2D", input=x, filter=w, **attrs)
    dw_whole = _run_op("Conv2DBackpropFilter", input=x, filter_sizes=np.array(w.shape, np.int32),
                       out_backprop=whole, **attrs)
    monkeypatch.setattr(gmeta.kernels.conv, "_CHUNK_ELEMS", 1)  # one image per chunk
    np.testing.assert_allclose(_run_op("Conv2D", input=x, filter=w, **attrs), whole, rtol=1e-12)
    dw = _run_op("Conv2DBackpropFilter", input=x, filter_sizes=np.array(w.shape, np.int32),
                 out_backprop=whole, **attrs)
    np.testing.assert_allclose(dw, dw_whole, rtol=1e-12)


def test_max_pool_grad_v2_matches_max_pool_grad():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 5, 6, 3)).astype(np.float32)
    attrs = dict(padding="SAME", data_format="NHWC")
    k, s = [1, 3, 2, 1], [1, 2, 2, 1]
    y = _run_op("MaxPool", input=x, ksize=k, strides=s, **attrs)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    v1 = _run_op("MaxPoolGrad", orig_input=x, orig_output=y, grad=dy, ksize=k, strides=s, **attrs)
    v2 = _run_op("MaxPoolGradV2", orig_input=x, orig_output=y, grad=dy,
                 ksize=np.array(k, np.int32), strides=np.array(s, np.int32), **attrs)
    np.testing.assert_array_equal(v1, v2)
    assert v1.sum() == pytest.approx(dy.sum(), rel=1e-5)


def test_batch_norm_training_with_empty_batch_gives_nan_statistics():
    x = np.zeros((0, 2, 2, 3), np.float32)
    outs = _run_op("FusedBatchNormV3", x=x, scale=np.ones(3, np.float32),
                   offset=np.zeros(3, np.float32), mean=np.zeros(0, np.float32),
                   variance=np.zeros(0, np.float32), is_training=True)
    assert outs[0].shape == (0, 2, 2, 3)
    assert np.isnan(outs[1]).all() and np.isnan(outs[2]).all()


def test_batch_norm_5d_ndhwc():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 2, 2, 4)).astype(np.float32)
    outs = _run_op("FusedBatchNormV3", x=x, scale=np.ones(4, np.float32),
                   offset=np.zeros(4, np.float32), mean=np.zeros(0, np.float32),
                   variance=np.zeros(0, np.float32), is_training=True, data_format="NDHWC",
                   epsilon=0.0)
    flat = x.reshape(-1, 4).astype(np.float64)
    np.testing.assert_allclose(outs[0].reshape(-1, 4), (flat - flat.mean(0)) / flat.std(0),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("attrs, cls", [
    (dict(strides=[1, 1, 1, 2], padding="SAME"), errors.UnimplementedError),
    (dict(strides=[1, 1, 1, 1], padding="SAME", dilations=[2, 1, 1, 1]),
     errors.UnimplementedError),
    (dict(strides=[1, 1, 1, 1], padding="EXPLICIT",
          explicit_paddings=[1, 0, 0, 0, 0, 0, 0, 0]), errors.UnimplementedError),
    (dict(strides=[1, 0, 1, 1], padding="SAME"), errors.InvalidArgumentError),
])
def test_conv_attr_errors_name_the_node(attrs, cls):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, None)
        w = tf.placeholder(tf.float32, None)
        out = apply_op("Conv2D", name="my_conv", input=x, filter=w, **attrs)
        with tf.Session() as sess:
            with pytest.raises(cls, match="my_conv") as info:
                sess.run(out, {x: np.zeros((1, 3, 3, 1)), w: np.zeros((1, 1, 1, 1))})
    assert info.value.op.name == "my_conv"


def test_avg_pool_rejects_depth_pooling_naming_the_node():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, None)
        out = apply_op("AvgPool", name="my_pool", value=x, ksize=[1, 1, 1, 2],
                       strides=[1, 1, 1, 2], padding="VALID")
        with tf.Session() as sess:
            with pytest.raises(errors.UnimplementedError, match="my_pool"):
                sess.run(out, {x: np.zeros((1, 2, 2, 4), np.float32)})


def test_unknown_static_shapes_stay_unknown():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, None, 8, 3])
        w = tf.placeholder(tf.float32, [3, 3, 3, 5])
        y = apply_op("Conv2D", input=x, filter=w, strides=[1, 2, 2, 1], padding="VALID")
        assert y.shape.as_list() == [None, None, 3, 5]
        p = apply_op("MaxPoolV2", input=x, ksize=tf.placeholder(tf.int32, [4]),
                     strides=[1, 2, 2, 1], padding="SAME")
        assert p.shape.as_list() == [None] * 4
        q = apply_op("AvgPool", value=tf.placeholder(tf.float32, None), ksize=[1, 2, 2, 1],
                     strides=[1, 2, 2, 1], padding="SAME")
        assert q.shape.as_list() == [None] * 4
