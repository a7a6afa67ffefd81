"""Gradient-support and optimizer-update kernels against TF, and TF's own training graphs.

The cases (tests/fixtures/data/train_kernels.*, by tests/fixtures/make_train_kernel_fixtures.py)
are raw ops TF's CPU kernels ran. ``op`` cases check output values and dtypes; ``apply`` cases
build the op on variables (ref ``VariableV2`` or resource handles) initialised as TF's were and
check every variable after one and after three runs; error cases check the error class, that it
names the node, and TF's message. The integration tests import TF-made training MetaGraphs,
restore their checkpoints, run their ``train_op`` once and compare every variable with TF's.

Tolerances (rtol and atol): float64 1e-10, float32 1e-5, float16 1e-2 (Eigen's half arithmetic
rounds in places numpy's does not).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import gmeta as tf
import gmeta.kernels.grad_support  # noqa: F401  (until gmeta/kernels/__init__.py imports it)
import gmeta.kernels.training  # noqa: F401  (until gmeta/kernels/__init__.py imports it)
from gmeta import errors
from gmeta.framework.op_def_library import apply_op
from gmeta.kernels.state import VarRef
from gmeta.kernels.training import rounds as _rounds, store

DATA = os.path.join(os.path.dirname(__file__), os.pardir, "fixtures", "data")
with open(os.path.join(DATA, "train_kernels.json")) as _f:
    CASES = {c["name"]: c for c in json.load(_f)}
ARRAYS = dict(np.load(os.path.join(DATA, "train_kernels.npz")))

OP_CASES = sorted(n for n, c in CASES.items() if c["kind"] == "op" and not c["error"])
APPLY_CASES = sorted(n for n, c in CASES.items() if c["kind"] == "apply" and not c["error"])
ERROR_CASES = sorted(n for n, c in CASES.items() if c["error"])


def _tolerance(dtype):
    if dtype == np.float16:
        return 1e-2
    if dtype == np.float64:
        return 1e-10
    return 1e-5


def _close(got, want, what):
    assert str(got.dtype) == str(want.dtype), f"{what}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if want.dtype.kind in "fc":
        tol = _tolerance(want.dtype)
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol,
                                   atol=tol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def _input(case, arg):
    n = case["inputs"][arg]
    if n is None:
        return ARRAYS[f"{case['name']}/in/{arg}"]
    return [ARRAYS[f"{case['name']}/in/{arg}/{i}"] for i in range(n)]


def _placeholder(arg, value, unknown):
    return tf.placeholder(tf.as_dtype(value.dtype), None if unknown else value.shape, name=arg)


def _build_op(case, unknown=False):
    feeds, kwargs = {}, {}
    for arg in case["inputs"]:
        value = _input(case, arg)
        if isinstance(value, list):
            phs = [_placeholder(f"{arg}_{i}", v, unknown) for i, v in enumerate(value)]
            feeds.update(zip(phs, value))
            kwargs[arg] = phs
        else:
            ph = _placeholder(arg, value, unknown)
            feeds[ph] = value
            kwargs[arg] = ph
    outs = apply_op(case["op"], name="op", **kwargs, **case["attrs"])
    return (list(outs) if isinstance(outs, (list, tuple)) else [outs]), feeds


def _build_apply(case, unknown=False):
    """The op on variables named after its slot args; (op output, feeds, init ops, readers)."""
    resource = case["op"].startswith("Resource")
    feeds, kwargs, inits, readers = {}, {}, [], {}
    for arg in case["inputs"]:
        value = _input(case, arg)
        dtype = tf.as_dtype(value.dtype)
        if arg in case["slots"]:
            init = tf.constant(value, name=f"{arg}_init")
            if resource:
                h = apply_op("VarHandleOp", name=arg, dtype=dtype, shape=list(value.shape),
                             shared_name=arg)
                inits.append(apply_op("AssignVariableOp", resource=h, value=init))
                readers[arg] = h
                kwargs[arg] = h
            else:
                v = apply_op("VariableV2", name=arg, dtype=dtype, shape=list(value.shape))
                inits.append(apply_op("Assign", ref=v, value=init))
                readers[arg] = v
                kwargs[arg] = v
        else:
            ph = _placeholder(arg, value, unknown)
            feeds[ph] = value
            kwargs[arg] = ph
    out = apply_op(case["op"], name="op", **kwargs, **case["attrs"])
    if resource:
        readers = {k: apply_op("ReadVariableOp", resource=h, dtype=tf.as_dtype(
            _input(case, k).dtype)) for k, h in readers.items()}
    else:
        readers = {k: tf.identity(v) for k, v in readers.items()}
    return out, feeds, inits, readers


@pytest.mark.parametrize("name", OP_CASES)
def test_op_values_match_tf(name):
    case = CASES[name]
    with tf.Graph().as_default():
        outs, feeds = _build_op(case)
        with tf.Session() as sess:
            values = sess.run(outs, feeds)
    assert len(values) == case["n_outputs"]
    for i, value in enumerate(values):
        want = ARRAYS[f"{name}/out/{i}"]
        value = np.asarray(value)
        if case["op"] == "TopKV2" and not case["attrs"].get("sorted", True):
            value, want = np.sort(value, axis=-1), np.sort(want, axis=-1)  # order unspecified
        _close(value, want, f"{name} output {i}")


@pytest.mark.parametrize("name", APPLY_CASES)
def test_updates_match_tf_after_one_and_three_steps(name):
    case = CASES[name]
    with tf.Graph().as_default():
        out, feeds, inits, readers = _build_apply(case)
        with tf.Session() as sess:
            sess.run(inits)
            got = sess.run(out, feeds)
            if case["n_outputs"]:
                _close(np.asarray(got), ARRAYS[f"{name}/out/0"], f"{name} ref output")
            else:
                assert got is None
            for slot, reader in readers.items():
                _close(sess.run(reader), ARRAYS[f"{name}/after1/{slot}"], f"{name} {slot} x1")
            sess.run(out, feeds)
            sess.run(out, feeds)
            for slot, reader in readers.items():
                _close(sess.run(reader), ARRAYS[f"{name}/after3/{slot}"], f"{name} {slot} x3")


@pytest.mark.parametrize("name", ERROR_CASES)
def test_errors_match_tf_and_name_the_node(name):
    case = CASES[name]
    assert case["error"]["where"] == "run"
    with tf.Graph().as_default():
        if case["kind"] == "op":
            outs, feeds = _build_op(case, unknown=True)
            inits = []
        else:
            outs, feeds, inits, _ = _build_apply(case, unknown=True)
        with tf.Session() as sess:
            sess.run(inits)
            with pytest.raises(errors.OpError) as info:
                sess.run(outs, feeds)
    assert type(info.value).__name__ == case["error"]["class"], str(info.value)
    assert info.value.op is not None and info.value.op.name == "op"
    assert "'op'" in str(info.value)
    assert case["error"]["message"] in str(info.value)


# -- properties the fixtures cannot pin ---------------------------------------------------------
def test_uninitialized_variable_raises_failed_precondition():
    with tf.Graph().as_default():
        v = apply_op("VariableV2", name="v", dtype=tf.float32, shape=[2])
        op = apply_op("ApplyGradientDescent", name="op", var=v, alpha=np.float32(0.1),
                      delta=np.ones(2, np.float32))
        with tf.Session() as sess:
            with pytest.raises(errors.FailedPreconditionError) as info:
                sess.run(op)
    assert "'op'" in str(info.value)


def test_updates_write_in_place_when_the_array_is_owned_else_replace_it():
    ref = VarRef("v", None, None)
    owned = np.zeros(3, np.float32)
    ref.value = owned
    store(np, ref, np.ones(3, np.float32))
    assert ref.value is owned and owned.tolist() == [1, 1, 1]
    frozen = np.zeros(3, np.float32)
    frozen.flags.writeable = False
    ref.value = frozen
    store(np, ref, np.ones(3, np.float32))
    assert ref.value is not frozen and frozen.tolist() == [0, 0, 0]
    assert ref.value.tolist() == [1, 1, 1] and ref.value.flags.writeable
    view = np.zeros(6, np.float32)[::2]
    ref.value = view
    store(np, ref, np.ones(3, np.float32))
    assert ref.value is not view and view.tolist() == [0, 0, 0]


def test_a_fetched_variable_value_is_not_changed_by_later_updates():
    with tf.Graph().as_default():
        v = apply_op("VariableV2", name="v", dtype=tf.float32, shape=[2])
        init = apply_op("Assign", ref=v, value=tf.constant([1.0, 2.0]))
        op = apply_op("ApplyGradientDescent", name="op", var=v, alpha=np.float32(1.0),
                      delta=np.ones(2, np.float32))
        with tf.Session() as sess:
            sess.run(init)
            before = sess.run(v)
            sess.run(op)
            after = sess.run(v)
    assert before.tolist() == [1.0, 2.0] and after.tolist() == [0.0, 1.0]


@pytest.mark.parametrize("op_type", ["ResourceApplyGradientDescent", "ResourceApplyAdagrad",
                                     "ResourceSparseApplyAdagrad", "ResourceScatterAdd"])
def test_resource_updates_leave_values_read_before_them_alone(op_type):
    """ReadVariableOp hands out the variable's array; a resource update must not write into it
    (TF copies a buffer a reader still holds)."""
    one = np.ones(2, np.float32)
    with tf.Graph().as_default():
        h = apply_op("VarHandleOp", name="v", dtype=tf.float32, shape=[2], shared_name="v")
        a = apply_op("VarHandleOp", name="a", dtype=tf.float32, shape=[2], shared_name="a")
        inits = [apply_op("AssignVariableOp", resource=h, value=tf.constant([1.0, 2.0])),
                 apply_op("AssignVariableOp", resource=a, value=tf.constant([1.0, 1.0]))]
        read = apply_op("ReadVariableOp", resource=h, dtype=tf.float32)
        idx = np.array([0, 1], np.int32)
        kwargs = {
            "ResourceApplyGradientDescent": dict(var=h, alpha=np.float32(1.0), delta=one),
            "ResourceApplyAdagrad": dict(var=h, accum=a, lr=np.float32(1.0), grad=one),
            "ResourceSparseApplyAdagrad": dict(var=h, accum=a, lr=np.float32(1.0), grad=one,
                                               indices=idx),
            "ResourceScatterAdd": dict(resource=h, indices=idx, updates=one),
        }[op_type]
        op = apply_op(op_type, name="op", **kwargs)
        with tf.Session() as sess:
            sess.run(inits)
            before = sess.run(read)
            sess.run(op)
            after = sess.run(read)
    assert before.tolist() == [1.0, 2.0]
    assert after.tolist() != [1.0, 2.0]


def test_scalar_variables_update():
    with tf.Graph().as_default():
        v = apply_op("VariableV2", name="v", dtype=tf.float32, shape=[])
        h = apply_op("VarHandleOp", name="h", dtype=tf.float32, shape=[], shared_name="h")
        inits = [apply_op("Assign", ref=v, value=tf.constant(3.0)),
                 apply_op("AssignVariableOp", resource=h, value=tf.constant(3.0))]
        ops = [apply_op("ApplyGradientDescent", var=v, alpha=np.float32(0.5),
                        delta=np.float32(2.0)),
               apply_op("ResourceApplyGradientDescent", var=h, alpha=np.float32(0.5),
                        delta=np.float32(2.0))]
        read = apply_op("ReadVariableOp", resource=h, dtype=tf.float32)
        with tf.Session() as sess:
            sess.run(inits)
            sess.run(ops)
            got = sess.run([v, read])
    assert [float(x) for x in got] == [2.0, 2.0]
    assert all(np.asarray(x).shape == () and np.asarray(x).dtype == np.float32 for x in got)


def test_sparse_rounds_apply_duplicates_in_order():
    rounds = _rounds(np.array([3, 0, 3, 1, 3, 0]))
    assert [r.tolist() for r in rounds] == [[0, 1, 3], [2, 5], [4]]
    assert [r.tolist() for r in _rounds(np.array([2, 0, 1]))] == [[0, 1, 2]]
    assert _rounds(np.zeros((0,), np.int32)) == []


def test_sparse_apply_with_duplicates_is_sequential():
    var0 = np.array([[1.0, 2.0], [3.0, 4.0]])
    accum0 = np.ones((2, 2))
    grad = np.array([[1.0, 1.0], [2.0, 2.0], [0.5, 0.5]])
    with tf.Graph().as_default():
        v = apply_op("VariableV2", name="v", dtype=tf.float64, shape=[2, 2])
        a = apply_op("VariableV2", name="a", dtype=tf.float64, shape=[2, 2])
        inits = [apply_op("Assign", ref=v, value=tf.constant(var0)),
                 apply_op("Assign", ref=a, value=tf.constant(accum0))]
        op = apply_op("SparseApplyAdagrad", name="op", var=v, accum=a, lr=np.float64(0.5),
                      grad=grad, indices=np.array([1, 1, 0], np.int32))
        with tf.Session() as sess:
            sess.run(inits)
            got = sess.run(op)
    want, acc = var0.copy(), accum0.copy()
    for row, g in zip([1, 1, 0], grad):
        acc[row] += g * g
        want[row] -= 0.5 * g / np.sqrt(acc[row])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_scatter_add_on_a_non_writable_array_replaces_it():
    with tf.Graph().as_default():
        v = apply_op("VariableV2", name="v", dtype=tf.float32, shape=[3])
        init = apply_op("Assign", ref=v, value=tf.constant([0.0, 0.0, 0.0]))
        op = apply_op("ScatterAdd", name="op", ref=v, indices=np.array([0, 0], np.int32),
                      updates=np.array([1.0, 2.0], np.float32))
        with tf.Session() as sess:
            sess.run(init)
            (ref,) = sess._state.variables.values()
            frozen = np.zeros(3, np.float32)
            frozen.flags.writeable = False  # as a value restored from a read-only buffer
            ref.value = frozen
            assert sess.run(op).tolist() == [3.0, 0.0, 0.0]
            assert frozen.tolist() == [0.0, 0.0, 0.0]


# -- TF's own training graphs ----------------------------------------------------------------------
META = os.path.join(DATA, "meta")


@pytest.mark.parametrize("name", ["mlp_devices", "hparams"])
def test_tf_training_graph_runs_its_train_op_with_tfs_numbers(name):
    with open(os.path.join(META, name, "spec.json")) as f:
        spec = json.load(f)
    expected = np.load(os.path.join(META, name, "expected.npz"))
    g = tf.Graph()
    with g.as_default():
        saver = tf.train.import_meta_graph(os.path.join(META, name, spec["meta"]),
                                           clear_devices=True)
    after = {k[len("after_train/"):]: expected[k] for k in expected.files
             if k.startswith("after_train/")}
    assert after
    with tf.Session(graph=g) as sess:
        saver.restore(sess, os.path.join(META, name, spec["checkpoint_prefix"]))
        # spec["expected"]["after_train"]: one run "with the same feeds" as the recorded
        # outputs, i.e. inputs/* (train/* is the batch the checkpoint was trained on).
        feeds = {k: expected[f"inputs/{k}"] for k in spec["inputs"]}
        sess.run(spec["train_op"], feeds)
        names = sorted(after)
        got = sess.run([g.get_tensor_by_name(f"{n}:0") for n in names])
    for n, value in zip(names, got):
        np.testing.assert_allclose(value, after[n], rtol=1e-5, atol=1e-6,
                                   err_msg=f"{name}: variable {n} after one train step")
