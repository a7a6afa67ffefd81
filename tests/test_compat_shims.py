"""tf.compat.v1 spellings TF1 scripts use beyond the graph API: compat.v1, logging, gfile."""

from __future__ import annotations

import logging

import gmeta as tf


def test_compat_v1_is_gmeta():
    assert tf.compat.v1 is tf and tf.compat.v1.placeholder is tf.placeholder
    assert tf.compat.as_bytes("a") == b"a" and tf.compat.as_text(b"a") == "a"


def test_logging(caplog):
    tf.logging.set_verbosity(tf.logging.INFO)
    with caplog.at_level(logging.INFO, logger="gmeta"):
        tf.logging.info("step %d", 3)
    assert "step 3" in caplog.text
    assert tf.logging.get_verbosity() == tf.logging.INFO


def test_gfile(tmp_path):
    d = tmp_path / "a" / "b"
    tf.gfile.MakeDirs(str(d))
    with tf.gfile.GFile(str(d / "f.txt"), "w") as f:
        f.write("x")
    assert tf.gfile.Exists(str(d / "f.txt")) and tf.gfile.IsDirectory(str(d))
    assert tf.gfile.Glob(str(d / "*.txt")) == [str(d / "f.txt")]
    tf.gfile.DeleteRecursively(str(tmp_path / "a"))
    assert not tf.gfile.Exists(str(d))
