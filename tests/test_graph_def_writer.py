"""The wire-format GraphDef writer (gmeta/framework/_graph_def_writer.py) against NodeDefs built
field by field with the protobuf API (``Operation.node_def``), and its per-op attr cache
against later attr changes."""

from __future__ import annotations

import glob
import os

import numpy as np

import gmeta as tf
from gmeta.framework import attr_value as attr_lib
from gmeta.framework import meta_graph
from gmeta.proto import GraphDef, NodeDef

META = os.path.join(os.path.dirname(__file__), "fixtures", "data", "meta")


def _by_name(gd):
    return {n.name: n for n in gd.node}


def _reference_node(op, add_shapes):
    nd = NodeDef()
    nd.CopyFrom(op.node_def)  # protobuf-API NodeDef, without _output_shapes
    if add_shapes and op.outputs:
        shapes = nd.attr["_output_shapes"].list.shape
        for t in op.outputs:
            p = shapes.add()
            if t.shape.dims is None:
                p.unknown_rank = True
            else:
                for d in t.shape.as_list():
                    p.dim.add(size=-1 if d is None else d)
    return nd


def _check_graph(g, add_shapes):
    gd = g.as_graph_def(add_shapes=add_shapes)
    assert [n.name for n in gd.node] == [op.name for op in g.get_operations()]
    got = _by_name(gd)
    for op in g.get_operations():
        want = _reference_node(op, add_shapes)
        assert got[op.name] == want, op.name


def test_seed_style_graph_matches_protobuf_api_nodes():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 4], name="x")
        with tf.device("/cpu:0"):
            w = tf.Variable(np.ones((4, 3), np.float32), name="w")
        y = tf.nn.relu(tf.matmul(x, w) + 1.0)
        with tf.control_dependencies([y.op]):
            z = tf.identity(y, name="z")
        tf.reduce_sum(z, axis=[0, 1], name="s")
        tf.train.GradientDescentOptimizer(0.1).minimize(tf.reduce_sum(z))
    for add_shapes in (False, True):
        _check_graph(g, add_shapes)


def test_imported_tf_graphs_match_protobuf_api_nodes():
    paths = sorted(glob.glob(os.path.join(META, "*", "*.meta")))
    paths = [p for p in paths if not p.endswith("reexported.meta")]  # gmeta-written
    assert len(paths) >= 10
    for path in paths:
        g = tf.Graph()
        with g.as_default():
            mgd = meta_graph.read_meta_graph_file(path)
            col = mgd.collection_def.get("unbound_inputs")
            unbound = [v.decode() for v in col.bytes_list.value] if col is not None else []
            feeds = {u: tf.placeholder(tf.float32, name=f"feed{i}") for i, u in enumerate(unbound)}
            tf.train.import_meta_graph(path, input_map=feeds or None)
        for add_shapes in (True, False):
            _check_graph(g, add_shapes)


def test_attr_change_after_export_is_exported():
    g = tf.Graph()
    with g.as_default():
        a = tf.constant([1.0, 2.0], name="a")
        b = tf.identity(a, name="b")
    first = _by_name(g.as_graph_def())["b"]
    assert "_note" not in first.attr
    b.op._set_attr("_note", attr_lib.make_attr_value("string", "x"))
    second = _by_name(g.as_graph_def())["b"]
    assert second.attr["_note"].s == b"x"
    b.op._clear_attr("_note")
    assert "_note" not in _by_name(g.as_graph_def())["b"].attr


def test_recorded_shapes_kept_until_shape_is_refined(tmp_path):
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, None, name="x")
        tf.identity(x, name="y")
        path = str(tmp_path / "m.meta")
        tf.train.export_meta_graph(path)
    g2 = tf.Graph()
    with g2.as_default():
        tf.train.import_meta_graph(path)
        y = g2.get_tensor_by_name("y:0")
        shape = _by_name(g2.as_graph_def(add_shapes=True))["y"].attr["_output_shapes"]
        assert shape.list.shape[0].unknown_rank
        y.set_shape([2, 3])
        shape = _by_name(g2.as_graph_def(add_shapes=True))["y"].attr["_output_shapes"]
        assert [d.size for d in shape.list.shape[0].dim] == [2, 3]


def test_large_names_and_many_inputs_encode_long_varints():
    g = tf.Graph()
    with g.as_default():
        parts = [tf.constant(float(i), name="c" * 200 + str(i)) for i in range(100)]
        tf.add_n(parts, name="n" * 20000)
    gd = g.as_graph_def()
    got = _by_name(gd)["n" * 20000]
    assert len(got.input) == 100 and got.input[99] == "c" * 200 + "99"
    GraphDef().ParseFromString(gd.SerializeToString())
