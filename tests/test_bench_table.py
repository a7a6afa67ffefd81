"""The table of ``python -m bench``: a ratio column per other implementation (TF, ONNX Runtime),
the median round of each cell, and a dash where a figure has no row."""

from __future__ import annotations

import importlib

bench_main = importlib.import_module("bench.__main__")


def _row(impl, figure, s, round_=0):
    return {"impl": impl, "figure": figure, "median_s": s, "round": round_}


def test_ratio_columns_for_tf_and_onnxruntime(capsys):
    rows = [_row("gmeta 0.1.0", "seed_mlp_forward", 44e-6),
            _row("gmeta 0.1.0", "tiny_add", 3e-6),
            _row("tensorflow 2.21.0", "seed_mlp_forward", 220e-6),
            _row("tensorflow 2.21.0", "tiny_add", 75e-6),
            _row("onnxruntime 1.32.0", "seed_mlp_forward", 20e-6)]
    bench_main._table(rows, ["tiny_add", "seed_mlp_forward"])
    lines = capsys.readouterr().out.splitlines()
    head = next(line for line in lines if line.startswith("figure"))
    assert head.split()[-2:] == ["gmeta/TF", "gmeta/ORT"]
    tiny = next(line for line in lines if line.startswith("tiny_add")).split()
    fwd = next(line for line in lines if line.startswith("seed_mlp_forward")).split()
    assert tiny[-2:] == ["0.04x", "-"]  # 3/75; no ORT row for tiny_add
    assert fwd[-2:] == ["0.20x", "2.20x"]  # 44/220, 44/20


def test_cells_are_the_median_round(capsys):
    rows = [_row("gmeta 0.1.0", "tiny_add", s, i) for i, s in enumerate([3e-6, 9e-6, 4e-6])]
    rows += [_row("tensorflow 2.21.0", "tiny_add", s, i) for i, s in enumerate([80e-6] * 3)]
    bench_main._table(rows, ["tiny_add"])
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("tiny_add")).split()
    assert line[1:3] == ["4.0", "µs"] and line[-1] == "0.05x"
    assert "median of 3 alternating rounds" in out


def test_columns_stay_aligned_for_a_long_figure_name(capsys):
    long = "seed_mlp_forward_imported_from_a_file"
    rows = [_row("gmeta 0.1.0", n, 40e-6) for n in ("tiny_add", long)]
    rows += [_row("tensorflow 2.21.0", n, 200e-6) for n in ("tiny_add", long)]
    bench_main._table(rows, ["tiny_add", long])
    lines = [x for x in capsys.readouterr().out.splitlines()
             if x.startswith(("figure", "tiny_add", long))]
    assert len(lines) == 3 and len({len(x) for x in lines}) == 1  # one width: columns line up
    assert all(x.endswith("0.20x") for x in lines[1:])
