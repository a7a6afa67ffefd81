"""Placement with virtual GPUs (numpy-backed, so this runs on CPU-only machines): honoured
requests, soft fallbacks, cluster fields, remap rules, colocation, no-GPU-kernel fallback,
host-memory shape math, strict errors, copy insertion (counted) and the placement log."""

from __future__ import annotations

import numpy as np
import pytest

import gmeta as tf
from gmeta import errors
from gmeta.devices import discovery


@pytest.fixture
def gpus(monkeypatch):
    """``n`` virtual GPUs and no real one (a machine with GPUs runs these tests the same)."""
    monkeypatch.setattr(discovery, "_probe_gpus",
                        lambda: ([], "real GPUs hidden by the test"))

    def use(n):
        monkeypatch.setattr(discovery, "_virtual_gpus", n)

    use(2)
    return use


def _rows(sess, fetches=None, feed=None):
    return {r["node"]: r for r in sess.placement(fetches, feed)}


def _mlp(device_w=None, device_compute=None):
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    with tf.device(device_w):
        w = tf.Variable(np.arange(12, dtype=np.float32).reshape(4, 3) / 10, name="w")
    with tf.device(device_compute):
        y = tf.nn.relu(tf.matmul(x, w), name="y")
    loss = tf.reduce_sum(y, name="loss")
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    return x, w, y, loss, train


def _train(sess, x, loss, train, steps=3):
    feed = {x: np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)}
    sess.run(tf.global_variables_initializer())
    return [float(sess.run([train, loss], feed)[1]) for _ in range(steps)]


def test_honoured_request_on_existing_gpu(gpus):
    with tf.Graph().as_default():
        x, w, y, loss, train = _mlp("/gpu:1", "/device:GPU:0")
        sess = tf.Session()
        rows = _rows(sess)
    assert rows["w"]["assigned"].endswith("/device:GPU:1") and rows["w"]["reason"] == "honoured"
    assert rows["w"]["virtual"] is True
    assert rows["MatMul"]["assigned"].endswith("/device:GPU:0")
    assert rows["MatMul"]["reason"] == "honoured"


def test_missing_gpu_index_falls_to_index_mod_gpu_count(gpus):
    with tf.Graph().as_default():
        _mlp("/gpu:3", "/gpu:2")
        rows = _rows(tf.Session())
    assert rows["w"]["assigned"].endswith("/device:GPU:1")  # 3 mod 2
    assert rows["w"]["reason"] == "soft-fallback-no-device"
    assert "GPU:3 does not exist" in rows["w"]["detail"]
    assert rows["MatMul"]["assigned"].endswith("/device:GPU:0")  # 2 mod 2


def test_no_gpu_falls_to_cpu_with_the_inventory_reason(gpus):
    gpus(0)
    with tf.Graph().as_default():
        _mlp("/gpu:0", "/gpu:0")
        sess = tf.Session()
        rows = _rows(sess)
    assert rows["w"]["assigned"].endswith("/device:CPU:0")
    assert rows["w"]["reason"] == "soft-fallback-no-device"
    assert sess.inventory.gpu_reason == "real GPUs hidden by the test"
    assert "real GPUs hidden by the test" in rows["w"]["detail"]


def test_cluster_fields_are_treated_as_local(gpus):
    with tf.Graph().as_default():
        _mlp("/job:ps/task:0/device:CPU:0", "/job:worker/replica:0/task:3/device:GPU:1")
        rows = _rows(tf.Session())
    assert rows["w"]["assigned"].endswith("/device:CPU:0")
    assert "cluster fields" in rows["w"]["detail"]
    assert rows["MatMul"]["assigned"].endswith("/device:GPU:1")
    assert "cluster fields" in rows["MatMul"]["detail"]


def test_remap_rules_apply_before_placement(gpus, tmp_path):
    path = str(tmp_path / "m.meta")
    with tf.Graph().as_default():
        _mlp("/job:worker/task:0/device:GPU:3", "/job:worker/task:0/device:GPU:2")
        tf.train.export_meta_graph(path)
    with tf.Graph().as_default() as g:
        tf.train.import_meta_graph(path, device_map={"/device:GPU:2": "/device:GPU:1",
                                                     "/device:GPU:3": "/device:GPU:0"})
        assert g.get_operation_by_name("MatMul").device.endswith("GPU:1")
        rows = _rows(tf.Session())
    assert rows["MatMul"]["assigned"].endswith("/device:GPU:1")
    assert rows["w"]["assigned"].endswith("/device:GPU:0")


def test_ops_that_write_a_variable_go_where_it_lives(gpus):
    with tf.Graph().as_default():
        _mlp("/gpu:1", None)
        rows = _rows(tf.Session())
    for name in ("w/Assign", "w/read", "GradientDescent/update_w/ApplyGradientDescent"):
        assert rows[name]["assigned"].endswith("/device:GPU:1"), rows[name]
    assert rows["GradientDescent/update_w/ApplyGradientDescent"]["group"] == "w"


def test_resource_variable_ops_are_colocated_with_the_handle(gpus):
    with tf.Graph().as_default():
        with tf.device("/gpu:1"):
            v = tf.get_variable("v", initializer=np.ones(3, np.float32), use_resource=True)
        with tf.device("/gpu:0"):
            out = tf.reduce_sum(v.read_value() * 2.0)
        sess = tf.Session()
        sess.run(tf.global_variables_initializer())
        assert float(sess.run(out)) == 6.0
        rows = _rows(sess)
    reads = [r for r in rows.values() if r["op"] == "ReadVariableOp"]
    assert reads and all(r["assigned"].endswith("/device:GPU:1") for r in reads)


def test_ops_without_a_gpu_kernel_fall_back_to_cpu(gpus, tmp_path):
    with tf.Graph().as_default():
        with tf.device("/gpu:0"):
            _mlp()
            saver = tf.train.Saver()
        sess = tf.Session()
        sess.run(tf.global_variables_initializer())
        saver.save(sess, str(tmp_path / "ck"))
        rows = _rows(sess)
    save = rows["save/SaveV2"]
    assert save["assigned"].endswith("/device:CPU:0")
    assert save["reason"] == "soft-fallback-no-kernel" and "SaveV2" in save["detail"]


def test_shape_arithmetic_stays_on_the_host(gpus):
    with tf.Graph().as_default():
        with tf.device("/gpu:0"):
            _mlp()
        rows = _rows(tf.Session())
    shape_ops = [r for r in rows.values() if r["op"] == "Shape"]
    assert shape_ops and all(r["reason"] == "host-memory" for r in shape_ops)
    assert all(r["assigned"].endswith("/device:CPU:0") for r in shape_ops)


def test_unrequested_nodes_go_to_the_first_gpu(gpus):
    with tf.Graph().as_default():
        _mlp()
        rows = _rows(tf.Session())
    assert rows["MatMul"]["assigned"].endswith("/device:GPU:0")
    assert rows["MatMul"]["reason"] == "default"


def test_strict_mode_fails_at_session_creation_listing_every_node(gpus, monkeypatch):
    gpus(0)
    monkeypatch.setattr(discovery, "_soft_placement", False)
    with tf.Graph().as_default():
        _mlp("/gpu:0", "/gpu:1")
        with pytest.raises(errors.InvalidArgumentError) as e:
            tf.Session()
    msg = str(e.value)
    assert "soft placement off" in msg and "'/gpu:0'" not in msg  # canonical strings
    for name in ("w (VariableV2)", "MatMul (MatMul)", "y (Relu)"):
        assert name in msg
    assert "/device:GPU:1" in msg and "Devices here: /device:CPU:0" in msg


def test_strict_mode_allows_requests_that_exist(gpus, monkeypatch):
    monkeypatch.setattr(discovery, "_soft_placement", False)
    with tf.Graph().as_default():
        x, w, y, loss, train = _mlp("/gpu:1", "/gpu:0")
        losses = _train(tf.Session(), x, loss, train)
    assert len(losses) == 3


def test_copies_are_inserted_and_counted(gpus):
    with tf.Graph().as_default():
        x, w, y, loss, train = _mlp("/gpu:1", "/gpu:0")
        sess = tf.Session()
        split = _train(sess, x, loss, train)
        t = sess.transfers([train, loss], {x: np.zeros((2, 4), np.float32)})
    edges = {(e["tensor"], e["consumer"]) for e in t["edges"]}
    # the feed goes to GPU:0; the weights' read crosses GPU:1 -> GPU:0; the gradient crosses
    # back to GPU:1 where the update runs; the learning rate, a constant, was copied to GPU:1
    # once, when the plan was compiled, and is no copy of any step
    assert ("x:0", "MatMul") in edges and ("w/read:0", "MatMul") in edges
    assert ("gradients/MatMul_grad/tuple/control_dependency_1:0",
            "GradientDescent/update_w/ApplyGradientDescent") in edges
    assert not any(tensor.startswith("GradientDescent/learning_rate") for tensor, _ in edges)
    assert t["copies_per_step"] == len(t["edges"]) == 3
    # bytes per step: x (2x4 f32) + w (4x3 f32) + grad (4x3 f32)
    assert t["bytes_per_step"] == 32 + 48 + 48
    with tf.Graph().as_default():
        x, w, y, loss, train = _mlp()
        sess = tf.Session(config=tf.ConfigProto(device_count={"GPU": 0}))
        cpu = _train(sess, x, loss, train)
        assert sess.transfers([train, loss], {x: np.zeros((2, 4), np.float32)})["edges"] == []
    np.testing.assert_allclose(split, cpu, rtol=1e-6)


def test_log_device_placement_explains_each_node(gpus, capsys):
    with tf.Graph().as_default():
        x, w, y, loss, train = _mlp("/gpu:5", None)
        sess = tf.Session(config=tf.ConfigProto(log_device_placement=True))
        _train(sess, x, loss, train, steps=1)
    err = capsys.readouterr().err
    assert "(virtual)" in err and "no real GPU" in err
    assert "w (VariableV2): /device:GPU:5 -> /device:GPU:1 (virtual) [soft-fallback-no-device" \
        in err


def test_device_count_zero_hides_gpus(gpus):
    inv = discovery.inventory(tf.ConfigProto(device_count={"GPU": 0}))
    assert [d.device_type for d in inv.devices] == ["CPU"]
    assert inv.gpu_reason


def test_environment_variable_adds_virtual_gpus(gpus, monkeypatch):
    monkeypatch.setattr(discovery, "_virtual_gpus", None)
    monkeypatch.setenv("GMETA_VIRTUAL_GPUS", "3")
    assert [d.label() for d in discovery.inventory().gpus] == [
        "/device:GPU:0 (virtual)", "/device:GPU:1 (virtual)", "/device:GPU:2 (virtual)"]
    monkeypatch.setenv("GMETA_VIRTUAL_GPUS", "lots")
    with pytest.raises(ValueError, match="GMETA_VIRTUAL_GPUS"):
        discovery.inventory()


def test_virtual_gpus_are_off_by_default(monkeypatch):
    monkeypatch.setattr(discovery, "_virtual_gpus", None)
    monkeypatch.delenv("GMETA_VIRTUAL_GPUS", raising=False)
    assert not any(d.virtual for d in discovery.inventory().devices)


def test_list_physical_devices_marks_virtual_gpus(gpus):
    devs = tf.config.list_physical_devices("GPU")
    assert [d.name for d in devs] == ["/physical_device:GPU:0", "/physical_device:GPU:1"]
    assert all(d.virtual for d in devs)


def test_unparsable_device_in_a_file_names_the_node(gpus):
    from gmeta.proto import GraphDef

    gd = GraphDef()
    node = gd.node.add(name="c", op="Const", device="/bogus:thing")
    node.attr["dtype"].type = 1
    node.attr["value"].tensor.dtype = 1
    node.attr["value"].tensor.float_val.append(1.0)
    with tf.Graph().as_default():
        tf.import_graph_def(gd, name="")
        with pytest.raises(errors.InvalidArgumentError, match="Node 'c' requests device "
                                                              "'/bogus:thing'.*Accepted forms"):
            tf.Session().placement()


def test_inventory_says_why_there_is_no_gpu():
    discovery._reset_probe_for_tests()
    inv = discovery.inventory()
    if not any(d.real_gpu for d in inv.devices):
        assert inv.gpu_reason and any(word in inv.gpu_reason for word in (
            "cupy", "CUDA", "NVML", "no CUDA device", "no usable GPU"))
    else:  # pragma: no cover - GPU machines
        assert inv.gpu_reason is None
        gpu = inv.gpus[0]
        assert gpu.memory_total and gpu.compute_capability and not gpu.virtual


def test_visible_device_list_needs_known_ordinals(gpus, monkeypatch):
    real = [discovery.LocalDevice("GPU", 0, description="fake A", ordinal=0),
            discovery.LocalDevice("GPU", 1, description="fake B", ordinal=1)]
    monkeypatch.setattr(discovery, "_probe_gpus", lambda: (real, None))
    gpus(0)
    cfg = tf.ConfigProto()
    cfg.gpu_options.visible_device_list = "1,0"
    inv = discovery.inventory(cfg)
    assert [(d.index, d.description) for d in inv.gpus] == [(0, "fake B"), (1, "fake A")]
    cfg.gpu_options.visible_device_list = "2"
    with pytest.raises(ValueError, match="names GPU ordinal"):
        discovery.inventory(cfg)


def test_gpu_out_of_memory_is_resource_exhausted_naming_the_node(gpus):
    from gmeta.executor import _wrap_error

    class OutOfMemoryError(MemoryError):  # what cupy raises (cupy.cuda.memory)
        pass

    with tf.Graph().as_default():
        c = tf.constant(1.0, name="big")
    err = _wrap_error(OutOfMemoryError("Out of memory allocating 8,589,934,592 bytes"), c.op, ())
    assert isinstance(err, errors.ResourceExhaustedError)
    assert "'big'" in str(err) and "8,589,934,592 bytes" in str(err)


def test_opt_in_retry_on_cpu_after_a_gpu_runs_out_of_memory(gpus, monkeypatch):
    from gmeta import kernels

    class OutOfMemoryError(MemoryError):  # what cupy raises
        pass

    real = kernels.lookup("MatMul", "GPU")

    def factory(ctx):
        fn = real.factory(ctx)
        if ctx.device_type != "GPU":
            return fn

        def run(a, b):
            raise OutOfMemoryError("Out of memory allocating 1,073,741,824 bytes")

        return run

    monkeypatch.setitem(kernels._REGISTRY, ("MatMul", "GPU"),
                        real._replace(factory=factory, device="GPU"))
    with tf.Graph().as_default():
        x, w, y, loss, train = _mlp(None, "/gpu:0")
        with pytest.raises(errors.ResourceExhaustedError, match="'MatMul'"):
            _train(tf.Session(), x, loss, train, steps=1)
        sess = tf.Session(oom_retry_on_cpu=True)
        got = _train(sess, x, loss, train, steps=2)
        rows = _rows(sess)
    assert rows["MatMul"]["assigned"].endswith("/device:CPU:0")
    assert rows["MatMul"]["reason"] == "oom-retry-on-cpu"
    with tf.Graph().as_default():
        x, w, y, loss, train = _mlp()
        want = _train(tf.Session(config=tf.ConfigProto(device_count={"GPU": 0})), x, loss,
                      train, steps=2)
    np.testing.assert_allclose(got, want, rtol=1e-6)
