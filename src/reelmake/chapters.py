"""One chapter per scene: in the MP4 (via an ffmetadata file) and as the `00:00 Title` list platforms read."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Chapter:
    start_s: float
    end_s: float
    title: str


def ffmetadata(chapters: Iterable[Chapter]) -> str:
    """An ffmetadata file; titles are escaped, so a script's text is never read as metadata syntax."""
    lines = [";FFMETADATA1"]
    for chapter in chapters:
        lines += [
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={round(chapter.start_s * 1000)}",
            f"END={round(chapter.end_s * 1000)}",
            f"title={_escape(chapter.title)}",
        ]
    return "\n".join(lines) + "\n"


def timestamps(chapters: Iterable[Chapter]) -> str:
    """`00:00 Title` lines (hours shown once the video is an hour long), one per chapter."""
    chapters = list(chapters)
    long = bool(chapters) and chapters[-1].start_s >= 3600
    return "".join(f"{_clock(c.start_s, long)} {' '.join(c.title.split())}\n" for c in chapters)


def _clock(seconds: float, long: bool) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if long else f"{minutes:02}:{secs:02}"


def _escape(text: str) -> str:
    return re.sub(r"([=;#\\\n])", r"\\\1", text)
