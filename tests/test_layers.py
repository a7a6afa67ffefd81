"""``gm.layers`` and the ``gm.nn`` conv / pool / batch-norm builders: behaviour, numbers against
numpy, and errors. (Graphs, shapes and values against TensorFlow are in test_nn_builders.py and
tests/train/test_layers_cnn.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

import gmeta as gm


@pytest.fixture
def graph():
    g = gm.Graph()
    with g.as_default():
        yield g


def _rng(seed=0):
    return np.random.default_rng(seed)


def _names(variables):
    return [v.op.name for v in variables]


# -- naming, scopes, reuse ------------------------------------------------------------------------
def test_default_names_are_made_unique(graph):
    x = gm.placeholder(gm.float32, [None, 3])
    a = gm.layers.dense(x, 2)
    b = gm.layers.dense(a, 2)
    gm.layers.conv2d(gm.reshape(x, [-1, 1, 3, 1]), 1, 1)
    assert _names(gm.global_variables()) == ["dense/kernel", "dense/bias", "dense_1/kernel",
                                             "dense_1/bias", "conv2d/kernel", "conv2d/bias"]
    assert (a.op.name, b.op.name) == ("dense/BiasAdd", "dense_1/BiasAdd")


def test_named_layers_share_with_reuse(graph):
    x = gm.placeholder(gm.float32, [None, 3])
    gm.layers.dense(x, 2, name="fc")
    with pytest.raises(ValueError, match="Variable fc/kernel already exists"):
        gm.layers.dense(x, 2, name="fc")
    y = gm.layers.dense(x, 2, name="fc", reuse=True)
    z = gm.layers.dense(x, 2, name="fc", reuse=gm.AUTO_REUSE)
    assert _names(gm.global_variables()) == ["fc/kernel", "fc/bias"]
    assert y.op.inputs[1].op.inputs[0].op.name == "fc/bias"
    assert y.op.name.startswith("fc_") and z.op.name.startswith("fc_")
    with pytest.raises(ValueError, match="does not exist"):
        gm.layers.dense(x, 2, name="other", reuse=True)


def test_variable_scope_prefixes_variables_and_name_scope_only_ops(graph):
    x = gm.placeholder(gm.float32, [None, 3])
    with gm.variable_scope("model"):
        a = gm.layers.dense(x, 2)
    with gm.name_scope("tower"):
        b = gm.layers.dense(x, 2)
    assert _names(gm.global_variables()) == ["model/dense/kernel", "model/dense/bias",
                                             "dense/kernel", "dense/bias"]
    assert (a.op.name, b.op.name) == ("model/dense/BiasAdd", "tower/dense/BiasAdd")


def test_kernel_initializer_comes_from_the_variable_scope(graph):
    x = gm.placeholder(gm.float32, [None, 3])
    with gm.variable_scope("s", initializer=gm.constant_initializer(0.5)):
        gm.layers.dense(x, 2, kernel_initializer=None, bias_initializer="ones")
    with gm.Session() as sess:
        sess.run(gm.global_variables_initializer())
        kernel, bias = sess.run(gm.global_variables())
    np.testing.assert_array_equal(kernel, np.full((3, 2), 0.5, np.float32))
    np.testing.assert_array_equal(bias, np.ones(2, np.float32))


# -- dense / flatten / pooling / conv numbers ------------------------------------------------------
def _init_and_run(fetches, feed):
    with gm.Session() as sess:
        sess.run(gm.global_variables_initializer())
        variables = sess.run(gm.global_variables())
        return variables, sess.run(fetches, feed)


def test_dense_conv_pool_flatten_numbers(graph):
    xv = _rng().standard_normal((2, 6, 6, 3)).astype(np.float32)
    x = gm.placeholder(gm.float32, [None, 6, 6, 3])
    c = gm.layers.conv2d(x, 4, 3, strides=1, padding="valid", activation=gm.nn.relu)
    p = gm.layers.max_pooling2d(c, 2, 2)
    a = gm.layers.average_pooling2d(c, 2, 2)
    f = gm.layers.flatten(p)
    d = gm.layers.dense(f, 3, activation="tanh")
    assert (c.shape.as_list(), p.shape.as_list(), f.shape.as_list(), d.shape.as_list()) == \
        ([None, 4, 4, 4], [None, 2, 2, 4], [None, 16], [None, 3])
    (kc, bc, kd, bd), (cv, pv, av, fv, dv) = _init_and_run([c, p, a, f, d], {x: xv})
    cols = np.stack([xv[:, i:i + 4, j:j + 4, :] for i in range(3) for j in range(3)], axis=3)
    want_c = np.maximum(np.einsum("nhwkc,kco->nhwo", cols, kc.reshape(9, 3, 4)) + bc, 0)
    np.testing.assert_allclose(cv, want_c, rtol=1e-5, atol=1e-5)
    blocks = want_c.reshape(2, 2, 2, 2, 2, 4)
    np.testing.assert_allclose(pv, blocks.max(axis=(2, 4)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(av, blocks.mean(axis=(2, 4)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fv, pv.reshape(2, 16), rtol=1e-6)
    np.testing.assert_allclose(dv, np.tanh(fv @ kd + bd), rtol=1e-5, atol=1e-6)


def test_dropout_flags(graph):
    x = gm.constant(np.ones((50, 40), np.float32))
    assert gm.layers.dropout(x, 0.5).op.type == "Identity"  # training=False by default
    t = gm.placeholder(gm.bool, [])
    y = gm.layers.dropout(x, 0.5, training=t, seed=1)
    with gm.Session() as sess:
        off, on = sess.run(y, {t: False}), sess.run(y, {t: True})
    np.testing.assert_array_equal(off, np.ones((50, 40)))
    assert set(np.unique(on)) <= {0.0, 2.0} and 0.3 < (on == 0).mean() < 0.7


def test_training_none_uses_one_keras_learning_phase(graph):
    x = gm.constant(np.ones((4, 3), np.float32))
    a = gm.layers.dropout(x, 0.5, training=None)
    b = gm.layers.batch_normalization(gm.reshape(x, [4, 1, 1, 3]), training=None)
    phase = graph.get_operation_by_name("keras_learning_phase")
    assert phase.type == "PlaceholderWithDefault"
    assert [op.name for op in graph.get_operations() if "learning_phase" in op.name] == \
        ["keras_learning_phase/input", "keras_learning_phase"]
    assert a.op.type == "Merge" and b.op.type == "Merge"
    with gm.Session() as sess:
        sess.run(gm.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(a), np.ones((4, 3)))  # default: inference


# -- batch normalization ---------------------------------------------------------------------------
def _moments(xv, axes):
    return xv.mean(axis=axes), xv.var(axis=axes)


@pytest.mark.parametrize("fused", [None, False])
def test_batch_norm_training_flag_and_updates(graph, fused):
    xv = (_rng(1).standard_normal((8, 3, 3, 2)) * 2 + 1).astype(np.float32)
    x = gm.placeholder(gm.float32, [None, 3, 3, 2])
    t = gm.placeholder(gm.bool, [])
    y = gm.layers.batch_normalization(x, training=t, momentum=0.9, fused=fused)
    kinds = {op.type for op in graph.get_operations()}
    assert ("FusedBatchNormV3" in kinds) == (fused is None)
    updates = gm.get_collection(gm.GraphKeys.UPDATE_OPS)
    assert len(updates) == 2
    mean, var = _moments(xv, (0, 1, 2))
    n = xv.size / 2
    with gm.Session() as sess:
        sess.run(gm.global_variables_initializer())
        inference = sess.run(y, {x: xv, t: False})
        np.testing.assert_allclose(inference, xv / np.sqrt(1 + 1e-3), rtol=1e-5)
        training, _ = sess.run([y, updates], {x: xv, t: True})
        np.testing.assert_allclose(training, (xv - mean) / np.sqrt(var + 1e-3), rtol=1e-4,
                                   atol=1e-5)
        moving_mean, moving_var = sess.run(gm.global_variables()[2:])
    # the fused kernel's batch variance is Bessel-corrected; the moments path's is not
    batch_var = var * n / (n - 1) if fused is None else var
    np.testing.assert_allclose(moving_mean, 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(moving_var, 0.9 + 0.1 * batch_var, rtol=1e-5)


def test_batch_norm_variables_and_collections(graph):
    x = gm.placeholder(gm.float32, [None, 3])
    gm.layers.batch_normalization(x, training=True, trainable=False, name="bn")
    assert _names(gm.global_variables()) == ["bn/gamma", "bn/beta", "bn/moving_mean",
                                             "bn/moving_variance"]
    assert gm.trainable_variables() == []
    assert [op.name for op in gm.get_collection(gm.GraphKeys.UPDATE_OPS)] == \
        ["bn/AssignMovingAvg", "bn/AssignMovingAvg_1"]
    assert gm.moving_average_variables() == []
    moving = gm.global_variables()[2].to_proto()
    assert (moving.synchronization, moving.aggregation) == (
        gm.VariableSynchronization.ON_READ, gm.VariableAggregation.MEAN)


def test_batch_norm_trains_with_update_ops(graph):
    xv = _rng(2).standard_normal((8, 4, 4, 1)).astype(np.float32)
    x = gm.placeholder(gm.float32, [None, 4, 4, 1])
    h = gm.layers.batch_normalization(gm.layers.conv2d(x, 2, 3), training=True)
    loss = gm.reduce_mean(gm.square(gm.layers.dense(gm.layers.flatten(h), 1) - 1.0))
    with gm.control_dependencies(gm.get_collection(gm.GraphKeys.UPDATE_OPS)):
        train = gm.train.GradientDescentOptimizer(0.1).minimize(loss)
    moving_mean = [v for v in gm.global_variables() if v.op.name.endswith("moving_mean")][0]
    with gm.Session() as sess:
        sess.run(gm.global_variables_initializer())
        before = sess.run(loss, {x: xv})
        for _ in range(5):
            sess.run(train, {x: xv})
        assert sess.run(loss, {x: xv}) < before
        assert np.any(sess.run(moving_mean) != 0)


def _bn_gradients(training, feed_flag=None):
    g = gm.Graph()
    with g.as_default():
        xv = (_rng(5).standard_normal((4, 2, 2, 3)) * 3 + 1).astype(np.float32)
        x = gm.constant(xv)
        flag = gm.placeholder(gm.bool, []) if training is None else training
        y = gm.layers.batch_normalization(x, training=flag, beta_initializer="ones",
                                          moving_mean_initializer=gm.constant_initializer(0.5))
        grads = gm.gradients(gm.reduce_sum(y * y * x), [x] + gm.trainable_variables())
        with gm.Session() as sess:
            sess.run(gm.global_variables_initializer())
            return sess.run(grads, {flag: feed_flag} if training is None else None)


@pytest.mark.parametrize("flag", [True, False])
def test_gradients_through_a_training_tensor(flag):
    """A bool-Tensor ``training`` builds v1 conds; their gradients equal the Python-bool graph's."""
    got = _bn_gradients(None, feed_flag=flag)
    for g, w in zip(got, _bn_gradients(flag)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


# -- errors ---------------------------------------------------------------------------------------
def test_layer_errors(graph):
    x2 = gm.placeholder(gm.float32, [None, None])
    x4 = gm.placeholder(gm.float32, [None, 4, 4, None])
    with pytest.raises(ValueError, match="last dimension of the inputs to a Dense layer"):
        gm.layers.dense(x2, 2)
    with pytest.raises(TypeError, match="floating-point"):
        gm.layers.dense(gm.placeholder(gm.int32, [None, 3]), 2)
    with pytest.raises(ValueError, match="channel dimension of the inputs should be defined"):
        gm.layers.conv2d(x4, 2, 3)
    with pytest.raises(NotImplementedError, match="SpaceToBatchND"):
        gm.layers.conv2d(x4, 2, 3, dilation_rate=2)
    with pytest.raises(ValueError, match="padding"):
        gm.layers.max_pooling2d(x4, 2, 2, padding="causal")
    with pytest.raises(ValueError, match="expected ndim=4"):
        gm.layers.max_pooling2d(x2, 2, 2)
    with pytest.raises(ValueError, match="undefined `axis` dimension"):
        gm.layers.batch_normalization(x4)
    with pytest.raises(NotImplementedError, match="renorm"):
        gm.layers.batch_normalization(x2, renorm=True)
    with pytest.raises(NotImplementedError, match="activity_regularizer"):
        gm.layers.dense(gm.placeholder(gm.float32, [None, 3]), 2, activity_regularizer=abs)
    with pytest.raises(ValueError, match="Unknown activation"):
        gm.layers.dense(gm.placeholder(gm.float32, [None, 3]), 2, activation="swishy")


def test_nn_builder_errors(graph):
    x = gm.placeholder(gm.float32, [1, 5, 5, 2])
    w = gm.placeholder(gm.float32, [3, 3, 2, 2])
    with pytest.raises(ValueError, match="Cannot specify both 'filter' and 'filters'"):
        gm.nn.conv2d(x, w, 1, "SAME", filters=w)
    with pytest.raises(ValueError, match="'EXPLICIT' is not a valid value"):
        gm.nn.conv2d(x, w, 1, "EXPLICIT")
    with pytest.raises(ValueError, match="must be of size 4"):
        gm.nn.conv2d(x, w, 1, [[0, 0], [1, 1]])
    with pytest.raises(ValueError, match="strides should be of length 1, 2 or 4"):
        gm.nn.conv2d(x, w, [1, 1, 1], "SAME")
    with pytest.raises(NotImplementedError, match="more than one batch"):
        gm.nn.conv2d(gm.placeholder(gm.float32, [2, 1, 5, 5, 2]), w, 1, "SAME")
    with pytest.raises(NotImplementedError, match="rate=\\[2, 2\\]"):
        gm.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "SAME", rate=[2, 2])
    with pytest.raises(ValueError, match="must be positive"):
        gm.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "SAME", rate=[0, 1])
    with pytest.raises(ValueError, match="`ksize` cannot be zero"):
        gm.nn.max_pool(x, [1, 0, 2, 1], 1, "SAME")
    with pytest.raises(NotImplementedError, match="rank-3"):
        gm.nn.max_pool_v2(gm.placeholder(gm.float32, [1, 5, 2]), 2, 2, "SAME")
    with pytest.raises(ValueError, match="`mean` and `variance` must be a 1D tensor"):
        gm.nn.fused_batch_norm(x, [1.0, 1.0], [0.0, 0.0], is_training=False)


def test_depthwise_and_transpose_numbers(graph):
    xv = _rng(3).standard_normal((1, 4, 4, 2)).astype(np.float32)
    wv = _rng(4).standard_normal((2, 2, 2, 3)).astype(np.float32)
    y = gm.nn.depthwise_conv2d(xv, wv, [1, 1, 1, 1], "VALID")
    assert y.op.name == "depthwise" and y.shape.as_list() == [1, 3, 3, 6]
    t = gm.nn.conv2d_transpose(gm.ones([1, 2, 2, 3]), np.ones((2, 2, 1, 3), np.float32),
                               [1, 4, 4, 1], 2)
    with gm.Session() as sess:
        yv, tv = sess.run([y, t])
    want = np.zeros((1, 3, 3, 2, 3), np.float32)
    for i in range(2):
        for j in range(2):
            want += xv[:, i:i + 3, j:j + 3, :, None] * wv[i, j]
    np.testing.assert_allclose(yv, want.reshape(1, 3, 3, 6), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(tv, np.full((1, 4, 4, 1), 3.0, np.float32))
