"""The placement benchmarks (bench/placement.py) and their PNG writer (bench/png.py)."""

from __future__ import annotations

import json
import struct
import zlib

import pytest

from bench import placement
from bench.png import PNG_SIGNATURE, Canvas, bar_chart, encode_png
from gmeta.devices import discovery


def _chunks(data: bytes) -> list:
    assert data[:8] == PNG_SIGNATURE
    out, i = [], 8
    while i < len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        kind, body = data[i + 4:i + 8], data[i + 8:i + 8 + n]
        (crc,) = struct.unpack(">I", data[i + 8 + n:i + 12 + n])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        out.append((kind, body))
        i += 12 + n
    return out


def _check_png(data: bytes) -> tuple:
    chunks = _chunks(data)
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    w, h, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour) == (8, 2)  # 8-bit RGB
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    assert len(raw) == h * (1 + 3 * w)
    assert all(raw[y * (1 + 3 * w)] == 0 for y in range(h))  # filter type None on every row
    return w, h, raw


def test_png_writer_round_trip():
    c = Canvas(5, 3)
    c.rect(1, 1, 3, 2, (10, 20, 30))
    w, h, raw = _check_png(c.png())
    assert (w, h) == (5, 3)
    row1 = raw[1 + 3 * 5 + 1:2 * (1 + 3 * 5)]
    assert row1[3:9] == bytes([10, 20, 30, 10, 20, 30]) and row1[:3] == b"\xff\xff\xff"


def test_png_writer_rejects_wrong_size():
    with pytest.raises(ValueError, match="needs 12 bytes"):
        encode_png(2, 2, b"\x00" * 11)


def test_bar_chart_is_a_png():
    panels = [{("a", "x"): 1.0, ("a", "y"): 2.0, ("b", "x"): 3.0}, {("a", "x"): 0.0}]
    w, h, _ = _check_png(bar_chart(panels, ["a", "b"], ["x", "y"]))
    assert w > 0 and h > 0


@pytest.fixture
def restore_virtual_gpus(monkeypatch):
    monkeypatch.setattr(discovery, "_virtual_gpus", discovery._virtual_gpus)


def test_seed_model_with_two_virtual_gpus(tmp_path, capsys, restore_virtual_gpus):
    out_json, out_png = tmp_path / "p.json", tmp_path / "p.png"
    rc = placement.main(["--virtual-gpus", "2", "--only", "seed_mlp", "--min-time", "0.01",
                         "--json", str(out_json), "--png", str(out_png)])
    assert rc == 0
    doc = json.loads(out_json.read_text())
    rows = {r["strategy"]: r for r in doc["rows"]}
    assert {"cpu", "default", "recorded", "remapped", "remapped-map", "split"} <= set(rows)
    assert all(r["status"] == "ok" and r["median_s"] > 0 for r in rows.values())
    assert rows["cpu"]["copies_per_step"] == 0 and rows["cpu"]["devices"] == ["CPU:0"]
    assert rows["split"]["copies_per_step"] > 0 and rows["split"]["bytes_per_step"] > 0
    assert rows["split"]["virtual"] is True
    assert "GPU:1 (virtual)" in rows["split"]["devices"]
    # the unedited recording on GPU:2/GPU:3 lands on GPU:0/GPU:1 like the device_map rules
    assert rows["remapped"]["devices"] == rows["remapped-map"]["devices"]
    assert "soft-fallback-no-device" in rows["remapped"]["reasons"]
    assert "honoured" in rows["remapped-map"]["reasons"]
    assert doc["virtual_gpus"] == 2 and "VIRTUAL" in doc["gpus"]
    assert "VIRTUAL (numpy-backed)" in capsys.readouterr().out
    _check_png(out_png.read_bytes())


def test_two_gpu_strategies_skip_with_one_gpu(restore_virtual_gpus, capsys, tmp_path):
    out_json = tmp_path / "p.json"
    placement.main(["--virtual-gpus", "1", "--only", "seed_mlp", "--min-time", "0.01",
                    "--strategies", "recorded,split", "--json", str(out_json)])
    rows = {r["strategy"]: r for r in json.loads(out_json.read_text())["rows"]}
    assert rows["recorded"]["status"] == "ok"
    assert rows["split"]["status"] == "skipped"
    assert "needs 2 GPU(s)" in rows["split"]["reason"]
