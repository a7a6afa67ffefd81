"""``gm.gfile`` (tf.compat.v1.gfile): the file helpers TF1 scripts use, on the local filesystem."""

from __future__ import annotations

import glob as _glob
import os
import shutil

GFile = Open = open


def Exists(path) -> bool:  # noqa: N802 - TF's names
    return os.path.exists(path)


def MakeDirs(path) -> None:  # noqa: N802
    os.makedirs(path, exist_ok=True)


def MkDir(path) -> None:  # noqa: N802
    os.mkdir(path)


def IsDirectory(path) -> bool:  # noqa: N802
    return os.path.isdir(path)


def ListDirectory(path) -> list:  # noqa: N802
    return os.listdir(path)


def Glob(pattern) -> list:  # noqa: N802
    return _glob.glob(pattern)


def Remove(path) -> None:  # noqa: N802
    os.remove(path)


def DeleteRecursively(path) -> None:  # noqa: N802
    shutil.rmtree(path)


def Rename(src, dst, overwrite=False) -> None:  # noqa: N802
    if not overwrite and os.path.exists(dst):
        raise FileExistsError(f"Rename target {dst!r} exists (pass overwrite=True)")
    os.replace(src, dst)


def Copy(src, dst, overwrite=False) -> None:  # noqa: N802
    if not overwrite and os.path.exists(dst):
        raise FileExistsError(f"Copy target {dst!r} exists (pass overwrite=True)")
    shutil.copyfile(src, dst)
