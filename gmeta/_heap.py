"""Keeping freed heap memory for the next step (glibc's sliding mmap and trim thresholds).

A training step allocates and frees the same arrays every time. With glibc's starting values,
an array of 128 KiB or more is a fresh ``mmap`` and memory freed at the top of the heap beyond
128 KiB goes back to the system at once, so every step faults the same pages in again (and the
kernel zeroes them): in an LSTM step, whose loop keeps every iteration's activations for the
gradient loop, that is about a fifth of the step. A caching allocator (TF's BFC allocator,
PyTorch's) keeps such memory.

glibc adapts by itself: freeing an ``mmap``-ed block raises the mmap threshold to its size
and the trim threshold to twice that (up to 32 MiB), after which arrays of that size come from
the heap and freed memory stays for reuse. A process that has run one large step is there
already; gmeta gets there at once by allocating and freeing one ``GMETA_HEAP_SLIDE``-byte block
(16 MiB unless set; 0 turns it off) when the first Session is made: arrays below 16 MiB are
then served from the heap, and up to 32 MiB freed at its top is kept. Nothing is pinned
(``mallopt`` would switch the sliding off for good, which slows steps whose arrays are larger);
pages are resident only once a step has used them.

The process's own ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_TOP_PAD_``
(glibc's variables, which stop the sliding) are left to rule; other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

DEFAULT_SLIDE = 16 << 20
_GLIBC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")

_applied: int | None = None  # the block size used, 0 when none was


def keep_freed_memory() -> int:
    """Slides glibc's thresholds up (once per process); returns the block size used, 0 when
    nothing was done."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = 0
    if not sys.platform.startswith("linux") or any(v in os.environ for v in _GLIBC_VARIABLES):
        return 0
    try:
        size = int(os.environ.get("GMETA_HEAP_SLIDE", DEFAULT_SLIDE))
    except ValueError:
        return 0
    if not 0 < size <= 32 << 20:  # glibc slides no further than 32 MiB
        return 0
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (glibc only)
        libc.malloc.restype = ctypes.c_void_p
        libc.free.argtypes = [ctypes.c_void_p]
        block = libc.malloc(ctypes.c_size_t(size - 4096))  # with its header: size bytes
        if block:
            libc.free(block)  # an mmap-ed block freed: the thresholds slide up to its size
            _applied = size
    except (OSError, AttributeError):
        pass
    return _applied
