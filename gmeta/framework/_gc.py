"""``paused_gc()``: no cyclic garbage collection while a bulk build creates tens of thousands of
objects that are not garbage (an import of 18k nodes otherwise spends a third of its time in the
collector walking the growing graph again and again).

On the way out the objects made meanwhile are handed to the oldest generation directly
(``gc.freeze()`` then ``gc.unfreeze()``, two list splices): they are a graph that lives on, and
the first young-generation collection would otherwise scan all ~100k of them at once (25 ms after
an 18k-node import). They are still collected, by the next full collection, if they become
garbage. Skipped when the program has frozen objects of its own, which ``unfreeze`` would
release.
"""

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
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
