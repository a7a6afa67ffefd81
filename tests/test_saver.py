"""Saver: TF's save/restore subgraph, checkpoint naming and bookkeeping, durability, and restore
errors that name every missing or mismatched key."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import gmeta as tf
from gmeta.proto import MetaGraphDef

HERE = os.path.dirname(__file__)
META = os.path.join(HERE, "fixtures", "data", "meta")
sys.path.insert(0, os.path.join(HERE, "fixtures"))

from seed_model import build_seed  # noqa: E402


def _model():
    g = tf.Graph()
    with g.as_default():
        w = tf.Variable([[1.0, 2.0], [3.0, 4.0]], name="w")
        b = tf.Variable([0.5, -0.5], name="b")
        step = tf.Variable(0, name="global_step", trainable=False, dtype=tf.int64)
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        y = tf.matmul(x, w) + b
    return g, w, b, step, x, y


def test_saver_nodes_and_saver_def_equal_tensorflows():
    g = tf.Graph()
    with g.as_default():
        tf.set_random_seed(0)
        build_seed(tf)
        saver = tf.train.Saver()
    want = MetaGraphDef()
    with open(os.path.join(META, "seed_guide", "my-save-dir", "my-model-10000.meta"), "rb") as f:
        want.ParseFromString(f.read())
    theirs = {n.name: n for n in want.graph_def.node if n.name.startswith("save/")}
    mine = {n.name: n for n in g.as_graph_def().node if n.name.startswith("save/")}
    assert sorted(mine) == sorted(theirs)
    for name, node in mine.items():
        other = theirs[name]
        if "_output_shapes" in other.attr:
            del other.attr["_output_shapes"]
        assert node == other, f"{name} differs from TF's"
    assert saver.saver_def == want.saver_def


def test_save_and_restore_round_trip(tmp_path):
    g, w, b, step, x, y = _model()
    with g.as_default():
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run([w.assign([[5.0, 6.0], [7.0, 8.0]]), step.assign(42)])
            path = saver.save(sess, str(tmp_path / "model"), global_step=step)
        assert path == str(tmp_path / "model-42")
        assert os.path.exists(path + ".index") and os.path.exists(path + ".meta")
        with tf.Session() as sess:
            saver.restore(sess, path)
            np.testing.assert_array_equal(sess.run(w), [[5, 6], [7, 8]])
            assert sess.run(step) == 42
            np.testing.assert_allclose(sess.run(y, {x: [[1.0, 1.0]]}), [[12.5, 13.5]])
    reader = tf.train.NewCheckpointReader(path)
    assert reader.get_variable_to_shape_map() == {"w": [2, 2], "b": [2], "global_step": []}
    np.testing.assert_array_equal(tf.train.load_variable(path, "b"), [0.5, -0.5])


def test_step_names_and_padding(tmp_path):
    g, *_ = _model()
    with g.as_default():
        saver = tf.train.Saver(pad_step_number=True)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            assert saver.save(sess, str(tmp_path / "p"), global_step=7).endswith("p-00000007")
            assert saver.save(sess, str(tmp_path / "q"), write_meta_graph=False).endswith("q")
    assert not os.path.exists(tmp_path / "q.meta")


def test_max_to_keep_series_as_tensorflow(tmp_path):
    """Files and state after each save equal TF's (the `series` fixture), paths relative."""
    spec = json.load(open(os.path.join(META, "series", "spec.json")))
    g, *_ = _model()
    with g.as_default():
        saver = tf.train.Saver(max_to_keep=2)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for save in spec["saves"]:
                saver.save(sess, str(tmp_path / "model"), global_step=save["step"])
                assert sorted(os.listdir(tmp_path)) == sorted(save["files"])
                assert [os.path.basename(p) for p in saver.last_checkpoints] == \
                    save["last_checkpoints"]
                state = tf.train.get_checkpoint_state(str(tmp_path))
                assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == \
                    save["last_checkpoints"]
    text = open(tmp_path / "checkpoint").read()
    assert 'model_checkpoint_path: "model-4"' in text and str(tmp_path) not in text


def test_moved_directory_still_resolves(tmp_path):
    g, *_ = _model()
    with g.as_default():
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            saver.save(sess, str(tmp_path / "a" / "m") if os.makedirs(tmp_path / "a") is None
                       else None, global_step=1)
    os.rename(tmp_path / "a", tmp_path / "b")
    assert tf.train.latest_checkpoint(str(tmp_path / "b")) == str(tmp_path / "b" / "m-1")


def test_restarted_saver_continues_bookkeeping_and_keeps_unlisted_files(tmp_path):
    g, *_ = _model()
    with g.as_default():
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            first = tf.train.Saver(max_to_keep=2)
            for step in (1, 2):
                first.save(sess, str(tmp_path / "m"), global_step=step, write_meta_graph=False)
            (tmp_path / "m-0.index").write_bytes(b"not listed in the state file")
            restarted = tf.train.Saver(max_to_keep=2)  # a new process, in effect
            restarted.save(sess, str(tmp_path / "m"), global_step=3, write_meta_graph=False)
    assert not os.path.exists(tmp_path / "m-1.index")  # TF would have kept it forever
    assert os.path.exists(tmp_path / "m-2.index") and os.path.exists(tmp_path / "m-3.index")
    assert os.path.exists(tmp_path / "m-0.index")  # never delete what the state file omits
    assert [os.path.basename(p) for p in restarted.last_checkpoints] == ["m-2", "m-3"]


def test_restore_lists_missing_and_unexpected_keys_with_close_matches(tmp_path):
    g, w, b, *_ = _model()
    with g.as_default():
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            path = tf.train.Saver({"w": w, "bias": b}).save(sess, str(tmp_path / "m"))
    g2, *_ = _model()
    with g2.as_default():
        saver = tf.train.Saver()
        with tf.Session() as sess:
            with pytest.raises(tf.errors.NotFoundError) as info:
                saver.restore(sess, path)
    msg = str(info.value)
    assert "b" in msg and "global_step" in msg and "bias" in msg and str(tmp_path) in msg
    assert "checkpoint has bias" not in msg or "b (checkpoint has" in msg


def test_restore_with_a_name_mapping(tmp_path):
    g, w, b, *_ = _model()
    with g.as_default():
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(b.assign([9.0, 9.0]))
            path = tf.train.Saver({"old/bias": b}).save(sess, str(tmp_path / "m"))
    g2, _, b2, *_ = _model()
    with g2.as_default():
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            tf.train.Saver({"old/bias": b2}).restore(sess, path)
            np.testing.assert_array_equal(sess.run(b2), [9.0, 9.0])


def test_shape_mismatch_restores_nothing(tmp_path):
    g = tf.Graph()
    with g.as_default():
        a = tf.Variable([1.0, 2.0, 3.0], name="a")
        c = tf.Variable([1.0], name="c")
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            path = tf.train.Saver().save(sess, str(tmp_path / "m"))
    g2 = tf.Graph()
    with g2.as_default():
        a2 = tf.Variable([0.0, 0.0], name="a")
        c2 = tf.Variable([0.0], name="c")
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            with pytest.raises(tf.errors.InvalidArgumentError, match=r"a: checkpoint has shape "
                                                                     r"\[3\]"):
                tf.train.Saver().restore(sess, path)
            assert sess.run(c2)[0] == 0.0  # nothing was restored
            assert sess.run(a2).tolist() == [0.0, 0.0]
    del a, c


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    g, w, *_ = _model()
    with g.as_default():
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            saver.save(sess, str(tmp_path / "m"), global_step=1)
            before = {p: open(tmp_path / p, "rb").read() for p in os.listdir(tmp_path)}

            def crash(*args, **kwargs):
                raise OSError("disk full (simulated)")

            monkeypatch.setattr(os, "fsync", crash)
            with pytest.raises(tf.errors.InvalidArgumentError, match=r"disk full \(simulated\)"):
                saver.save(sess, str(tmp_path / "m"), global_step=2)
            monkeypatch.undo()
    after = {p: open(tmp_path / p, "rb").read() for p in os.listdir(tmp_path)}
    assert after == before  # no partial m-2 files, state file untouched
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "m-1")


def test_bad_paths(tmp_path):
    g, *_ = _model()
    with g.as_default():
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            with pytest.raises(ValueError, match="Parent directory"):
                saver.save(sess, str(tmp_path / "missing" / "m"))
            with pytest.raises(ValueError, match="not a valid checkpoint"):
                saver.restore(sess, str(tmp_path / "nothing"))
            with pytest.raises(ValueError, match="None"):
                saver.restore(sess, None)
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match="No variables to save"):
            tf.train.Saver()
        assert tf.train.Saver(allow_empty=True).saver_def is None


def test_sharded_saver_writes_shards_and_restores(tmp_path):
    g = tf.Graph()
    with g.as_default():
        with tf.device("/cpu:0"):
            a = tf.Variable([1.0, 2.0], name="a")
        with tf.device("/cpu:1"):
            c = tf.Variable([[3]], name="c")
        saver = tf.train.Saver(sharded=True)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            path = saver.save(sess, str(tmp_path / "s"), global_step=3)
            sess.run([a.assign([0.0, 0.0]), c.assign([[0]])])
            saver.restore(sess, path)
            assert sess.run(a).tolist() == [1.0, 2.0] and sess.run(c).tolist() == [[3]]
    files = sorted(os.listdir(tmp_path))
    assert "s-3.data-00000-of-00002" in files and "s-3.data-00001-of-00002" in files
    assert not any("_temp" in f for f in files)
    assert saver.saver_def.sharded and saver.saver_def.save_tensor_name == "save/Identity:0"


def test_restore_v2_reads_slices_of_a_tf_partitioned_variable(tmp_path):
    """RestoreV2 with shape_and_slices specs (how TF restores partitioned variables), from a
    TF-written checkpoint; SaveV2 writes the slices back so that the full tensor reads alike."""
    from gmeta.framework.op_def_library import apply_op

    prefix = os.path.join(HERE, "fixtures", "data", "ckpt", "partitioned", "model-3")
    full = tf.train.load_variable(prefix, "emb")
    assert full.shape == (10, 3)
    specs = ["10 3 0,4:0,3", "10 3 4,3:0,3", "10 3 7,3:0,3", "10 3 2,5:1,2"]
    g = tf.Graph()
    with g.as_default():
        parts = apply_op("RestoreV2", prefix=prefix, tensor_names=["emb"] * len(specs),
                         shape_and_slices=specs, dtypes=[tf.float32] * len(specs))
        out = str(tmp_path / "resaved")
        save = apply_op("SaveV2", prefix=out, tensor_names=["emb"] * 3,
                        shape_and_slices=specs[:3], tensors=parts[:3])
        with tf.Session() as sess:
            got = sess.run(parts)
            sess.run(save)
    np.testing.assert_array_equal(got[0], full[0:4])
    np.testing.assert_array_equal(got[2], full[7:10])
    np.testing.assert_array_equal(got[3], full[2:7, 1:3])  # across partitions, as TF's reader
    np.testing.assert_array_equal(tf.train.load_variable(out, "emb"), full)


def test_global_step_nodes_and_variable_def_equal_tensorflows():
    want = MetaGraphDef()
    with open(os.path.join(META, "mlp_devices", "model-3.meta"), "rb") as f:
        want.ParseFromString(f.read())
    g = tf.Graph()
    with g.as_default():
        with tf.device("/device:CPU:*"):
            step = tf.train.get_or_create_global_step()
        assert tf.train.get_or_create_global_step() is step
        assert tf.train.get_global_step() is step
        with pytest.raises(ValueError, match="already exists"):
            tf.train.create_global_step()
        tf.global_variables_initializer()  # TF's file has one: it marks the Assign
        mgd = tf.train.export_meta_graph()
    theirs = {n.name: n for n in want.graph_def.node if n.name.startswith("global_step")}
    mine = {n.name: n for n in mgd.graph_def.node if n.name.startswith("global_step")}
    assert sorted(mine) == sorted(theirs)
    for name, node in mine.items():
        assert node == theirs[name], name
    assert mgd.collection_def["global_step"] == want.collection_def["global_step"]
    with tf.Session(graph=g) as sess:
        sess.run(step.initializer)
        assert tf.train.global_step(sess, step) == 0
