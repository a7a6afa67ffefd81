"""A dependency-free PNG writer (zlib + struct; 8-bit RGB) and the bar chart of the placement
benchmarks (``bench/placement.py``).

There is no font here, so the chart carries no text: its layout (panels, groups, bar order,
colours) is documented in the JSON that ``python -m bench.placement --json`` writes beside it.
"""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GRID = (215, 215, 215)
SKIPPED = (160, 160, 160)
# One colour per bar of a group, in order (colour-blind-safe palette of Okabe and Ito).
PALETTE = [(0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233),
           (213, 94, 0), (240, 228, 66), (0, 0, 0)]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + \
        struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(width: int, height: int, rgb: bytes) -> bytes:
    """The PNG file of a ``width`` x ``height`` image; ``rgb`` holds its rows, 3 bytes a pixel."""
    if width <= 0 or height <= 0:
        raise ValueError(f"encode_png: image size must be positive, not {width}x{height}")
    stride = 3 * width
    if len(rgb) != stride * height:
        raise ValueError(f"encode_png: {width}x{height} RGB needs {stride * height} bytes, "
                         f"got {len(rgb)}")
    raw = b"".join(b"\x00" + bytes(rgb[y * stride:(y + 1) * stride]) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit, truecolour
    return PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, 9)) + \
        _chunk(b"IEND", b"")


class Canvas:
    """An RGB image to draw filled rectangles on."""

    def __init__(self, width: int, height: int, background=WHITE):
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour) -> None:
        """Fills the pixels x0 <= x < x1, y0 <= y < y1 (clipped to the canvas)."""
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        if x0 >= x1:
            return
        row = bytes(colour) * (x1 - x0)
        for y in range(y0, y1):
            start = 3 * (y * self.width + x0)
            self.pixels[start:start + len(row)] = row

    def png(self) -> bytes:
        return encode_png(self.width, self.height, bytes(self.pixels))


def bar_chart(panels, groups, bars, bar_w=14, gap=28, panel_h=220, margin=24) -> bytes:
    """Grouped vertical bars, one panel under the other; returns the PNG.

    ``panels``: a list of ``{(group, bar): value or None}`` (None: skipped, drawn as a grey
    stub). ``groups`` and ``bars`` give the order left to right; bar ``i`` of every group has
    colour ``PALETTE[i]``. Each group is scaled to its own largest value in that panel (a dotted
    grid line marks it), so bars compare within a group, not across groups.
    """
    group_w = len(bars) * bar_w
    width = 2 * margin + len(groups) * group_w + (len(groups) - 1) * gap
    height = margin + len(panels) * (panel_h + margin)
    c = Canvas(width, height)
    for p, values in enumerate(panels):
        top = margin + p * (panel_h + margin)
        base = top + panel_h
        for g, group in enumerate(groups):
            x = margin + g * (group_w + gap)
            present = [v for b in bars if (v := values.get((group, b))) is not None]
            peak = max(present, default=0.0)
            for dx in range(x, x + group_w, 4):  # the group's maximum
                c.rect(dx, top, dx + 2, top + 1, GRID)
            for i, b in enumerate(bars):
                v = values.get((group, b))
                x0 = x + i * bar_w + 1
                if v is None:
                    c.rect(x0, base - 3, x0 + bar_w - 2, base, SKIPPED)
                    continue
                h = int(round(panel_h * v / peak)) if peak > 0 else 0
                c.rect(x0, base - max(h, 1), x0 + bar_w - 2, base, PALETTE[i % len(PALETTE)])
        c.rect(margin // 2, base, width - margin // 2, base + 1, BLACK)  # the panel's axis
    return c.png()
