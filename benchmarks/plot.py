"""A tiny pure-Python PNG line plot (zlib only), so `make bench` needs no plotting library."""
from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GRID: Color = (225, 225, 225)
GREY: Color = (120, 120, 120)
BLUE: Color = (31, 119, 180)
ORANGE: Color = (255, 127, 14)
LIGHT_BLUE: Color = (140, 190, 225)
LIGHT_ORANGE: Color = (250, 190, 130)

# 5x7 glyphs, rows top to bottom; lower case draws as upper case
_GLYPHS = """
A .###. #...# #...# ##### #...# #...# #...#|B ####. #...# #...# ####. #...# #...# ####.
C .###. #...# #.... #.... #.... #...# .###.|D ####. #...# #...# #...# #...# #...# ####.
E ##### #.... #.... ####. #.... #.... #####|F ##### #.... #.... ####. #.... #.... #....
G .###. #...# #.... #.### #...# #...# .####|H #...# #...# #...# ##### #...# #...# #...#
I .###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.|J ..### ...#. ...#. ...#. ...#. #..#. .##..
K #...# #..#. #.#.. ##... #.#.. #..#. #...#|L #.... #.... #.... #.... #.... #.... #####
M #...# ##.## #.#.# #.#.# #...# #...# #...#|N #...# #...# ##..# #.#.# #..## #...# #...#
O .###. #...# #...# #...# #...# #...# .###.|P ####. #...# #...# ####. #.... #.... #....
Q .###. #...# #...# #...# #.#.# #..#. .##.#|R ####. #...# #...# ####. #.#.. #..#. #...#
S .#### #.... #.... .###. ....# ....# ####.|T ##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..
U #...# #...# #...# #...# #...# #...# .###.|V #...# #...# #...# #...# #...# .#.#. ..#..
W #...# #...# #...# #.#.# #.#.# #.#.# .#.#.|X #...# #...# .#.#. ..#.. .#.#. #...# #...#
Y #...# #...# .#.#. ..#.. ..#.. ..#.. ..#..|Z ##### ....# ...#. ..#.. .#... #.... #####
0 .###. #...# #..## #.#.# ##..# #...# .###.|1 ..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.
2 .###. #...# ....# ...#. ..#.. .#... #####|3 ##### ...#. ..#.. ...#. ....# #...# .###.
4 ...#. ..##. .#.#. #..#. ##### ...#. ...#.|5 ##### #.... ####. ....# ....# #...# .###.
6 ..##. .#... #.... ####. #...# #...# .###.|7 ##### ....# ...#. ..#.. .#... .#... .#...
8 .###. #...# #...# .###. #...# #...# .###.|9 .###. #...# #...# .#### ....# ...#. .##..
. ..... ..... ..... ..... ..... .##.. .##..|, ..... ..... ..... ..... .##.. ..#.. .#...
- ..... ..... ..... ##### ..... ..... .....|/ ..... ....# ...#. ..#.. .#... #.... .....
( ...#. ..#.. .#... .#... .#... ..#.. ...#.|) .#... ..#.. ...#. ...#. ...#. ..#.. .#...
: ..... .##.. .##.. ..... .##.. .##.. .....|= ..... ..... ##### ..... ##### ..... .....
% ##... ##..# ...#. ..#.. .#... #..## ...##|+ ..... ..#.. ..#.. ##### ..#.. ..#.. .....
_ ..... ..... ..... ..... ..... ..... #####
"""
GLYPHS: dict[str, list[str]] = {
    entry.split()[0]: entry.split()[1:] for entry in _GLYPHS.replace("\n", "|").split("|") if entry.strip()
}


class Canvas:
    """An RGB image drawn pixel by pixel and written as a PNG."""

    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        self.width, self.height = width, height
        self.pixels = [bytearray(bytes(background) * width) for _ in range(height)]

    def dot(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.pixels[y][3 * x:3 * x + 3] = bytes(color)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        for y in range(max(min(y0, y1), 0), min(max(y0, y1) + 1, self.height)):
            for x in range(max(min(x0, x1), 0), min(max(x0, x1) + 1, self.width)):
                self.dot(x, y, color)

    def line(self, x0: float, y0: float, x1: float, y1: float, color: Color, width: int = 1,
             dash: int = 0) -> None:
        steps = max(int(max(abs(x1 - x0), abs(y1 - y0))), 1)
        half = width // 2
        for step in range(steps + 1):
            if dash and (step // dash) % 2:
                continue
            x = round(x0 + (x1 - x0) * step / steps)
            y = round(y0 + (y1 - y0) * step / steps)
            self.rect(x - half, y - half, x - half + width - 1, y - half + width - 1, color)

    def text(self, x: int, y: int, text: str, color: Color = BLACK, scale: int = 2, anchor: str = "left") -> None:
        """Draw `text` with its top at `y`; `anchor` is where `x` is: left, center or right."""
        width = text_width(text, scale)
        x -= {"left": 0, "center": width // 2, "right": width}[anchor]
        for index, char in enumerate(text.upper()):
            rows = GLYPHS.get(char)
            for row, bits in enumerate(rows or []):
                for column, bit in enumerate(bits):
                    if bit == "#":
                        left, top = x + index * 6 * scale + column * scale, y + row * scale
                        self.rect(left, top, left + scale - 1, top + scale - 1, color)

    def png(self) -> bytes:
        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        raw = b"".join(b"\x00" + bytes(row) for row in self.pixels)
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
        return b"\x89PNG\r\n\x1a\n" + chunks


def text_width(text: str, scale: int = 2) -> int:
    return max(len(text) * 6 - 1, 0) * scale


@dataclass(frozen=True)
class Series:
    """One line: a label, and per x its median with the spread drawn as a whisker."""

    label: str
    color: Color
    medians: Sequence[float]
    lows: Sequence[float]
    highs: Sequence[float]


def nice_step(top: float, ticks: int = 5) -> float:
    raw = max(top, 1e-9) / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    return next(factor * power for factor in (1.0, 2.0, 2.5, 5.0, 10.0) if factor * power >= raw)


def line_plot(path: Path, title: str, xs: Sequence[int], series: Sequence[Series], x_label: str, y_label: str,
              reference: tuple[float, str] | None = None, width: int = 900, height: int = 600) -> None:
    """Lines over x on a log2 axis, from y = 0; `reference` draws a dashed, labelled horizontal line."""
    canvas = Canvas(width, height)
    left, right, top, bottom = 100, width - 30, 70 + 22 * len(series), height - 80
    highest = max([*(max(s.highs) for s in series), reference[0] if reference else 0.0])
    step = nice_step(highest * 1.08)
    y_max = step * math.ceil(highest * 1.08 / step)
    low_x, high_x = math.log2(min(xs)), math.log2(max(xs))

    def px(x: float) -> float:
        return left + 30 + (math.log2(x) - low_x) / max(high_x - low_x, 1e-9) * (right - left - 60)

    def py(y: float) -> float:
        return bottom - y / y_max * (bottom - top)

    canvas.text(width // 2, 12, title, scale=2, anchor="center")
    tick = 0.0
    while tick <= y_max + 1e-9:
        canvas.line(left, py(tick), right, py(tick), GRID)
        canvas.text(left - 10, round(py(tick)) - 7, f"{tick:g}", GREY, anchor="right")
        tick += step
    for x in xs:
        canvas.line(px(x), top, px(x), bottom, GRID)
        canvas.text(round(px(x)), bottom + 10, str(x), GREY, anchor="center")
    canvas.line(left, bottom, right, bottom, BLACK, 2)
    canvas.line(left, top, left, bottom, BLACK, 2)
    canvas.text(left, top - 22, y_label, GREY)
    canvas.text((left + right) // 2, bottom + 40, x_label, GREY, anchor="center")
    if reference is not None:
        canvas.line(left, py(reference[0]), right, py(reference[0]), GREY, 2, dash=8)
        canvas.text(right - 4, round(py(reference[0])) - 20, reference[1], GREY, anchor="right")
    for index, line in enumerate(series):
        points = [(px(x), py(y)) for x, y in zip(xs, line.medians, strict=True)]
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            canvas.line(x0, y0, x1, y1, line.color, 3)
        for x, low, high, (cx, cy) in zip(xs, line.lows, line.highs, points, strict=True):
            offset = 4 * index - 6  # whiskers side by side, not on top of each other
            canvas.line(px(x) + offset, py(low), px(x) + offset, py(high), line.color, 2)
            canvas.rect(round(cx) - 5, round(cy) - 5, round(cx) + 5, round(cy) + 5, line.color)
        legend_y = 40 + 22 * index
        canvas.rect(left, legend_y, left + 20, legend_y + 12, line.color)
        canvas.text(left + 30, legend_y - 1, line.label)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(canvas.png())
