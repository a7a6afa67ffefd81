"""gmeta/_heap.py: glibc keeps freed step memory (M_TOP_PAD) unless told otherwise."""

import os
import platform
import subprocess
import sys

import pytest

from gmeta import _heap

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pad_in_fresh_process(**env) -> int:
    full = {k: v for k, v in os.environ.items()
            if k not in ("GMETA_MALLOC_TOP_PAD", "MALLOC_TOP_PAD_")}
    full.update(env)
    full["PYTHONPATH"] = ROOT
    code = ("import gmeta as tf\n"
            "from gmeta import _heap\n"
            "first = _heap.keep_freed_memory()\n"
            "tf.Session(graph=tf.Graph()).close()\n"
            "assert _heap.keep_freed_memory() == first\n"
            "print(first)\n")
    out = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                         text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not GLIBC, reason="M_TOP_PAD is a glibc mallopt parameter")
def test_default_pad_is_set_once():
    assert _pad_in_fresh_process() == _heap.DEFAULT_TOP_PAD


@pytest.mark.skipif(not GLIBC, reason="M_TOP_PAD is a glibc mallopt parameter")
def test_pad_from_the_environment():
    assert _pad_in_fresh_process(GMETA_MALLOC_TOP_PAD=str(8 << 20)) == 8 << 20


@pytest.mark.parametrize("env", [{"GMETA_MALLOC_TOP_PAD": "0"}, {"GMETA_MALLOC_TOP_PAD": "x"},
                                 {"MALLOC_TOP_PAD_": "4096"}])
def test_turned_off_or_left_to_glibc(env):
    assert _pad_in_fresh_process(**env) == 0
