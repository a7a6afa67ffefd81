"""The bar chart of the placement benchmarks (``bench/placement.py``), drawn with gmeta's
dependency-free PNG writer (``gmeta/_png.py``).

There is no font here, so the chart carries no text: its layout (panels, groups, bar order,
colours) is documented in the JSON that ``python -m bench.placement --json`` writes beside it.
"""

from __future__ import annotations

from gmeta._png import BLACK, PNG_SIGNATURE, WHITE, Canvas, encode_png  # noqa: F401

GRID = (215, 215, 215)
SKIPPED = (160, 160, 160)
# One colour per bar of a group, in order (colour-blind-safe palette of Okabe and Ito).
PALETTE = [(0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233),
           (213, 94, 0), (240, 228, 66), (0, 0, 0)]


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
