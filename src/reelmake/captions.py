"""Captions: each sentence cut into cues of at most two lines of ~42 characters, timed on video frames.

The narration job times the cues (:func:`time_captions`) and stores them in the scene's timing.json;
burned-in captions and the SRT/WebVTT files are both made from exactly those, so they always agree.
The cue texts depend only on the narration text (:func:`caption_texts`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from reelmake.fonts import break_word, is_wide, segments
from reelmake.speech import Cue, split_sentences

LINE_CHARS = 42  # per line, counting full-width (CJK) characters twice: the usual subtitle measure
MAX_LINES = 2
CUE_COST = 2.0  # fewer cues first...
# ...then breaks at natural points: after punctuation is free, before a conjunction or preposition is
# cheap, between other words dearer, inside a word (only a word longer than a line) dearest.
_AFTER_PUNCTUATION = re.compile(r"[,;:.!?…—–)\]\"'”’、，。；：！？」』）]$")
_JOINERS = frozenset((
    "and", "but", "or", "nor", "so", "yet", "because", "although", "though", "while", "when", "where",
    "which", "who", "whose", "that", "if", "unless", "until", "than", "to", "with", "without", "for",
    "from", "in", "into", "on", "of", "at", "by", "as", "about", "after", "before",
))  # fmt: skip

Lines = tuple[str, ...]


@dataclass(frozen=True)
class Caption:
    """A cue as the sidecar files write it: seconds from the start of the video."""

    start_s: float
    end_s: float
    lines: Lines


@dataclass(frozen=True)
class SceneCaption:
    """A cue of one scene: shown on frames [start, end) of the scene."""

    start: int
    end: int
    lines: Lines

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "lines": list(self.lines)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SceneCaption:
        return cls(data["start"], data["end"], tuple(data["lines"]))


def cells(text: str) -> int:
    """The width of ``text`` in character cells: CJK and other full-width characters take two."""
    return sum(2 if is_wide(ch) else 1 for ch in text)


def split_sentence(sentence: str) -> list[Lines]:
    """One sentence → the fewest cues of at most two lines of LINE_CHARS, broken at natural points."""
    tokens = _tokens(sentence)
    count = len(tokens)
    # best[j]: the cheapest way to show tokens[:j] as whole cues, and where its last cue starts.
    best: list[tuple[float, int, Lines]] = [(0.0, 0, ())] + [(math.inf, 0, ())] * count
    for end in range(1, count + 1):
        closing = _break_cost(tokens, end)
        for start in range(end - 1, -1, -1):
            text = "".join(tokens[start:end]).strip()
            if cells(text) > MAX_LINES * LINE_CHARS + 1:
                break  # longer pieces cannot fit either
            laid = _two_lines(tokens, start, end)
            if laid is None:
                continue
            lines, cost = laid
            total = best[start][0] + CUE_COST + closing + cost
            if total < best[end][0]:
                best[end] = (total, start, lines)
    cues: list[Lines] = []
    at = count
    while at > 0:
        cues.append(best[at][2])
        at = best[at][1]
    return cues[::-1]


def caption_texts(narration: str) -> list[Lines]:
    """Every cue of a narration, in order: known before the narration is spoken."""
    return [lines for sentence in split_sentences(narration) for lines in split_sentence(sentence)]


def time_captions(cues: Sequence[Cue], fps: int, frames: int) -> list[SceneCaption]:
    """The cues of a scene on frame boundaries, from the spoken sentences' times.

    A sentence's cues share its time in proportion to their length. Each cue lasts until the next one
    starts, so the caption does not blink off in the pauses between sentences; the last one ends when
    the speech does.
    """
    starts: list[int] = []
    texts: list[Lines] = []
    for cue in cues:
        pieces = split_sentence(cue.text)
        total = sum(cells(" ".join(lines)) for lines in pieces)
        at_s = cue.start_s
        for lines in pieces:
            # Never two cues on one frame, so every cue is seen for at least a frame.
            floor = starts[-1] + 1 if starts else 0
            starts.append(max(floor, round(at_s * fps)))
            texts.append(lines)
            at_s += (cue.end_s - cue.start_s) * cells(" ".join(lines)) / total
    if not starts:
        return []
    last_end = max(starts[-1] + 1, min(frames, math.ceil(cues[-1].end_s * fps - 1e-9)))
    ends = [*starts[1:], last_end]
    return [SceneCaption(s, e, t) for s, e, t in zip(starts, ends, texts, strict=True)]


def _tokens(sentence: str) -> list[str]:
    """Pieces a line may end after, each with its trailing space; words wider than a line are cut up."""
    tokens: list[str] = []
    for segment in segments(sentence):
        word = segment.rstrip(" ")
        if cells(word) <= LINE_CHARS:
            tokens.append(segment)
        else:
            *parts, last = break_word(word, lambda piece: cells(piece) <= LINE_CHARS)
            tokens += [*parts, last + segment[len(word) :]]
    return tokens


def _break_cost(tokens: list[str], at: int) -> float:
    """How bad a line or cue break before ``tokens[at]`` reads."""
    if at >= len(tokens):
        return 0.0
    before = tokens[at - 1]
    if not before.endswith(" ") and not is_wide(before[-1]):
        return 3.0  # inside a word
    if _AFTER_PUNCTUATION.search(before.rstrip()):
        return 0.0
    return 0.5 if tokens[at].strip().lower() in _JOINERS else 1.0


def _two_lines(tokens: list[str], start: int, end: int) -> tuple[Lines, float] | None:
    """tokens[start:end] as one line, or as two balanced lines broken at a natural point, with its cost."""
    whole = "".join(tokens[start:end]).strip()
    if cells(whole) <= LINE_CHARS:
        return (whole,), 0.0
    best: tuple[Lines, float] | None = None
    for at in range(start + 1, end):
        first, second = "".join(tokens[start:at]).strip(), "".join(tokens[at:end]).strip()
        if cells(first) > LINE_CHARS or cells(second) > LINE_CHARS:
            continue
        cost = _break_cost(tokens, at) + abs(cells(first) - cells(second)) / LINE_CHARS
        if best is None or cost < best[1]:
            best = ((first, second), cost)
    return best


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
    """SubRip; the text is defused, so nothing a script says is read as markup or a cue's timing."""
    blocks = []
    for number, caption in enumerate(captions, start=1):
        text = "\n".join(_srt_text(line) for line in caption.lines)
        blocks.append(f"{number}\n{_stamp(caption.start_s)} --> {_stamp(caption.end_s)}\n{text}")
    return "\n\n".join(blocks) + "\n" if blocks else ""


# SubRip has no escapes: players read <b> or <font> in its text as markup, a line with "-->" as a timing
# line, and (converting to ASS, as ffmpeg and libass-based players do) anything in braces as override tags,
# hidden or obeyed. An invisible word joiner after "<" and inside "-->" leaves no tag or arrow to find, and
# braces become their full-width forms, the only way to show a brace that no ASS renderer reads.
_WORD_JOINER = "\u2060"
_SRT_DEFUSED = str.maketrans({"<": "<" + _WORD_JOINER, "{": "\uff5b", "}": "\uff5d"})


def _srt_text(line: str) -> str:
    return line.translate(_SRT_DEFUSED).replace("-->", "--" + _WORD_JOINER + ">")


def _stamp(seconds: float, decimal: str = ",") -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02}:{minutes:02}:{secs:02}{decimal}{ms:03}"
