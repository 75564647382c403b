"""Fonts from pip packages only, with per-character fallback, line breaking and auto-sizing.

The chain is Noto Sans (Latin, Greek, Cyrillic), Noto Sans Arabic, Heebo (Hebrew) and Noto Sans CJK.
Pillow's raqm engine shapes and reorders text inside one font; this module picks the font for each
stretch of text, orders those stretches on right-to-left lines, and breaks text into lines.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.resources
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from PIL import ImageDraw, ImageFont

REGULAR = 400
BOLD = 700
ELLIPSIS = "…"
# Where the baseline sits in a line's em box, as a fraction of the font size (about where Latin,
# Arabic and CJK designs agree), so that runs in different fonts share one baseline.
_BASELINE = 0.8

Color = tuple[int, ...]


@dataclass(frozen=True)
class Face:
    """One font file of the chain and the pip distribution that ships it."""

    family: str
    module: str
    distribution: str
    filename: str

    @property
    def path(self) -> Path:
        """The font file inside its installed package (packages install as plain folders)."""
        return Path(str(importlib.resources.files(self.module).joinpath(self.filename)))


FACES = (
    Face("Noto Sans", "fontpkg_noto_sans", "fontpkg-noto-sans", "files/NotoSans[wdth,wght].ttf"),
    Face(
        "Noto Sans Arabic",
        "fontpkg_noto_sans_arabic",
        "fontpkg-noto-sans-arabic",
        "files/NotoSansArabic[wdth,wght].ttf",
    ),
    Face("Heebo", "fontpkg_heebo", "fontpkg-heebo", "files/Heebo[wght].ttf"),
    Face(
        "Noto Sans CJK TC",
        "cvttf_NotoSansCJK_Regular",
        "cvttf-NotoSansCJK-Regular",
        "NotoSansCJKtc-Regular.otf",
    ),
)


@functools.cache
def _coverage(path: Path) -> frozenset[int]:
    """Code points the font maps to a glyph; read once per process (the CJK cmap takes a while)."""
    with TTFont(path, lazy=True) as font:
        return frozenset(font.getBestCmap())


@functools.lru_cache(maxsize=256)
def _load_font(path: Path, size: int, weight: int) -> tuple[ImageFont.FreeTypeFont, int]:
    """The font at ``size`` pixels set to ``weight``, and the outline width that fakes it if need be.

    Variable fonts take the weight directly. The CJK font has only its regular weight: bold text in it
    gets a thin outline in the text colour, so that a bold title does not turn light at a script change.
    """
    font = ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.RAQM)
    try:
        axes = font.get_variation_axes()
    except OSError:  # a static font
        return font, round(size * 0.025) if weight >= BOLD else 0
    font.set_variation_by_axes(
        [float(weight if axis["name"] == b"Weight" else axis["default"] or 0) for axis in axes]
    )
    return font, 0


def _is_ignorable(ch: str) -> bool:
    """Whitespace, controls and invisible format characters (ZWJ, variation selectors): no glyph needed."""
    cp = ord(ch)
    return (
        ch.isspace()
        or unicodedata.category(ch) in ("Cc", "Cf")
        or 0xFE00 <= cp <= 0xFE0F
        or 0xE0100 <= cp <= 0xE01EF
    )


def _joins_previous(ch: str) -> bool:
    """Combining marks and format characters belong to the character before them."""
    return unicodedata.category(ch) in ("Mn", "Mc", "Me", "Cf")


def is_wide(ch: str) -> bool:
    """CJK (and other full-width) characters, between which a line may break without a space."""
    return unicodedata.east_asian_width(ch) in ("W", "F")


def is_rtl(text: str) -> bool:
    """Whether the first strong character is right-to-left (Arabic, Hebrew): the paragraph then reads so."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


def _collapse(text: str) -> str:
    """One line of text: runs of spaces, tabs and newlines become one space."""
    return re.sub(r"[ \t\r\n\f\v]+", " ", text).strip()


def _clusters(text: str) -> list[str]:
    """Characters with their combining marks, joiners and selectors attached: the units a word breaks into."""
    clusters: list[str] = []
    for ch in text:
        if clusters and (_joins_previous(ch) or clusters[-1].endswith("\u200d")):
            clusters[-1] += ch
        else:
            clusters.append(ch)
    return clusters


def _may_break(before: str, after: str) -> bool:
    """Whether a line may break between two clusters."""
    if after[0] == " ":
        return False
    if before[0] == " ":
        return True
    if not (is_wide(before[0]) or is_wide(after[0])):
        return False
    # No line starts with closing punctuation (。」!) and none ends with opening punctuation (「).
    closing = unicodedata.category(after[0]) in ("Pe", "Pf", "Po")
    opening = unicodedata.category(before[0]) in ("Ps", "Pi")
    return not (closing or opening)


def segments(text: str) -> list[str]:
    """Pieces a line may end after: a word with its trailing space, or a single CJK character."""
    segments: list[str] = []
    previous = ""
    for cluster in _clusters(text):
        if segments and not _may_break(previous, cluster):
            segments[-1] += cluster
        else:
            segments.append(cluster)
        previous = cluster
    return segments


@dataclass(frozen=True)
class Run:
    """A stretch of text drawn with one font; ``x`` is its left edge within the line, outline included."""

    text: str
    font: ImageFont.FreeTypeFont
    stroke: int
    x: float
    width: float


@dataclass(frozen=True)
class Line:
    """One laid-out line: its runs in visual order, left to right."""

    text: str
    runs: tuple[Run, ...]
    width: float
    rtl: bool

    def draw(self, draw: ImageDraw.ImageDraw, x: float, baseline: float, fill: Color) -> None:
        """Draw the line with its left edge at ``x`` and its baseline at ``baseline``."""
        # Each run is shaped in the paragraph's direction so that its edge spaces land on the correct side.
        direction = "rtl" if self.rtl else "ltr"
        for run in self.runs:
            draw.text(
                (x + run.x + run.stroke, baseline),
                run.text,
                font=run.font,
                fill=fill,
                anchor="ls",
                direction=direction,
                stroke_width=run.stroke,
            )


@dataclass(frozen=True)
class TextBlock:
    """Lines laid out at one size, ready to draw."""

    lines: tuple[Line, ...]
    size: int
    line_height: int
    rtl: bool

    @property
    def height(self) -> int:
        """Total height of the lines in pixels."""
        return self.line_height * len(self.lines)

    @property
    def width(self) -> float:
        """Width of the widest line in pixels."""
        return max((line.width for line in self.lines), default=0.0)

    def draw(self, draw: ImageDraw.ImageDraw, x: float, y: float, width: float, fill: Color) -> None:
        """Draw the lines from top ``y`` in the column [x, x + width], aligned to their reading side."""
        baseline = (self.line_height - self.size) / 2 + self.size * _BASELINE
        for index, line in enumerate(self.lines):
            offset = width - line.width if self.rtl else 0.0
            line.draw(draw, x + offset, y + index * self.line_height + baseline, fill)


class FontStack:
    """An ordered fallback chain: each character is drawn with the first font that has it."""

    def __init__(self, faces: tuple[Face, ...] = FACES) -> None:
        self.faces = faces
        self._paths = tuple(face.path for face in faces)
        # face_of's answers: text is laid out many times over while it is fitted (each size, each line
        # break tried), and looking a character up in every cmap each time was most of that work.
        self._face_of: dict[str, int | None] = {}

    def covers(self, index: int, ch: str) -> bool:
        """Whether font ``index`` of the chain has a glyph for ``ch``."""
        return ord(ch) in _coverage(self._paths[index])

    def face_of(self, ch: str) -> int | None:
        """Index of the first font in the chain that has ``ch``, or None."""
        if ch not in self._face_of:
            # Lazy on purpose: Latin-only text never loads the large CJK cmap.
            found = next((index for index in range(len(self.faces)) if self.covers(index, ch)), None)
            self._face_of[ch] = found
        return self._face_of[ch]

    def font(self, index: int, size: int, weight: int = REGULAR) -> tuple[ImageFont.FreeTypeFont, int]:
        """Font ``index`` of the chain at ``size`` pixels and ``weight``, with its faux-bold outline width."""
        return _load_font(self._paths[index], size, weight)

    def missing_characters(self, text: str) -> list[str]:
        """Visible characters of ``text`` that no font covers, once each, in order of appearance."""
        return list(dict.fromkeys(ch for ch in text if not _is_ignorable(ch) and self.face_of(ch) is None))

    def identity(self) -> str:
        """Family names and package versions of the chain, for content hashes."""
        return "; ".join(
            f"{face.family}={face.distribution} {importlib.metadata.version(face.distribution)}"
            for face in self.faces
        )

    def runs(self, text: str) -> list[tuple[int, str]]:
        """Split ``text`` into (font index, text) runs in logical order."""
        # Letters choose their font. Everything else (spaces, digits, punctuation, marks) stays with the
        # run before it, or joins the next letter's run, when that font has it: runs change with the script.
        letter_faces = [self.face_of(ch) if unicodedata.category(ch)[0] == "L" else None for ch in text]
        following: list[int | None] = []
        upcoming: int | None = None
        for face in reversed(letter_faces):
            upcoming = face if face is not None else upcoming
            following.append(upcoming)
        following.reverse()

        runs: list[tuple[int, str]] = []
        current: int | None = None
        for ch, letter_face, next_face in zip(text, letter_faces, following, strict=True):
            neighbours = () if unicodedata.category(ch)[0] == "L" else (current, next_face)
            face = next((n for n in neighbours if n is not None and self.covers(n, ch)), letter_face)
            if face is None:
                face = self.face_of(ch)
            # No font has it: keep it in the current run (drawn as a box, or hidden if a format character).
            if face is None:
                face = 0 if current is None else current
            if runs and face == current:
                runs[-1] = (face, runs[-1][1] + ch)
            else:
                runs.append((face, ch))
            current = face
        return runs

    def layout(self, text: str, size: int, weight: int = REGULAR, rtl: bool | None = None) -> Line:
        """Lay out one line; ``rtl`` (default: from the first strong character) orders the runs."""
        rtl = is_rtl(text) if rtl is None else rtl
        direction = "rtl" if rtl else "ltr"
        pieces = []
        for index, part in self.runs(text):
            font, stroke = self.font(index, size, weight)
            # An outline widens the run's ink by its width on both ends.
            pieces.append((part, font, stroke, font.getlength(part, direction=direction) + 2 * stroke))
        if rtl:
            pieces.reverse()
        runs: list[Run] = []
        x = 0.0
        for part, font, stroke, width in pieces:
            runs.append(Run(part, font, stroke, x, width))
            x += width
        return Line(text, tuple(runs), x, rtl)

    def wrap(
        self,
        text: str,
        size: int,
        max_width: float,
        *,
        weight: int = REGULAR,
        rtl: bool | None = None,
        max_lines: int | None = None,
    ) -> list[str]:
        """Break ``text`` into lines no wider than ``max_width`` pixels.

        Breaks at spaces and between CJK characters; inside a word only when the word alone is too wide.
        With ``max_lines``, stops after ``max_lines + 1`` lines: enough to tell that the text does not fit.
        """
        text = _collapse(text)
        rtl = is_rtl(text) if rtl is None else rtl

        def fits(candidate: str) -> bool:
            return self.layout(candidate.rstrip(), size, weight, rtl).width <= max_width

        lines: list[str] = []
        current = ""
        for segment in segments(text):
            if fits(current + segment):
                current += segment
                continue
            if current:
                lines.append(current.rstrip())
            current = segment
            if current and not fits(current):
                *whole, current = break_word(segment, fits)
                lines.extend(whole)
            if max_lines is not None and len(lines) > max_lines:
                return lines[: max_lines + 1]
        if current.strip():
            lines.append(current.rstrip())
        return lines if max_lines is None else lines[: max_lines + 1]

    def fit(
        self,
        text: str,
        width: float,
        height: float,
        *,
        max_size: int,
        min_size: int,
        max_lines: int | None = None,
        weight: int = REGULAR,
        line_spacing: float = 1.3,
        balance: bool = False,
    ) -> TextBlock:
        """Auto-size ``text`` into a box: the largest size from ``max_size`` down to ``min_size`` that fits.

        Below the floor the text is cut, with an ellipsis, to the lines that fit (never more than
        ``max_lines``, and at least one line even if that one is taller than the box). ``balance``
        evens out line lengths (for titles: no lone last word).
        """
        text = _collapse(text)
        rtl = is_rtl(text)
        min_size = max(1, min(min_size, max_size))
        max_size = max(min_size, max_size)

        def attempt(size: int) -> tuple[list[str], int]:
            limit = max(1, int(height // math.ceil(size * line_spacing)))
            limit = limit if max_lines is None else min(limit, max_lines)
            return self.wrap(text, size, width, weight=weight, rtl=rtl, max_lines=limit), limit

        low, high = min_size, max_size
        while low < high:
            middle = (low + high + 1) // 2
            lines, limit = attempt(middle)
            if len(lines) <= limit:
                low = middle
            else:
                high = middle - 1
        size = low
        lines, limit = attempt(size)
        if len(lines) > limit:
            lines = lines[:limit]
            lines[-1] = self._ellipsize(lines[-1], size, width, weight, rtl)
        elif balance and len(lines) > 1:
            # The narrowest measure that keeps the same number of lines.
            count = len(lines)
            narrow, wide = width / count, width
            while wide - narrow > 1:
                measure = (narrow + wide) / 2
                if len(self.wrap(text, size, measure, weight=weight, rtl=rtl, max_lines=count)) <= count:
                    wide = measure
                else:
                    narrow = measure
            lines = self.wrap(text, size, wide, weight=weight, rtl=rtl)
        laid_out = tuple(self.layout(line, size, weight, rtl) for line in lines)
        return TextBlock(laid_out, size, math.ceil(size * line_spacing), rtl)

    def _ellipsize(self, line: str, size: int, width: float, weight: int, rtl: bool) -> str:
        """Shorten ``line`` to fit ``width`` with an ellipsis at its end, at a word boundary if it can."""
        clusters = _clusters(line)
        while (
            clusters and self.layout("".join(clusters).rstrip() + ELLIPSIS, size, weight, rtl).width > width
        ):
            clusters.pop()
        kept = "".join(clusters)
        cut_in_word = len(kept) < len(line) and line[len(kept)] != " " and not is_wide(line[len(kept)])
        if cut_in_word and " " in kept:
            kept = kept[: kept.rindex(" ")]
        return kept.rstrip() + ELLIPSIS


def break_word(word: str, fits: Callable[[str], bool]) -> list[str]:
    """Break a word that is too wide for a line between characters, filling each piece greedily."""
    pieces = [""]
    for cluster in _clusters(word):
        if pieces[-1] and not fits(pieces[-1] + cluster):
            pieces.append(cluster)
        else:
            pieces[-1] += cluster
    return pieces


@functools.cache
def default_stack() -> FontStack:
    """The process-wide fallback chain."""
    return FontStack()


def missing_characters(text: str) -> list[str]:
    """Visible characters of ``text`` that no bundled font covers (emoji among them), in order, once each."""
    return default_stack().missing_characters(text)


def font_identity() -> str:
    """A short string naming the font set and package versions; part of each scene's content hash."""
    return default_stack().identity()
