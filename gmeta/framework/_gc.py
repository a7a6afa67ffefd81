"""``paused_gc()``: no cyclic garbage collection while a bulk build creates tens of thousands of
objects that are not garbage (an import of 18k nodes otherwise spends a third of its time in the
collector walking the growing graph again and again)."""

from __future__ import annotations

import contextlib
import gc


@contextlib.contextmanager
def paused_gc():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
