"""Timing helpers shared by the gmeta and TensorFlow sides (no imports beyond the stdlib)."""

from __future__ import annotations

import gc
import shutil
import statistics
import tempfile
import time


def measure(fn, min_time=0.5, repeats=7, warmup=5, sync=None):
    """Median seconds per call of ``fn`` over ``repeats`` timed batches (after a warm-up).
    ``sync``: for asynchronous devices, run before every clock read so that a batch's time
    covers the device work its calls queued."""
    sync = sync or _nothing
    for _ in range(warmup):
        fn()
    sync()
    n, t = 1, 0.0
    while True:  # size a batch to about min_time / repeats
        start = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        t = time.perf_counter() - start
        if t >= min_time / repeats or n >= 1 << 20:
            break
        n *= 2
    samples = []
    for _ in range(repeats):
        gc.collect()
        sync()
        start = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        samples.append((time.perf_counter() - start) / n)
    return {"median_s": statistics.median(samples), "min_s": min(samples), "calls": n * repeats}


def _nothing():
    pass


def run_workloads(tf, names, min_time=0.5):
    """Times each named workload with ``tf`` (gmeta or tensorflow.compat.v1)."""
    from bench.workloads import WORKLOADS

    results = []
    for name in names:
        w = WORKLOADS[name]
        workdir = tempfile.mkdtemp(prefix=f"gmeta-bench-{name}-")
        try:
            g = tf.Graph()
            with g.as_default():
                step = w.setup(tf, workdir)
                if w.heavy:
                    r = measure(step, min_time=0.0, repeats=7, warmup=1)
                else:
                    r = measure(step, min_time=min_time)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        row = {"figure": name, **r}
        if w.unit == "MB/s":
            row["mb_per_s"] = w.megabytes / r["median_s"]
        results.append(row)
    return results
