"""Unit tests of the nn builders and kernels (gmeta/ops/nn_ops.py, gmeta/kernels/nn.py).

Graph structure: the nn builders the kernel cases do not cover (dropout, v1 cross entropy,
unknown shapes, moments, ...) are compared NodeDef for NodeDef with what TF 2.21 built for the
same calls (tests/fixtures/data/vs_nn_graphs.pb, made by tests/fixtures/make_vs_fixtures.py).
Kernels: values against numpy references (and a few TF-recorded numbers), dtypes, and the
run-time errors TF raises (with the message TF gives).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import gmeta as gm
from gmeta.framework import op_def_library
from gmeta.ops import nn_ops
from gmeta.proto import GraphDef

HERE = os.path.dirname(__file__)
DATA = os.path.join(HERE, "fixtures", "data")
sys.path.insert(0, os.path.join(HERE, "fixtures"))

import make_vs_fixtures  # noqa: E402


tf = gm
META = json.load(open(os.path.join(DATA, "vs_meta.json")))
_TF_NN = GraphDef()
with open(os.path.join(DATA, "vs_nn_graphs.pb"), "rb") as _f:
    _TF_NN.ParseFromString(_f.read())
_IGNORED_ATTRS = {"seed", "seed2"}


def _node_key(n):
    attrs = tuple(sorted((k, v.SerializeToString(deterministic=True)) for k, v in n.attr.items()
                         if k not in _IGNORED_ATTRS))
    return n.name, n.op, tuple(n.input), attrs


def _run(build, feeds=None):
    g = gm.Graph()
    with g.as_default():
        out = build()
        feed_dict = {g.get_tensor_by_name(k): v for k, v in (feeds or {}).items()}
    with gm.Session(graph=g) as sess:
        return sess.run(out, feed_dict)


# -- graph structure against TF ------------------------------------------------------------------
@pytest.fixture(scope="module")
def nn_graph():
    g = gm.Graph()
    with g.as_default():
        outs = make_vs_fixtures.build_nn_cases(tf)
    return g, outs


@pytest.mark.parametrize("case", sorted(make_vs_fixtures.NN_CASES))
def test_nn_graph_matches_tf(nn_graph, case):
    g, _ = nn_graph
    prefix = case + "/"
    mine = sorted(_node_key(n) for n in g.as_graph_def().node if n.name.startswith(prefix))
    theirs = sorted(_node_key(n) for n in _TF_NN.node if n.name.startswith(prefix))
    assert [k[:3] for k in mine] == [k[:3] for k in theirs]
    assert mine == theirs


@pytest.mark.parametrize("case", sorted(make_vs_fixtures.NN_CASES))
def test_nn_graph_node_order_matches_tf(nn_graph, case):
    """The nodes come in TF's creation order too (GraphDefs equal node for node)."""
    g, _ = nn_graph
    prefix = case + "/"
    assert ([n.name for n in g.as_graph_def().node if n.name.startswith(prefix)]
            == [n.name for n in _TF_NN.node if n.name.startswith(prefix)])


@pytest.mark.parametrize("case", sorted(make_vs_fixtures.NN_CASES))
def test_nn_static_shapes_match_tf(nn_graph, case):
    _, outs = nn_graph
    got = [[None if t.shape.ndims is None else t.shape.as_list(), t.dtype.name, t.name]
           for t in outs[case]]
    assert got == META["nn_shapes"][case]


# -- activations ---------------------------------------------------------------------------------
_X = np.array([-100.0, -20.0, -3.0, -0.5, 0.0, 0.25, 2.0, 7.0, 20.0, 100.0])
_SELU_A, _SELU_S = 1.6732632423543772, 1.0507009873554805


def _softplus_ref(x):
    return np.logaddexp(0.0, x)


_ACTIVATION_REFS = {
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "elu": lambda x: np.where(x < 0, np.expm1(np.minimum(x, 0)), x),
    "selu": lambda x: _SELU_S * np.where(x < 0, _SELU_A * np.expm1(np.minimum(x, 0)), x),
    "softplus": _softplus_ref,
    "softsign": lambda x: x / (1 + np.abs(x)),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(_ACTIVATION_REFS))
def test_activation_values(name, dtype):
    x = _X.astype(dtype)
    got = _run(lambda: getattr(gm.nn, name)(gm.constant(x)))
    assert got.dtype == dtype
    np.testing.assert_allclose(got, _ACTIVATION_REFS[name](x.astype(np.float64)), rtol=1e-6,
                               atol=1e-7)


@pytest.mark.parametrize("name", ["relu", "relu6"])
def test_integer_relu(name):
    x = np.array([-7, -1, 0, 3, 6, 9], np.int32)
    got = _run(lambda: getattr(gm.nn, name)(gm.constant(x)))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, _ACTIVATION_REFS[name](x))


def test_float16_activations_and_tf_numbers():
    x = np.array([-100.0, -20.0, -10.0, 0.0, 10.0, 20.0, 100.0], np.float16)
    got = _run(lambda: gm.nn.softplus(gm.constant(x)))
    assert got.dtype == np.float16
    # what TF 2.21 computes for the same input
    np.testing.assert_allclose(got, [0.0, 0.0, 4.542e-05, 0.6934, 10.0, 20.0, 100.0], rtol=1e-3)
    got = _run(lambda: gm.nn.selu(gm.constant([-2.0, -0.5, 0.0, 1.5])))
    np.testing.assert_allclose(got, [-1.5201665, -0.69175816, 0.0, 1.5760515], rtol=1e-6)
    got = _run(lambda: gm.nn.leaky_relu(gm.constant([-2.0, 0.0, 3.0]), alpha=2.0))
    np.testing.assert_array_equal(got, [-4.0, 0.0, 3.0])


def test_leaky_relu_alpha_attr_and_int_cast():
    with gm.Graph().as_default():
        y = gm.nn.leaky_relu(gm.constant([1, -2]), alpha=np.float64(0.5))
        assert y.dtype == gm.float32 and y.op.get_attr("alpha") == pytest.approx(0.5)
        assert y.op.inputs[0].op.type == "Cast"


# -- softmax -------------------------------------------------------------------------------------
def _softmax_ref(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_are_stable(dtype):
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0]], dtype)
    sm, lsm = _run(lambda: [gm.nn.softmax(gm.constant(x)), gm.nn.log_softmax(gm.constant(x))])
    assert sm.dtype == dtype and lsm.dtype == dtype
    np.testing.assert_allclose(sm, _softmax_ref(x.astype(np.float64)), rtol=1e-6, atol=1e-30)
    ref = x - x.max(-1, keepdims=True)
    ref = ref - np.log(np.exp(ref).sum(-1, keepdims=True))
    np.testing.assert_allclose(lsm, ref, rtol=1e-6)
    assert np.all(np.isfinite(lsm))


def test_softmax_kernel_errors_and_empty():
    assert _run(lambda: gm.nn.softmax(gm.constant(np.zeros((2, 0), np.float32)))).shape == (2, 0)
    with gm.Graph().as_default():
        with pytest.raises(ValueError, match="rank"):
            op_def_library.apply_op("Softmax", logits=gm.constant(1.0))
        with pytest.raises(gm.errors.InvalidArgumentError, match="dim"):
            gm.nn.softmax(gm.constant(np.zeros((2, 3), np.float32)), axis=2)


def test_softmax_axis_tensor_and_negative_axis_values():
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    got = _run(lambda: gm.nn.softmax(gm.constant(x), axis=-2))
    np.testing.assert_allclose(got, _softmax_ref(x, axis=1), rtol=1e-6)


# -- bias_add ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, rank", [("NHWC", 2), ("NHWC", 3), ("NHWC", 4), ("NHWC", 5),
                                       ("NCHW", 3), ("NCHW", 4), ("NCHW", 5)])
def test_bias_add_values(fmt, rank):
    shape = tuple(range(2, 2 + rank))
    x = np.random.default_rng(rank).normal(size=shape).astype(np.float32)
    c = shape[1] if fmt == "NCHW" else shape[-1]
    b = np.arange(c, dtype=np.float32)
    got = _run(lambda: gm.nn.bias_add(gm.constant(x), gm.constant(b), data_format=fmt))
    bshape = (c,) + (1,) * (rank - 2) if fmt == "NCHW" else (c,)
    np.testing.assert_array_equal(got, x + b.reshape(bshape))


def test_bias_add_errors():
    with gm.Graph().as_default():
        with pytest.raises(ValueError, match="data_format"):
            gm.nn.bias_add(gm.constant([[1.0]]), gm.constant([1.0]), data_format="HWCN")
        with pytest.raises(ValueError, match="Dimensions must be equal"):
            gm.nn.bias_add(gm.constant(np.zeros((2, 3), np.float32)), gm.constant([1.0, 2.0]))
        with pytest.raises(ValueError, match="dtype"):
            gm.nn.bias_add(gm.constant([[1.0]]), gm.constant([1], gm.int32))
    with pytest.raises(gm.errors.InvalidArgumentError,
                       match=r"as many biases as the last dimension of the input tensor: \[2\] "
                             r"vs\. \[2,3\]") as info:
        _run(lambda: gm.nn.bias_add(gm.placeholder(gm.float32, [None, None], name="x"),
                                    gm.constant([1.0, 2.0])),
             {"x:0": np.zeros((2, 3), np.float32)})
    assert info.value.op is not None and info.value.op.type == "BiasAdd"


def test_bias_add_v1():
    got = _run(lambda: nn_ops.bias_add_v1(gm.constant([[1.0, 2.0]]), gm.constant([1.0, 2.0])))
    np.testing.assert_array_equal(got, [[2.0, 4.0]])


# -- cross entropies -----------------------------------------------------------------------------
def _log_softmax_ref(x):
    s = x - x.max(-1, keepdims=True)
    return s - np.log(np.exp(s).sum(-1, keepdims=True))


@pytest.mark.parametrize("label_dtype", [np.int32, np.int64])
def test_sparse_xent_loss_and_backprop(label_dtype):
    logits = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    labels = np.array([0, 4, 2, 2], label_dtype)

    def build():
        loss = gm.nn.sparse_softmax_cross_entropy_with_logits(labels=gm.constant(labels),
                                                              logits=gm.constant(logits))
        return [loss, loss.op.outputs[1]]

    loss, backprop = _run(build)
    lsm = _log_softmax_ref(logits.astype(np.float64))
    np.testing.assert_allclose(loss, -lsm[np.arange(4), labels], rtol=1e-5)
    want = np.exp(lsm)
    want[np.arange(4), labels] -= 1
    np.testing.assert_allclose(backprop, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("labels, bad", [([1, 5], 5), ([-1, 0], -1)])
def test_sparse_xent_label_out_of_range(labels, bad):
    with pytest.raises(gm.errors.InvalidArgumentError) as info:
        _run(lambda: gm.nn.sparse_softmax_cross_entropy_with_logits(
            labels=gm.constant(labels), logits=gm.constant(np.zeros((2, 3), np.float32))))
    values = " ".join(str(v) for v in labels)
    assert (f"Received a label value of {bad} which is outside the valid range of [0, 3).  "
            f"Label values: {values}") in str(info.value)
    assert "SparseSoftmaxCrossEntropyWithLogits" in str(info.value)
    assert info.value.op is not None


def test_sparse_xent_on_a_cuda_device_gives_nan_rows_instead_of_checking():
    """On CuPy, like TF's GPU kernel, an out-of-range label makes its row NaN (loss and
    gradient) instead of an error: the check would make every step wait for the device. Run
    here with numpy standing in for the cupy module."""
    import types

    from gmeta.kernels import KernelContext, lookup

    fake_cupy = types.ModuleType("cupy")
    fake_cupy.__getattr__ = lambda name: getattr(np, name)
    logits = np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32)
    with gm.Graph().as_default():
        loss = gm.nn.sparse_softmax_cross_entropy_with_logits(
            labels=gm.placeholder(gm.int32, [3]), logits=gm.constant(logits))
    kdef = lookup("SparseSoftmaxCrossEntropyWithLogits", "GPU")
    run = kdef.factory(KernelContext(loss.op, fake_cupy, "GPU", None))
    got_loss, got_grad = run(logits, np.array([1, 4, -1], np.int32))
    ref_loss, ref_grad = kdef.factory(KernelContext(loss.op, np, "CPU", None))(
        logits[:1], np.array([1], np.int32))
    np.testing.assert_allclose(got_loss[0], ref_loss[0], rtol=1e-6)
    np.testing.assert_allclose(got_grad[0], ref_grad[0], rtol=1e-6)
    assert np.isnan(got_loss[1:]).all() and np.isnan(got_grad[1:]).all()
    assert got_loss.dtype == np.float32 and got_grad.shape == (3, 4)


def test_sparse_xent_static_errors():
    with gm.Graph().as_default():
        z = gm.constant(np.zeros((4, 5), np.float32))
        with pytest.raises(ValueError, match="except for the last dimension"):
            gm.nn.sparse_softmax_cross_entropy_with_logits(labels=gm.constant([1, 2, 3]), logits=z)
        with pytest.raises(ValueError, match="rank"):
            gm.nn.sparse_softmax_cross_entropy_with_logits(labels=gm.constant([[1]]), logits=z)
        with pytest.raises(ValueError, match="scalar"):
            gm.nn.sparse_softmax_cross_entropy_with_logits(labels=gm.constant(1),
                                                           logits=gm.constant(1.0))
        with pytest.raises(ValueError, match="named arguments"):
            gm.nn.sparse_softmax_cross_entropy_with_logits(gm.constant([1]), logits=z)
        with pytest.raises(ValueError, match="Both `labels` and `logits`"):
            gm.nn.softmax_cross_entropy_with_logits(labels=None, logits=z)


def test_softmax_xent_broadcast_labels_tf_numbers():
    def build():
        return op_def_library.apply_op(
            "SoftmaxCrossEntropyWithLogits",
            features=gm.constant([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]),
            labels=gm.constant([[0.2, 0.3, 0.5]]))

    loss, backprop = _run(build)
    # TF 2.21's numbers for the same call
    np.testing.assert_allclose(loss, [1.1076059, 1.0514448], rtol=1e-6)
    np.testing.assert_allclose(backprop, [[-0.10996943, -0.05527154, 0.16524094],
                                          [0.01194155, -0.08805846, 0.07611686]], rtol=1e-5)


def test_softmax_xent_v1_and_axis_values():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(3, 4)).astype(np.float64)
    labels = rng.uniform(size=(3, 4))
    want = -(labels * _log_softmax_ref(logits)).sum(-1)
    got = _run(lambda: gm.nn.softmax_cross_entropy_with_logits(labels=gm.constant(labels),
                                                               logits=gm.constant(logits)))
    np.testing.assert_allclose(got, want, rtol=1e-10)
    got = _run(lambda: gm.nn.softmax_cross_entropy_with_logits_v2(
        labels=gm.constant(labels.T), logits=gm.constant(logits.T), axis=0))
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_sigmoid_xent_values_and_shape_check():
    z = np.array([-100.0, -2.0, 0.0, 3.0, 100.0], np.float32)
    lab = np.array([0.0, 1.0, 0.5, 0.0, 1.0], np.float32)
    got = _run(lambda: gm.nn.sigmoid_cross_entropy_with_logits(labels=gm.constant(lab),
                                                               logits=gm.constant(z)))
    want = np.maximum(z, 0) - z * lab + np.log1p(np.exp(-np.abs(z)))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with gm.Graph().as_default(), pytest.raises(ValueError, match="same shape"):
        gm.nn.sigmoid_cross_entropy_with_logits(labels=gm.constant([1.0]),
                                                logits=gm.constant([1.0, 2.0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_l2_loss(dtype):
    x = np.array([[1.0, -2.0], [3.0, 0.5]], dtype)
    got = _run(lambda: gm.nn.l2_loss(gm.constant(x)))
    assert got.dtype == dtype and got.shape == ()
    assert got == pytest.approx(float((x.astype(np.float64) ** 2).sum() / 2))
    assert _run(lambda: gm.nn.l2_loss(gm.constant(np.zeros(0, dtype)))) == 0


def test_in_top_k_tf_semantics():
    preds = np.array([[1.0, np.inf, 2.0, 2.0], [np.nan, 1.0, 0.0, 3.0], [1.0, 1.0, 1.0, 1.0]],
                     np.float32)
    # TF 2.21: [False False False] for k=1 / targets [2, 1, 7]; [True False True] for k=2 /
    # targets [2, 0, 3] (ties do not count as larger, a non-finite target is never in).
    got = _run(lambda: gm.nn.in_top_k(gm.constant(preds), gm.constant([2, 1, 7]), 1))
    np.testing.assert_array_equal(got, [False, False, False])
    preds[0] = [1.0, 2.0, 2.0, 0.0]
    got = _run(lambda: gm.nn.in_top_k(gm.constant(preds), gm.constant([2, 0, 3]), 2))
    np.testing.assert_array_equal(got, [True, False, True])
    got = _run(lambda: gm.nn.in_top_k(gm.constant(preds[:1]), gm.constant([2]), 0))
    np.testing.assert_array_equal(got, [False])


# -- dropout, moments, l2_normalize --------------------------------------------------------------
def test_dropout_fast_path_returns_x():
    with gm.Graph().as_default():
        x = gm.placeholder(gm.float32, [2])
        assert gm.nn.dropout(x, keep_prob=1.0) is x
        assert gm.nn.dropout(x, rate=0.0) is x


def test_dropout_values_and_seed_repeatability():
    g = gm.Graph()
    with g.as_default():
        x = gm.constant(np.ones((50, 40), np.float32))
        y = gm.nn.dropout(x, rate=0.25, seed=7)
    runs = []
    for _ in range(2):
        with gm.Session(graph=g) as sess:
            runs.append(sess.run(y))
    np.testing.assert_array_equal(runs[0], runs[1])
    vals = set(np.unique(runs[0]).tolist())
    assert vals <= {0.0, np.float32(1 / 0.75)}
    assert 0.15 < (runs[0] == 0).mean() < 0.35


def test_dropout_errors():
    with gm.Graph().as_default():
        x = gm.constant([1.0, 2.0])
        with pytest.raises(ValueError, match="range"):
            gm.nn.dropout(x, rate=1.0)
        with pytest.raises(ValueError, match="provide a `rate`"):
            gm.nn.dropout(x)
        with pytest.raises(ValueError, match="both"):
            gm.nn.dropout(x, keep_prob=0.5, rate=0.5)
        with pytest.raises(ValueError, match="floating point"):
            gm.nn.dropout(gm.constant([1, 2]), rate=0.5)
        noise = gm.constant([2, 1])
        y = gm.nn.dropout(gm.constant(np.ones((2, 3), np.float32)), rate=0.5, noise_shape=noise)
        assert y.shape.as_list() == [2, 3]
        assert y.op.inputs[0].op.inputs[0].op.inputs[0] is noise


def test_deprecated_argument_pairs_raise_like_tf():
    with gm.Graph().as_default():
        x = gm.placeholder(gm.float32, [3, 4])
        for call in (lambda: gm.nn.softmax(x, axis=0, dim=0),
                     lambda: gm.nn.l2_normalize(x, axis=0, dim=0),
                     lambda: gm.nn.softmax_cross_entropy_with_logits(labels=x, logits=x, axis=0)):
            with pytest.raises(ValueError, match="Cannot specify both 'dim' and 'axis'."):
                call()
        with pytest.raises(ValueError, match="Cannot specify both 'keep_dims' and 'keepdims'."):
            gm.nn.moments(x, [0], keep_dims=True, keepdims=True)


def test_moments_and_l2_normalize_values():
    x = np.random.default_rng(3).normal(size=(3, 4)).astype(np.float32)
    mean, var = _run(lambda: gm.nn.moments(gm.constant(x), axes=[0]))
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var, x.var(0), rtol=1e-5, atol=1e-6)
    got = _run(lambda: gm.nn.l2_normalize(gm.constant(x), axis=1))
    np.testing.assert_allclose(got, x / np.linalg.norm(x, axis=1, keepdims=True), rtol=1e-5)


# -- static shapes -------------------------------------------------------------------------------
def test_shape_functions_partial_shapes():
    with gm.Graph().as_default():
        z = gm.placeholder(gm.float32, [None, 5])
        lab = gm.placeholder(gm.int32, [7])
        loss, backprop = op_def_library.apply_op("SparseSoftmaxCrossEntropyWithLogits",
                                                 features=z, labels=lab)
        assert loss.shape.as_list() == [7] and backprop.shape.as_list() == [7, 5]
        x = gm.placeholder(gm.float32, [None, 3, None, None])
        b = gm.placeholder(gm.float32, [3])
        assert gm.nn.bias_add(x, b, data_format="NCHW").shape.as_list() == [None, 3, None, None]
        y = gm.nn.bias_add(gm.placeholder(gm.float32, [2, None]), b)
        assert y.shape.as_list() == [2, 3]
        assert gm.nn.bias_add(gm.placeholder(gm.float32), b).shape.ndims is None
        assert gm.nn.l2_loss(x).shape.as_list() == []
        assert gm.nn.in_top_k(z, lab, 1).shape.as_list() == [7]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_relu_with_an_array_bound_equals_the_scalar_maximum_bit_for_bit(dtype, monkeypatch):
    """Relu/Relu6 on numpy take their bound as a same-shaped read-only array (numpy's fast
    path); the values must be those of ``maximum(x, 0)`` exactly, NaNs and signed zeros too,
    for contiguous, strided and (past the size cap) scalar-bound inputs alike."""
    from gmeta.kernels import nn as nn_kernels

    special = np.array([np.nan, -np.nan, -0.0, 0.0, -1.5, 2.5, 7.0, -np.inf, np.inf, 6.0], dtype)
    x = np.concatenate([special, np.random.default_rng(5).normal(size=990).astype(dtype)])
    bits = {np.float16: np.uint16, np.float32: np.uint32, np.float64: np.uint64}[dtype]
    cases = [x.reshape(10, 100), x.reshape(10, 100)[:, ::3], x.reshape(10, 100).T]
    for limit in (nn_kernels._FILLED_MAX, 8):  # the array bound, then the scalar past the cap
        monkeypatch.setattr(nn_kernels, "_FILLED_MAX", limit)
        for a in cases:
            relu = nn_kernels._relu(np, a, None)
            relu6 = nn_kernels._relu6(np, a, None)
            want6 = np.minimum(np.maximum(a, dtype(0)), dtype(6))
            np.testing.assert_array_equal(relu.view(bits), np.maximum(a, dtype(0)).view(bits))
            np.testing.assert_array_equal(relu6.view(bits), want6.view(bits))
            assert relu.dtype == dtype and relu.shape == a.shape
    for buf in nn_kernels._FILLED.values():
        assert not buf.flags.writeable and np.unique(buf).size == 1  # all 0 or all 6


def test_relu_in_place_leaves_the_shared_bound_untouched():
    from gmeta.kernels import nn as nn_kernels

    with tf.Graph().as_default():
        op = tf.nn.relu6(tf.placeholder(tf.float32, [4, 8])).op
    from gmeta.kernels import KernelContext

    run = nn_kernels._relu_inplace(KernelContext(op, np, "CPU", None), {0}, None)
    x = np.linspace(-10, 10, 32, dtype=np.float32).reshape(4, 8)
    want = np.minimum(np.maximum(x, 0), 6)
    out = run(x)
    assert out is x
    np.testing.assert_array_equal(out, want)
    assert not np.shares_memory(out, nn_kernels._FILLED[(np.dtype(np.float32), 0)])
    assert (nn_kernels._FILLED[(np.dtype(np.float32), 0)] == 0).all()
    assert (nn_kernels._FILLED[(np.dtype(np.float32), 6)] == 6).all()
