"""Peak memory of MNIST-MLP training: ``python -m bench.memory [--compare-tf PYTHON]``.

Each side runs in a fresh interpreter (``python -m bench.memory --child IMPL``) that imports its
framework, builds the MNIST-size MLP training step of ``bench/workloads.py`` (784-1024-1024-10,
batch 512, SGD), runs 20 steps and reports its peak resident set size (``ru_maxrss``), next to
the RSS right after the import, so the figure separates the library's own footprint from what
training adds. One JSON line per side, then a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

_STEPS = 20


def _rss_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(impl: str) -> dict:
    sys.path.insert(0, ROOT)
    if impl == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow.compat.v1 as tf

        tf.disable_v2_behavior()
        name = f"tensorflow {tf.__version__}"
    else:
        import gmeta as tf

        name = f"gmeta {tf.__version__}"
    after_import = _rss_mb()
    from bench import workloads

    with tf.Graph().as_default():
        step = workloads.mnist_mlp_train(tf, None)
        for _ in range(_STEPS):
            step()
    return {"impl": name, "figure": "mnist_mlp_train_peak_rss", "steps": _STEPS,
            "rss_after_import_mb": round(after_import, 1), "peak_rss_mb": round(_rss_mb(), 1)}


def _run(python: str, impl: str) -> dict:
    proc = subprocess.run([python, "-m", "bench.memory", "--child", impl], cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench.memory: the {impl} side failed ({python}):\n"
                         f"{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    p.add_argument("--compare-tf", metavar="PYTHON", default=os.environ.get("GMETA_TF_PYTHON"))
    p.add_argument("--child", choices=["gmeta", "tensorflow"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child)))
        return 0
    machine = f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    rows = [_run(sys.executable, "gmeta")]
    if args.compare_tf:
        rows.append(_run(args.compare_tf, "tensorflow"))
    for r in rows:
        print(json.dumps({**r, "machine": machine}))
    print(f"\n{'impl':<22}{'RSS after import':>18}{'peak RSS':>12}")
    for r in rows:
        print(f"{r['impl']:<22}{r['rss_after_import_mb']:>15.0f} MB{r['peak_rss_mb']:>9.0f} MB")
    if len(rows) == 2:
        print(f"gmeta/TF peak RSS: {rows[0]['peak_rss_mb'] / rows[1]['peak_rss_mb']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
