"""Sentence-level captions timed from the TTS output, as SRT: at most two lines of ~42 characters."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

LINE_CHARS = 42
MAX_LINES = 2


@dataclass(frozen=True)
class Caption:
    start_s: float
    end_s: float
    lines: tuple[str, ...]


def split_cue(text: str, start_s: float, end_s: float) -> list[Caption]:
    """One sentence → captions of at most two lines, time shared in proportion to their length."""
    lines = textwrap.wrap(text, LINE_CHARS, break_long_words=True, break_on_hyphens=False)
    if not lines:
        return []
    groups = [tuple(lines[i : i + MAX_LINES]) for i in range(0, len(lines), MAX_LINES)]
    total = sum(len(" ".join(g)) for g in groups)
    out, cursor = [], start_s
    for group in groups:
        share = (end_s - start_s) * len(" ".join(group)) / total
        out.append(Caption(cursor, cursor + share, group))
        cursor += share
    return out


def to_vtt(captions: Iterable[Caption]) -> str:
    """WebVTT; the text is escaped, so nothing a script says is read as cue markup."""
    blocks = ["WEBVTT"]
    for caption in captions:
        text = "\n".join(_vtt_text(line) for line in caption.lines)
        blocks.append(f"{_stamp(caption.start_s, '.')} --> {_stamp(caption.end_s, '.')}\n{text}")
    return "\n\n".join(blocks) + "\n"


def _vtt_text(line: str) -> str:
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_srt(captions: Iterable[Caption]) -> str:
    blocks = []
    for number, caption in enumerate(captions, start=1):
        blocks.append(
            f"{number}\n{_stamp(caption.start_s)} --> {_stamp(caption.end_s)}\n" + "\n".join(caption.lines)
        )
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _stamp(seconds: float, decimal: str = ",") -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02}:{minutes:02}:{secs:02}{decimal}{ms:03}"
