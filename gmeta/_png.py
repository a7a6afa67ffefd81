"""A dependency-free PNG writer (zlib + struct; 8-bit RGB) with a small drawing canvas: filled and
outlined rectangles, straight lines (solid, dashed or dotted, any thickness) and text in a 5x7
pixel font (upper-case letters, digits and ASCII punctuation; lower case is drawn upper case).

The encoder and ``Canvas.rect`` come from ``bench/png.py`` (the placement benchmark's chart);
``gmeta graph --out graph.png`` draws with the rest.
"""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)

GLYPH_W, GLYPH_H = 5, 7
# 5x7 glyphs, rows top to bottom, "#" = ink. Characters not listed are drawn as "?".
_GLYPH_ROWS = {
    "A": ".###. #...# #...# ##### #...# #...# #...#",
    "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.",
    "D": "####. #...# #...# #...# #...# #...# ####.",
    "E": "##### #.... #.... ####. #.... #.... #####",
    "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####",
    "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.",
    "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ...#. .##..",
    " ": "..... ..... ..... ..... ..... ..... .....",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    ",": "..... ..... ..... ..... .##.. ..#.. .#...",
    ":": "..... .##.. .##.. ..... .##.. .##.. .....",
    ";": "..... .##.. .##.. ..... .##.. ..#.. .#...",
    "/": "..... ....# ...#. ..#.. .#... #.... .....",
    "\\": "..... #.... .#... ..#.. ...#. ....# .....",
    "_": "..... ..... ..... ..... ..... ..... #####",
    "-": "..... ..... ..... ##### ..... ..... .....",
    "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
    "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
    ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
    "[": ".###. .#... .#... .#... .#... .#... .###.",
    "]": ".###. ...#. ...#. ...#. ...#. ...#. .###.",
    "*": "..... ..#.. #.#.# .###. #.#.# ..#.. .....",
    "=": "..... ..... ##### ..... ##### ..... .....",
    ">": ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
    "<": "...#. ..#.. .#... #.... .#... ..#.. ...#.",
    "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
    "!": "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",
    "'": "..#.. ..#.. .#... ..... ..... ..... .....",
    '"': ".#.#. .#.#. ..... ..... ..... ..... .....",
    "#": ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",
    "%": "##... ##..# ...#. ..#.. .#... #..## ...##",
    "@": ".###. #...# #.### #.#.# #.### #.... .###.",
    "|": "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "~": "..... ..... .#... #.#.# ...#. ..... .....",
    "^": "..#.. .#.#. #...# ..... ..... ..... .....",
    "$": "..#.. .#### #.#.. .###. ..#.# ####. ..#..",
    "&": ".##.. #..#. #.#.. .#... #.#.# #..#. .##.#",
    "{": "...#. ..#.. ..#.. .#... ..#.. ..#.. ...#.",
    "}": ".#... ..#.. ..#.. ...#. ..#.. ..#.. .#...",
}
# glyph -> list of (dx, dy) ink pixels
_GLYPHS = {ch: [(x, y) for y, row in enumerate(rows.split()) for x, c in enumerate(row)
                if c == "#"] for ch, rows in _GLYPH_ROWS.items()}


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
    return PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, 6)) + \
        _chunk(b"IEND", b"")


def text_width(text: str, scale: int = 1) -> int:
    """Pixels ``Canvas.text`` uses for ``text`` (one blank column between glyphs)."""
    return len(text) * (GLYPH_W + 1) * scale


class Canvas:
    """An RGB image to draw rectangles, lines and pixel-font text on."""

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

    def outline(self, x0: int, y0: int, x1: int, y1: int, colour, width: int = 1) -> None:
        """The border (``width`` pixels, inside) of the rectangle x0 <= x < x1, y0 <= y < y1."""
        self.rect(x0, y0, x1, y0 + width, colour)
        self.rect(x0, y1 - width, x1, y1, colour)
        self.rect(x0, y0, x0 + width, y1, colour)
        self.rect(x1 - width, y0, x1, y1, colour)

    def dot(self, x: int, y: int, colour, size: int = 1) -> None:
        if size == 1:
            if 0 <= x < self.width and 0 <= y < self.height:
                i = 3 * (y * self.width + x)
                self.pixels[i:i + 3] = bytes(colour)
        else:
            h = size // 2
            self.rect(x - h, y - h, x - h + size, y - h + size, colour)

    def line(self, x0: int, y0: int, x1: int, y1: int, colour, width: int = 1,
             dash: tuple = ()) -> None:
        """A straight line (Bresenham). ``dash``: (on, off) lengths in pixels, () for solid."""
        x0, y0, x1, y1 = int(x0), int(y0), int(x1), int(y1)
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        period = sum(dash)
        step = 0
        while True:
            if not period or step % period < dash[0]:
                self.dot(x0, y0, colour, width)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy
            step += 1

    def text(self, x: int, y: int, text: str, colour=BLACK, scale: int = 1) -> None:
        """``text`` with its top-left corner at (x, y), in the 5x7 font (lower case drawn as
        upper case; characters without a glyph as ``?``)."""
        for ch in text.upper():
            for dx, dy in _GLYPHS.get(ch, _GLYPHS["?"]):
                if scale == 1:
                    self.dot(x + dx, y + dy, colour)
                else:
                    self.rect(x + dx * scale, y + dy * scale, x + (dx + 1) * scale,
                              y + (dy + 1) * scale, colour)
            x += (GLYPH_W + 1) * scale

    def png(self) -> bytes:
        return encode_png(self.width, self.height, bytes(self.pixels))
