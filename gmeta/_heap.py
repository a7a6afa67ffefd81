"""Keeping freed heap memory for the next step (glibc's ``M_TOP_PAD`` and ``M_MMAP_THRESHOLD``).

A training step allocates and frees the same arrays every time. With glibc's defaults, memory
freed at the top of the heap beyond 128 KiB goes back to the system at once, so the next step
faults the same pages in again (and the kernel zeroes them): in an LSTM step, whose loop keeps
every iteration's activations for the gradient loop, that is about a fifth of the step. A
caching allocator (TF's BFC allocator, PyTorch's) keeps such memory; gmeta asks glibc to do the
same by keeping ``GMETA_MALLOC_TOP_PAD`` bytes (64 MiB unless set; 0 turns it off) at the top
of the heap. Setting it switches off glibc's sliding mmap threshold, which otherwise moves
arrays of a size freed before (an MNIST layer's 2 MiB activations, a checkpoint's 16 MiB
tensors) from fresh ``mmap``s, faulted in on every use, to the heap; so the threshold is set
where glibc's sliding one stops, 32 MiB. The pages are only resident once a step has used them,
so the peak memory of a step is unchanged; what stays resident after it is at most the pad.

Set once, when the first Session is made. The process's own ``MALLOC_TOP_PAD_`` or
``MALLOC_MMAP_THRESHOLD_`` (glibc's variables) leave both alone; other C libraries are left
alone too.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TOP_PAD = -2  # mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
DEFAULT_TOP_PAD = 64 << 20
MMAP_THRESHOLD = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: its largest

_applied: int | None = None  # the pad set, 0 when none was


def keep_freed_memory() -> int:
    """Sets glibc's top pad (once per process); returns the bytes set, 0 when it was not."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = 0
    if not sys.platform.startswith("linux") or "MALLOC_TOP_PAD_" in os.environ or \
            "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return 0
    try:
        pad = int(os.environ.get("GMETA_MALLOC_TOP_PAD", DEFAULT_TOP_PAD))
    except ValueError:
        return 0
    if pad <= 0:
        return 0
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (glibc only: musl has no such mallopt)
        if libc.mallopt(_M_TOP_PAD, ctypes.c_int(min(pad, 2**31 - 1))) == 1:
            _applied = pad
            libc.mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(MMAP_THRESHOLD))
    except (OSError, AttributeError):
        pass
    return _applied
