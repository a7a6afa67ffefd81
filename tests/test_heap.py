"""gmeta/_heap.py: glibc's thresholds slid up once, so freed step memory is kept for reuse."""

import os
import platform
import subprocess
import sys

import pytest

from gmeta import _heap

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Page faults while a "step" keeps 100 arrays of 64 KiB alive (as a loop keeps its activations
# for the gradient) and frees them, 20 times: with the thresholds slid the freed heap top is
# kept and reused; without, glibc gives it back after every step and the next one faults it in.
_FAULTS = """
import resource
import numpy as np
from gmeta import _heap
print(_heap.keep_freed_memory())
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    kept = [np.ones(1 << 14, np.float32) for _ in range(100)]
    del kept
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _fresh_process(code, **env):
    full = {k: v for k, v in os.environ.items()
            if k not in ("GMETA_HEAP_SLIDE",) + _heap._GLIBC_VARIABLES}
    full.update(env)
    full["PYTHONPATH"] = ROOT
    out = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                         text=True, check=True)
    return [int(x) for x in out.stdout.split()]


def _slide_in_fresh_process(**env) -> int:
    code = ("import gmeta as tf\n"
            "from gmeta import _heap\n"
            "first = _heap.keep_freed_memory()\n"
            "tf.Session(graph=tf.Graph()).close()\n"
            "assert _heap.keep_freed_memory() == first\n"
            "print(first)\n")
    return _fresh_process(code, **env)[0]


@pytest.mark.skipif(not GLIBC, reason="the sliding thresholds are glibc's")
def test_slid_once_by_the_first_session():
    assert _slide_in_fresh_process() == _heap.DEFAULT_SLIDE
    assert _slide_in_fresh_process(GMETA_HEAP_SLIDE=str(8 << 20)) == 8 << 20


@pytest.mark.skipif(not GLIBC, reason="the sliding thresholds are glibc's")
def test_freed_arrays_reuse_heap_pages():
    applied, faults = _fresh_process(_FAULTS)
    off, faults_off = _fresh_process(_FAULTS, GMETA_HEAP_SLIDE="0")
    assert applied == _heap.DEFAULT_SLIDE and off == 0
    # each step's 6.4 MB is 1600 pages
    assert faults_off > 10 * 1600 and faults < faults_off / 5, (faults, faults_off)


@pytest.mark.parametrize("env", [{"GMETA_HEAP_SLIDE": "0"}, {"GMETA_HEAP_SLIDE": "x"},
                                 {"GMETA_HEAP_SLIDE": str(64 << 20)},
                                 {"MALLOC_TOP_PAD_": "4096"},
                                 {"MALLOC_MMAP_THRESHOLD_": "1048576"}])
def test_turned_off_or_left_to_glibc(env):
    assert _slide_in_fresh_process(**env) == 0
