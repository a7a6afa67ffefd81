"""The import's fast paths against the plain rules they shortcut: colocation set while nodes are
created (and redone in order when a target comes later or a name changes), used names and scopes
marked in bulk, recorded shapes decoded once per distinct value, consumer lists filled on first
use, the Saver's bulk restore Assigns, the shared control-dependency attr."""

from __future__ import annotations

import random

import numpy as np
import pytest

import gmeta as tf
from gmeta.devices.spec import canonical_name
from gmeta.framework import importer
from gmeta.proto import AttrValue, GraphDef

_DEVICES = ["", "", "/device:CPU:0", "/device:GPU:1", "/gpu:0", "/job:w/task:1"]


def _random_graph_def(rng: random.Random, n: int) -> GraphDef:
    """NoOps with random devices and ``_class`` lists naming earlier, later, missing-free and
    duplicated nodes."""
    gd = GraphDef()
    names = [f"s{rng.randrange(3)}/n{i}" for i in range(n)]
    if rng.random() < 0.15:  # a duplicated name: the import renames the second one
        names[rng.randrange(1, n)] = names[0]
    backward = rng.random() < 0.5  # only ops made before (what pass 1 colocates itself)
    for i, name in enumerate(names):
        node = gd.node.add(name=name, op="NoOp", device=rng.choice(_DEVICES))
        r = rng.random()
        if r < 0.6 and (i or not backward):
            targets = names[:i] if backward else names
            groups = [b"loc:@" + rng.choice(targets).encode()
                      for _ in range(1 if backward or rng.random() < 0.8 else 2)]
            if not backward and rng.random() < 0.1:
                groups.append(b"not-a-group")
            node.attr["_class"].list.s.extend(groups)
        elif r < 0.65 and not backward:
            node.attr["_class"].list.SetInParent()  # present but empty
    return gd


def _expected(gd, ops_by_file_name, existing, renamed, clear_devices):
    """What the colocation rule gives each imported op, applied in creation order after every
    op exists: ``{op: (device, _class list)}``."""
    device = {op: ("" if clear_devices else node.device)
              for node, op in zip(gd.node, ops_by_file_name["__created__"])}
    classes = {}
    for node, op in zip(gd.node, ops_by_file_name["__created__"]):
        if "_class" not in node.attr:
            continue
        groups = list(node.attr["_class"].list.s)
        classes[op] = groups
        if not groups:
            continue
        target_device, new_groups = None, []
        for s in groups:
            if s.startswith(b"loc:@"):
                target = s[5:].decode()
                top = ops_by_file_name.get(target)
                new_name = top.name if renamed and top is not None else target
                if top is None:
                    top = existing[target]
                if target_device is None and device.get(top, top.device):
                    target_device = device.get(top, top.device)
                s = b"loc:@" + new_name.encode()
            new_groups.append(s)
        classes[op] = new_groups
        if not clear_devices and target_device and target_device != device[op]:
            device[op] = target_device
        if device[op] and device[op] != ("" if clear_devices else node.device):
            device[op] = canonical_name(device[op])
    return device, classes


@pytest.mark.parametrize("seed", range(60))
def test_colocation_matches_the_in_order_rule(seed):
    rng = random.Random(seed)
    gd = _random_graph_def(rng, rng.randrange(2, 12))
    g = tf.Graph()
    existing = {}
    with g.as_default():
        if seed % 3 == 1:  # names in use: the import renames the clashing ones
            existing = {n: tf.no_op(name=n) for n in ("s0/n0", "s1/n1")}
            for op in existing.values():
                op._set_device("/device:CPU:3")
        prefix = "imp" if seed % 5 == 2 else ""
        clear = seed % 7 == 3
        try:
            tf.import_graph_def(gd, name=prefix, clear_devices=clear)
        except ValueError as e:  # a target that names nothing
            assert "Specified colocation to an op that does not exist" in str(e)
            return
    created = g.get_operations()[len(existing):]
    ops_by_name = {}
    for node, op in zip(gd.node, created):
        ops_by_name[node.name] = op  # the last node of a name, as the importer resolves them
    ops_by_name["__created__"] = created
    renamed = bool(prefix) or any(op.name != (f"{prefix}/" if prefix else "") + node.name
                                  for node, op in zip(gd.node, created))
    device, classes = _expected(gd, ops_by_name, existing, renamed, clear)
    for op in created:
        assert op.device == device[op], op.name
        if op in classes:
            assert op.get_attr("_class") == classes[op], op.name


def test_a_target_made_later_waits_for_the_targets_own_colocation():
    gd = GraphDef()
    gd.node.add(name="a", op="NoOp").attr["_class"].list.s.append(b"loc:@c")  # forward
    gd.node.add(name="b", op="NoOp", device="/device:GPU:1")
    c = gd.node.add(name="c", op="NoOp", device="/device:GPU:2")
    c.attr["_class"].list.s.append(b"loc:@b")  # c itself moves to b's device
    g = tf.Graph()
    with g.as_default():
        tf.import_graph_def(gd, name="")
    by_name = {op.name: op.device for op in g.get_operations()}
    # in creation order: a takes c's device before c takes b's
    assert by_name == {"a": "/device:GPU:2", "b": "/device:GPU:1", "c": "/device:GPU:1"}


def test_missing_colocation_target_is_named():
    gd = GraphDef()
    gd.node.add(name="a", op="NoOp").attr["_class"].list.s.append(b"loc:@nowhere")
    with tf.Graph().as_default(), pytest.raises(ValueError, match="nowhere in a"):
        tf.import_graph_def(gd, name="")


@pytest.mark.parametrize("groups", [[b"loc:@a"], [b""], [b"x" * 120], [b"x" * 123],
                                    [b"x" * 124], [b"loc:@a", b"loc:@b"], [],
                                    ["loc:@\u00e9".encode()], [b"\xff"]])
def test_wire_reading_of_class_lists(groups):
    av = AttrValue()
    av.list.s.extend(groups)
    assert list(importer._list_s(av)) == groups
    single = groups[0][5:].decode() if (len(groups) == 1 and groups[0].startswith(b"loc:@")
                                        and groups[0].isascii()) else None
    assert importer._single_target(av) == single
    assert importer._single_target(AttrValue(s=b"loc:@a")) is None


def test_imported_names_and_scopes_are_marked_used():
    gd = GraphDef()
    for name in ("A/B/c", "d", "/lead", "x//y", "\u00e9t\u00e9/Z"):
        gd.node.add(name=name, op="NoOp")
    g = tf.Graph()
    with g.as_default():
        tf.import_graph_def(gd, name="")
        assert tf.no_op(name="a").name == "a_1"  # scopes compare lowercased
        assert tf.no_op(name="a/b").name == "a/b_1"
        assert tf.no_op(name="a/b/C").name == "a/b/C_1"
        assert tf.no_op(name="D").name == "D_1"
        assert tf.no_op(name="x/").name == "x"  # "x/" is a scope of "x//y", "x" too
        assert g.unique_name("\u00c9t\u00e9") == "\u00c9t\u00e9_1"  # non-ASCII: lowercased too
        assert g.unique_name("\u00e9t\u00e9/z") == "\u00e9t\u00e9/z_1"
        assert tf.no_op(name="lead").name == "lead"  # "/lead" has no enclosing scope
    used = g._names_in_use
    assert {"a", "a/b", "a/b/c", "d", "/lead", "x", "x/", "x//y"} <= set(used)


def test_marking_keeps_the_counts_of_names_already_in_use():
    g = tf.Graph()
    with g.as_default():
        for _ in range(3):
            tf.no_op(name="s")
        gd = GraphDef()
        gd.node.add(name="s_5/t", op="NoOp")
        tf.import_graph_def(gd, name="")
        assert g._names_in_use["s"] == 3
        assert tf.no_op(name="s").name == "s_3"
        assert tf.no_op(name="s_5").name == "s_5_1"


def test_recorded_shapes_are_shared_but_set_shape_stays_local(tmp_path):
    g = tf.Graph()
    with g.as_default():
        a = tf.placeholder(tf.float32, [None, 3], name="a")
        tf.placeholder(tf.float32, [None, 3], name="b")
        tf.identity(a, name="c")
        tf.train.export_meta_graph(str(tmp_path / "m.meta"))
    g2 = tf.Graph()
    with g2.as_default():
        tf.train.import_meta_graph(str(tmp_path / "m.meta"))
    a, b = g2.get_tensor_by_name("a:0"), g2.get_tensor_by_name("b:0")
    assert a.shape.as_list() == b.shape.as_list() == [None, 3]
    a.set_shape([2, 3])
    assert a.shape.as_list() == [2, 3] and b.shape.as_list() == [None, 3]
    assert g2.get_tensor_by_name("c:0").shape.as_list() == [None, 3]


def test_consumers_are_listed_in_the_order_ops_were_added():
    gd = GraphDef()
    gd.node.add(name="x", op="Placeholder").attr["dtype"].type = 1
    for i in range(3):
        node = gd.node.add(name=f"i{i}", op="Identity", input=["x"])
        node.attr["T"].type = 1
    g = tf.Graph()
    with g.as_default():
        tf.import_graph_def(gd, name="")
        x = g.get_tensor_by_name("x:0")
        assert [op.name for op in x.consumers()] == ["i0", "i1", "i2"]
        y = tf.identity(x, name="late")
        assert [op.name for op in x.consumers()] == ["i0", "i1", "i2", "late"]
        assert [op.name for op in y.consumers()] == []
        tf.identity(y, name="later")
        assert [op.name for op in y.consumers()] == ["later"]


def test_control_dependency_marks_do_not_leak_between_ops():
    g = tf.Graph()
    with g.as_default():
        a, b = tf.no_op(name="a"), tf.no_op(name="b")
        with g.control_dependencies([a, b]):
            tf.no_op(name="c")
        assert a.get_attr("_has_manual_control_dependencies") is True
        assert b.get_attr("_has_manual_control_dependencies") is True
        a._set_attr("_has_manual_control_dependencies", AttrValue(b=False))
        assert b.get_attr("_has_manual_control_dependencies") is True
        with tf.Graph().as_default():
            other = tf.no_op(name="other")
        with pytest.raises(ValueError, match="not an element of this graph"):
            with g.control_dependencies([other]):
                pass


def _saver_nodes(g):
    return [(op.name, op.type, [t.name for t in op.inputs], op.device,
             sorted((k, str(v)) for k, v in op.node_def.attr.items()),
             [t.shape.as_list() if t.shape.ndims is not None else None for t in op.outputs])
            for op in g.get_operations() if op.name.startswith("save")]


def test_bulk_restore_assigns_match_the_generic_builder():
    def build(bulk):
        g = tf.Graph()
        with g.as_default():
            with tf.device("/device:CPU:0"):
                tf.Variable(np.zeros((2, 3), np.float32), name="v")
            tf.Variable(tf.placeholder_with_default(np.zeros(2, np.float32), [None]),
                        validate_shape=False, name="u")
            tf.Variable(np.int64(3), name="s")
            if bulk:
                saver = tf.train.Saver()
            else:  # an attr scope: every Assign goes through the generic op builder
                with g._attr_scope({"_unused": AttrValue(b=True)}):
                    saver = tf.train.Saver()
        return g, saver

    g1, s1 = build(True)
    g2, s2 = build(False)
    generic = [(name, typ, ins, dev, [a for a in attrs if a[0] != "_unused"], shapes)
               for name, typ, ins, dev, attrs, shapes in _saver_nodes(g2)]
    assert _saver_nodes(g1) == generic
    assert any(name.startswith("save/Assign") for name, *_ in generic)
    assert s1.saver_def == s2.saver_def


def test_bulk_restore_hands_over_at_the_first_variable_it_cannot_build(tmp_path):
    g = tf.Graph()
    with g.as_default():
        tf.Variable(np.ones(2, np.float32), name="a")
        tf.Variable(np.ones(2, np.float32), name="c", use_resource=True)
        tf.Variable(np.ones(2, np.float32), name="e")
        saver = tf.train.Saver()
        names = [op.name for op in g.get_operations() if op.name.startswith("save/")]
        assert names.index("save/Assign") < names.index("save/AssignVariableOp") < \
            names.index("save/Assign_1")
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            path = saver.save(sess, str(tmp_path / "ck"))
            saver.restore(sess, path)


@pytest.mark.parametrize("n_out", [0, 1, 3])
@pytest.mark.parametrize("recorded", [False, True])
def test_bulk_operation_constructor_sets_every_field_as_the_class_does(n_out, recorded):
    from gmeta.framework._graph_elements import Operation, _new_operation

    g = tf.Graph()
    with g.as_default():
        x = tf.constant(1.0)
    types = [tf.float32] * n_out
    attrs = {"T": AttrValue(type=1)}
    a = Operation(g, "a", "Identity", [x], types, attrs, None, "/device:CPU:0", recorded)
    b = _new_operation(g, "a", "Identity", [x], types, attrs, None, "/device:CPU:0", recorded)
    for slot in Operation.__slots__:
        if slot in ("__weakref__", "_outputs"):
            continue
        assert getattr(a, slot) == getattr(b, slot), slot
    assert [(t._value_index, t._dtype, t._shape) for t in a._outputs] == \
        [(t._value_index, t._dtype, t._shape) for t in b._outputs]
    assert all(t._op is b for t in b._outputs)
