"""Timing helpers shared by the gmeta and TensorFlow sides (no imports beyond the stdlib)."""

from __future__ import annotations

import statistics
import time


def measure(fn, min_time=0.5, repeats=7):
    """Median seconds per call of ``fn`` over ``repeats`` timed batches (after a warm-up)."""
    for _ in range(5):
        fn()
    n, t = 1, 0.0
    while True:  # size a batch to about min_time / repeats
        start = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - start
        if t >= min_time / repeats or n >= 1 << 20:
            break
        n *= 2
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n)
    return {"median_s": statistics.median(samples), "min_s": min(samples), "calls": n * repeats}


def run_workloads(tf, names, session_kwargs=None, min_time=0.5):
    """Times each named workload with ``tf`` (gmeta or tensorflow.compat.v1)."""
    from bench.workloads import WORKLOADS

    results = []
    for name in names:
        g = tf.Graph()
        with g.as_default():
            fetches, feed = WORKLOADS[name](tf)
            init = tf.global_variables_initializer()
            sess = tf.Session(graph=g, **(session_kwargs or {}))
            sess.run(init)
            r = measure(lambda: sess.run(fetches, feed), min_time=min_time)
            sess.close()
        results.append({"figure": name, **r})
    return results
