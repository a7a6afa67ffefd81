"""gmeta benchmarks: ``python -m bench [--compare-tf PYTHON] [--only NAME,...]``.

Prints one JSON line per (implementation, figure) and a table of medians. With ``--compare-tf``
the same workloads run through TensorFlow in the given interpreter (a venv with tensorflow-cpu),
in the same invocation, so the figures are side by side on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gmeta  # noqa: E402
from bench.timing import run_workloads  # noqa: E402
from bench.workloads import WORKLOADS  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--compare-tf", metavar="PYTHON", default=os.environ.get("GMETA_TF_PYTHON"),
                   help="interpreter of a venv with tensorflow-cpu (env GMETA_TF_PYTHON)")
    p.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated figures")
    p.add_argument("--min-time", type=float, default=0.5, help="seconds per figure and side")
    p.add_argument("--rounds", type=int, default=1,
                   help="alternate gmeta and TF this many times; the table shows each figure's "
                        "median over the rounds (a noisy machine then slows both sides alike)")
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        p.error(f"unknown figure(s): {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    rows = []
    machine = f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    for round_ in range(max(1, args.rounds)):
        for r in run_workloads(gmeta, names, min_time=args.min_time):
            row = {"impl": f"gmeta {gmeta.__version__}", "machine": machine, "round": round_,
                   **r}
            rows.append(row)
            print(json.dumps(row), flush=True)
        if args.compare_tf:
            here = os.path.dirname(os.path.abspath(__file__))
            proc = subprocess.run([args.compare_tf, os.path.join(here, "tf_side.py"),
                                   ",".join(names), str(args.min_time)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"TensorFlow side failed ({args.compare_tf}):\n{proc.stderr[-2000:]}",
                      file=sys.stderr)
                return 1
            for line in proc.stdout.splitlines():
                if line.startswith("{"):
                    row = {**json.loads(line), "machine": machine, "round": round_}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    _table(rows, names)
    return 0


def _table(rows, names):
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    by = {}
    for key in dict.fromkeys((r["impl"], r["figure"]) for r in rows):
        runs = sorted((r for r in rows if (r["impl"], r["figure"]) == key),
                      key=lambda r: r["median_s"])
        by[key] = runs[len(runs) // 2]  # the median round (by time)

    def cell(r):
        if r is None:
            return f"{'-':>22}"
        if "mb_per_s" in r:
            return f"{r['mb_per_s']:>17.0f} MB/s"
        s = r["median_s"]
        return f"{s * 1e3:>19.2f} ms" if s >= 1e-3 else f"{s * 1e6:>19.1f} µs"

    others = impls[1:]  # each gets a column: gmeta's time over its time
    short = {i: {"tensorflow": "TF", "onnxruntime": "ORT"}.get(i.split()[0], i.split()[0])
             for i in others}
    w = max([20] + [len(n) + 1 for n in names])  # the figure column fits the longest name
    head = f"{'figure':<{w}}" + "".join(f"{i:>22}" for i in impls) + \
        "".join(f"{'gmeta/' + short[i]:>11}" for i in others)
    print("\n" + head)
    for n in names:
        line = f"{n:<{w}}" + "".join(cell(by.get((i, n))) for i in impls)
        for other in others:
            a, b = by.get((impls[0], n)), by.get((other, n))
            if a is None or b is None:
                line += f"{'-':>11}"
                continue
            ratio = a["mb_per_s"] / b["mb_per_s"] if "mb_per_s" in a else \
                a["median_s"] / b["median_s"]
            line += f"{ratio:>10.2f}x"
        print(line)
    if others:
        print("(gmeta/X: time ratio, lower is better; MB/s ratio for throughput, higher is "
              "better)")
    rounds = len({r.get("round", 0) for r in rows})
    if rounds > 1:
        print(f"(each cell: the median of {rounds} alternating rounds)")


if __name__ == "__main__":
    sys.exit(main())
