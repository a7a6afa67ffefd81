"""export_meta_graph / import_meta_graph options: formats, collections, scopes, unbound inputs,
repeated imports, device handling (clear_devices, device_map), and bad files."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

import gmeta as tf
from gmeta.proto import Any, MetaGraphDef, SaverDef


def _mlp(devices=False):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        with tf.device("/device:GPU:1" if devices else None):
            with tf.name_scope("layer"):
                w = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
                y = tf.nn.relu(tf.matmul(x, w), name="y")
        with tf.device("/job:worker/task:3/device:GPU:2" if devices else None):
            out = tf.identity(y * 2.0, name="out")
        tf.add_to_collection("outputs", out)
    return g, x, w, out


def test_export_fills_meta_info_and_is_deterministic(tmp_path):
    g, *_ = _mlp()
    path = tmp_path / "m.meta"
    mgd = tf.train.export_meta_graph(str(path), graph=g)
    assert isinstance(mgd, MetaGraphDef) and path.read_bytes() == mgd.SerializeToString(
        deterministic=True)
    ops = [o.name for o in mgd.meta_info_def.stripped_op_list.op]
    assert ops == sorted(ops) and {"MatMul", "Relu", "VariableV2", "Placeholder"} <= set(ops)
    matmul = next(o for o in mgd.meta_info_def.stripped_op_list.op if o.name == "MatMul")
    assert {a.name for a in matmul.attr} >= {"T", "transpose_a", "transpose_b"}
    assert mgd.graph_def.versions.producer == 2474
    assert not mgd.HasField("saver_def")  # the module-level function writes none (as TF)
    node = next(n for n in mgd.graph_def.node if n.name == "layer/MatMul")
    assert list(node.attr["_output_shapes"].list.shape[0].dim) and \
        [d.size for d in node.attr["_output_shapes"].list.shape[0].dim] == [-1, 2]
    again = tf.train.export_meta_graph(graph=g)
    assert again.SerializeToString(deterministic=True) == path.read_bytes()


def test_text_and_binary_files_import_alike(tmp_path):
    g, *_ = _mlp()
    tf.train.export_meta_graph(str(tmp_path / "t.meta"), graph=g, as_text=True)
    tf.train.export_meta_graph(str(tmp_path / "b.meta"), graph=g)
    assert (tmp_path / "t.meta").read_text().startswith("meta_info_def")
    defs = []
    for name in ("t.meta", "b.meta"):
        g2 = tf.Graph()
        with g2.as_default():
            tf.train.import_meta_graph(str(tmp_path / name))
        defs.append(g2.as_graph_def())
    assert defs[0] == defs[1]


def test_hyper_parameter_collections_round_trip(tmp_path):
    g, x, w, out = _mlp()
    with g.as_default():
        for v in (0.1, 0.9):
            tf.add_to_collection("hparams", v)
        for v in (128, 2 ** 40):
            tf.add_to_collection("layer_sizes", v)
        tf.add_to_collection("optimizer", "adam")
        tf.add_to_collection("raw", b"\x00\xff")
        tf.add_to_collection("ops", out.op)
        tf.add_to_collection("protos", Any(type_url="type.googleapis.com/tensorflow.SaverDef",
                                           value=SaverDef(version=2).SerializeToString()))
    tf.train.export_meta_graph(str(tmp_path / "h.meta"), graph=g)
    g2 = tf.Graph()
    with g2.as_default():
        tf.train.import_meta_graph(str(tmp_path / "h.meta"))
    assert g2.get_collection("hparams") == pytest.approx([0.1, 0.9], rel=1e-7)
    assert g2.get_collection("layer_sizes") == [128, 2 ** 40]
    assert g2.get_collection("optimizer") == [b"adam"]
    assert g2.get_collection("raw") == [b"\x00\xff"]
    assert [t.name for t in g2.get_collection("outputs")] == ["out:0"]
    assert [o.name for o in g2.get_collection("ops")] == ["out"]
    assert g2.get_collection("protos")[0].type_url.endswith("SaverDef")
    assert [v.name for v in g2.get_collection("trainable_variables")] == ["layer/w:0"]
    assert g2.get_collection("variables")[0] is g2.get_collection("trainable_variables")[0]


def test_unserialisable_collection_is_named_in_a_warning(caplog):
    g, *_ = _mlp()
    with g.as_default():
        tf.add_to_collection("flags", True)
        tf.add_to_collection("mixed", 1)
        tf.add_to_collection("mixed", "a")
    with caplog.at_level(logging.WARNING, logger="gmeta"):
        mgd = tf.train.export_meta_graph(graph=g)
    assert "flags" not in mgd.collection_def and "mixed" not in mgd.collection_def
    text = caplog.text
    assert "'flags'" in text and "bool" in text and "'mixed'" in text


def test_collections_gmeta_cannot_convert_are_kept(tmp_path, caplog):
    g, *_ = _mlp()
    mgd = tf.train.export_meta_graph(graph=g)
    mgd.collection_def["dangling"].node_list.value.append("no_such_node:0")
    with caplog.at_level(logging.WARNING, logger="gmeta"):
        g2 = tf.Graph()
        with g2.as_default():
            tf.train.import_meta_graph(mgd)
    assert "dangling" in caplog.text
    again = tf.train.export_meta_graph(graph=g2)
    assert again.collection_def["dangling"] == mgd.collection_def["dangling"]


def test_importing_twice_uniquifies_and_collections_follow():
    g, *_ = _mlp()
    mgd = tf.train.export_meta_graph(graph=g)
    g2 = tf.Graph()
    with g2.as_default():
        tf.train.import_meta_graph(mgd)
        tf.train.import_meta_graph(mgd)
    names = [v.op.name for v in g2.get_collection("variables")]
    assert names == ["layer/w", "layer/w_1"]  # TF lists layer/w twice
    assert g2.get_operation_by_name("layer/w_1/read").inputs[0].op.name == "layer/w_1"
    assert [t.name for t in g2.get_collection("outputs")] == ["out:0", "out_1:0"]
    with tf.Session(graph=g2) as sess:
        sess.run(tf.global_variables_initializer())  # both copies get initialised
        got = sess.run(["out:0", "out_1:0"], {"x:0": np.ones((1, 3)), "x_1:0": np.ones((1, 3))})
    np.testing.assert_array_equal(got[0], got[1])


def test_import_scope_prefixes_everything():
    g, *_ = _mlp()
    mgd = tf.train.export_meta_graph(graph=g)
    g2 = tf.Graph()
    with g2.as_default():
        tf.train.import_meta_graph(mgd, import_scope="imp")
    assert g2.get_operation_by_name("imp/layer/w/read").get_attr("_class") == [b"loc:@imp/layer/w"]
    assert [v.name for v in g2.get_collection("variables")] == ["imp/layer/w:0"]


def test_export_scope_and_unbound_inputs():
    g, x, w, out = _mlp()
    mgd = tf.train.export_meta_graph(graph=g, export_scope="layer")
    assert sorted(n.name for n in mgd.graph_def.node) == sorted(
        n.name[len("layer/"):] for n in g.as_graph_def().node if n.name.startswith("layer/"))
    mm = next(n for n in mgd.graph_def.node if n.name == "MatMul")
    assert list(mm.input) == ["$unbound_inputs_x", "w/read"]
    assert list(mgd.collection_def["unbound_inputs"].bytes_list.value) == [b"$unbound_inputs_x"]
    g2 = tf.Graph()
    with g2.as_default():
        with pytest.raises(ValueError, match="unbound inputs"):
            tf.train.import_meta_graph(mgd)
    g3 = tf.Graph()
    with g3.as_default():
        z = tf.placeholder(tf.float32, [None, 3], name="z")
        tf.train.import_meta_graph(mgd, import_scope="new", input_map={"$unbound_inputs_x": z})
        y = g3.get_tensor_by_name("new/y:0")
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            np.testing.assert_array_equal(sess.run(y, {z: [[1, 1, 1]]}), [[6, 9]])


def test_input_map_and_return_elements():
    g, *_ = _mlp()
    mgd = tf.train.export_meta_graph(graph=g)
    g2 = tf.Graph()
    with g2.as_default():
        c = tf.constant([[1.0, 0.0, 0.0]])
        saver, (out, matmul) = tf.train.import_meta_graph(
            mgd, input_map={"x:0": c}, return_elements=["out:0", "layer/MatMul"])
        assert saver is not None and matmul.inputs[0] is c
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            np.testing.assert_array_equal(sess.run(out), [[0, 2]])
        with pytest.raises(ValueError, match="not found in graph_def"):
            tf.train.import_meta_graph(mgd, input_map={"nope:0": c})


def test_clear_devices_and_device_map():
    g, *_ = _mlp(devices=True)
    mgd = tf.train.export_meta_graph(graph=g)
    assert {n.device for n in mgd.graph_def.node} >= {"/device:GPU:1",
                                                      "/job:worker/task:3/device:GPU:2"}
    g2 = tf.Graph()
    with g2.as_default():
        tf.train.import_meta_graph(mgd, clear_devices=True)
    # (the Saver that import adds for the variables pins its RestoreV2 to /device:CPU:0, as TF)
    assert {o.device for o in g2.get_operations() if not o.name.startswith("save/")} == {""}
    assert g2.get_operation_by_name("layer/w/read").get_attr("_class") == [b"loc:@layer/w"]
    g3 = tf.Graph()
    with g3.as_default():
        tf.train.import_meta_graph(mgd, device_map={"/job:worker": "/job:localhost/task:0",
                                                    "/device:GPU:1": "/device:GPU:0"})
    assert g3.get_operation_by_name("out").device == "/job:localhost/task:0/device:GPU:2"
    assert g3.get_operation_by_name("layer/MatMul").device == "/device:GPU:0"
    g4 = tf.Graph()
    with g4.as_default():
        tf.train.import_meta_graph(mgd, device_map=lambda node: "/cpu:0" if node.device else "")
    assert {o.device for o in g4.get_operations()} <= {"/device:CPU:0", ""}
    g5 = tf.Graph()
    with g5.as_default():
        tf.train.import_meta_graph(mgd, device_map={"*GPU:2": "/device:CPU:0"})
    # the target is merged over the recorded device: job and task stay
    assert g5.get_operation_by_name("out").device == "/job:worker/task:3/device:CPU:0"


def test_strip_default_attrs():
    g, *_ = _mlp()
    mgd = tf.train.export_meta_graph(graph=g, strip_default_attrs=True)
    mm = next(n for n in mgd.graph_def.node if n.name == "layer/MatMul")
    assert "transpose_a" not in mm.attr and "T" in mm.attr
    assert mgd.meta_info_def.stripped_default_attrs
    g2 = tf.Graph()
    with g2.as_default():
        tf.train.import_meta_graph(mgd)
    assert g2.get_operation_by_name("layer/MatMul").get_attr("transpose_a") is False


def test_clear_extraneous_savers(tmp_path):
    g, *_ = _mlp()
    with g.as_default():
        tf.train.Saver()
        keep = tf.train.Saver()
    with g.as_default():
        mgd = keep.export_meta_graph(clear_extraneous_savers=True)
    names = {n.name.split("/")[0] for n in mgd.graph_def.node}
    assert "save_1" in names and "save" not in names
    assert len(mgd.collection_def["savers"].bytes_list.value) == 1


@pytest.mark.parametrize("content", [b"\x0a\xff\xff\xff\x0f garbage", b"not a proto {{{",
                                     b"\x08"])
def test_corrupt_meta_files_name_the_file(tmp_path, content):
    path = tmp_path / "bad.meta"
    path.write_bytes(content)
    with pytest.raises(tf.errors.DataLossError, match="bad.meta"):
        tf.train.import_meta_graph(str(path))


def test_truncated_meta_file(tmp_path):
    g, *_ = _mlp()
    data = tf.train.export_meta_graph(graph=g).SerializeToString()
    path = tmp_path / "cut.meta"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises((tf.errors.DataLossError, ValueError), match="cut.meta|input"):
        with tf.Graph().as_default():
            tf.train.import_meta_graph(str(path))


def test_missing_meta_file(tmp_path):
    with pytest.raises(tf.errors.NotFoundError, match="nothing.meta"):
        tf.train.import_meta_graph(str(tmp_path / "nothing.meta"))
    with pytest.raises(IOError):
        tf.train.import_meta_graph(str(tmp_path / "nothing.meta"))


def test_import_into_a_non_default_graph_and_no_saver_without_variables():
    g = tf.Graph()
    with g.as_default():
        tf.constant(1.0, name="c")
    mgd = tf.train.export_meta_graph(graph=g)
    target = tf.Graph()
    assert tf.train.import_meta_graph(mgd, graph=target) is None
    assert target.get_operation_by_name("c").type == "Const"
    assert "c" not in [o.name for o in tf.get_default_graph().get_operations()]


def test_export_creates_directories(tmp_path):
    g, *_ = _mlp()
    path = tmp_path / "a" / "b" / "m.meta"
    tf.train.export_meta_graph(str(path), graph=g)
    assert path.exists() and not [p for p in os.listdir(path.parent) if ".tmp" in p]


def test_queue_runner_and_context_collections_round_trip_and_follow_scopes():
    from gmeta.proto import CondContextDef, QueueRunnerDef

    g, *_ = _mlp()
    mgd = tf.train.export_meta_graph(graph=g)
    qr = QueueRunnerDef(queue_name="queue", enqueue_op_name=["enq", "enq_1"],
                        close_op_name="close", cancel_op_name="cancel")
    cond = CondContextDef(context_name="cond/cond_text", pred_name="cond/pred_id:0",
                          pivot_name="cond/switch_t:0", branch=1)
    cond.values_def.values.extend(["cond/x:0"])
    cond.values_def.external_values["out:0"] = "cond/x:0"
    mgd.collection_def["queue_runners"].bytes_list.value.append(qr.SerializeToString())
    mgd.collection_def["cond_context"].bytes_list.value.append(cond.SerializeToString())
    g2 = tf.Graph()
    with g2.as_default():
        tf.train.import_meta_graph(mgd)
    again = tf.train.export_meta_graph(graph=g2)
    assert again.collection_def["queue_runners"] == mgd.collection_def["queue_runners"]
    assert again.collection_def["cond_context"] == mgd.collection_def["cond_context"]
    g3 = tf.Graph()
    with g3.as_default():
        tf.train.import_meta_graph(mgd, import_scope="imp")
    (ctx,) = g3.get_collection("cond_context")
    assert ctx.proto.context_name == "imp/cond/cond_text"
    assert ctx.proto.pivot_name == "imp/cond/switch_t:0"
    assert dict(ctx.proto.values_def.external_values) == {"imp/out:0": "imp/cond/x:0"}
    (runner,) = g3.get_collection("queue_runners")
    assert list(runner.proto.enqueue_op_name) == ["imp/enq", "imp/enq_1"]
    scoped = tf.train.export_meta_graph(graph=g3, export_scope="imp")
    assert scoped.collection_def["cond_context"] == mgd.collection_def["cond_context"]


def test_a_meta_graph_written_with_strip_default_attrs_imports_with_the_defaults(tmp_path):
    path = str(tmp_path / "stripped.meta")
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3], name="x")
        tf.shape(x, name="s")  # Shape's out_type (int32) is a default attr: stripped
        tf.matmul(x, tf.ones([3, 2]), name="mm")
        tf.train.export_meta_graph(path, strip_default_attrs=True)
    from gmeta.framework.meta_graph import read_meta_graph_file

    stripped = {n.name: n for n in read_meta_graph_file(path).graph_def.node}
    assert "out_type" not in stripped["s"].attr and "transpose_a" not in stripped["mm"].attr
    with tf.Graph().as_default() as g:
        tf.train.import_meta_graph(path)
        s = g.get_tensor_by_name("s:0")
        assert s.dtype == tf.int32 and g.get_operation_by_name("s").get_attr("out_type") == \
            tf.int32
        assert g.get_operation_by_name("mm").get_attr("transpose_a") is False
        with tf.Session() as sess:
            assert list(sess.run(s, {"x:0": np.zeros((4, 3), np.float32)})) == [4, 3]
