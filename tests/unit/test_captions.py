"""Captions: cues of at most two lines of 42 characters at natural breaks, timed on frames; SRT formatting."""

from __future__ import annotations

import itertools
import random

import pytest

from reelmake.captions import (
    LINE_CHARS,
    MAX_LINES,
    Caption,
    SceneCaption,
    caption_texts,
    cells,
    split_sentence,
    time_captions,
    to_srt,
)
from reelmake.speech import Cue


def sentences() -> list[str]:
    """Many sentences of varied length and word sizes, the same every run."""
    rng = random.Random(1234)
    out = []
    for _ in range(300):
        words = ["".join(rng.choices("abcdefghij", k=rng.choice([1, 2, 3, 5, 8, 12, 20]))) for _ in range(60)]
        out.append(" ".join(words[: rng.randint(1, 60)]) + ".")
    out += [
        "Short.",
        "x" * 42,
        "x" * 43,
        "A supercalifragilisticexpialidocious-and-then-some-more-words-joined-by-hyphens word.",
        "https://example.com/a/very/long/path/that/cannot/be/broken/anywhere/at/all now",
        "Ünïcödé wörds with áccents, ümlauts and ß fill these lines nicely enough to wrap twice.",
        "二つの行に収まらないほど長い日本語の文章は、空白がなくても四十二文字ごとに折り返されるはずです。"
        * 2,
    ]
    return out


def check_split(text: str) -> list[tuple[str, ...]]:
    cues = split_sentence(text)
    assert cues
    for lines in cues:
        assert 1 <= len(lines) <= MAX_LINES
        for line in lines:
            assert line == line.strip() and line
            assert cells(line) <= LINE_CHARS, line
    # Nothing is lost or added: the cues' text is the sentence's, spaces aside.
    assert "".join("".join(lines) for lines in cues).replace(" ", "") == text.replace(" ", "")
    return cues


@pytest.mark.parametrize("text", sentences())
def test_split_keeps_every_word_in_at_most_two_lines(text: str) -> None:
    cues = check_split(text)
    if all(cells(word) <= LINE_CHARS for word in text.split()):
        assert [w for lines in cues for line in lines for w in line.split()] == text.split()
    # The fewest cues: no two neighbours would fit in one.
    total = sum(cells(" ".join(lines)) for lines in cues)
    assert len(cues) <= total // (LINE_CHARS * MAX_LINES // 2) + 1


def test_short_sentence_is_one_cue_of_one_line() -> None:
    assert split_sentence("Hello there.") == [("Hello there.",)]


def test_lines_break_after_punctuation_when_they_can() -> None:
    text = "When the rain stopped at last, everyone walked down to the harbour."
    assert split_sentence(text) == [
        ("When the rain stopped at last,", "everyone walked down to the harbour.")
    ]


def test_a_long_sentence_breaks_its_cues_at_a_comma() -> None:
    text = (
        "The committee met on Tuesday morning in the old town hall, and after a long talk "
        "about the budget it agreed to repair the roof."
    )
    cues = check_split(text)
    assert len(cues) == 2
    assert cues[0][-1].endswith("hall,")


def test_without_punctuation_a_line_breaks_before_a_conjunction() -> None:
    text = "We walked along the river for an hour and then we sat down to rest"
    assert split_sentence(text) == [("We walked along the river for an hour", "and then we sat down to rest")]


def test_a_long_word_is_broken_to_fit() -> None:
    cues = check_split("y" * 100)
    assert sorted(len(line) for lines in cues for line in lines) == [16, 42, 42]


def test_wide_characters_count_twice() -> None:
    cues = check_split("漢" * 50)
    assert [len(line) for lines in cues for line in lines] == [21, 21, 8]


def test_caption_texts_follow_the_sentences() -> None:
    assert caption_texts("One. Two words here! And three?") == [
        ("One.",),
        ("Two words here!",),
        ("And three?",),
    ]


def test_cues_start_on_the_frame_their_sentence_starts_and_last_until_the_next() -> None:
    long = "This sentence is long enough that it needs two cues, because it runs well past two lines of text."
    spoken = [Cue(0.25, 1.4, "Hello there."), Cue(1.75, 6.0, long), Cue(6.35, 7.0, "Bye.")]
    timed = time_captions(spoken, 30, 226)
    assert [c.lines for c in timed] == [("Hello there.",), *split_sentence(long), ("Bye.",)]
    assert len(timed) == 4
    assert timed[0].start == round(0.25 * 30) and timed[1].start == round(1.75 * 30)
    assert timed[3].start == round(6.35 * 30) and timed[3].end == 210  # when the speech ends
    for before, after in itertools.pairwise(timed):
        assert before.end == after.start  # no blink in the pauses
    assert timed[1].start < timed[2].start < timed[3].start
    # The long sentence's two cues share its time in proportion to their length.
    share = (timed[2].start - timed[1].start) / (timed[3].start - timed[1].start)
    first = cells(" ".join(timed[1].lines))
    assert share == pytest.approx(first / (first + cells(" ".join(timed[2].lines))), abs=0.05)


def test_every_cue_gets_a_frame_even_when_sentences_are_very_short() -> None:
    spoken = [Cue(0.0, 0.01, "A."), Cue(0.011, 0.02, "B."), Cue(0.021, 0.03, "C.")]
    timed = time_captions(spoken, 24, 10)
    assert [(c.start, c.end) for c in timed] == [(0, 1), (1, 2), (2, 3)]


def test_no_speech_no_captions() -> None:
    assert time_captions([], 30, 120) == []


def test_scene_captions_round_trip_through_json() -> None:
    caption = SceneCaption(3, 40, ("a", "b"))
    assert SceneCaption.from_json(caption.to_json()) == caption


def test_srt_numbers_from_one_and_formats_times() -> None:
    captions = [
        Caption(0.0, 1.25, ("First line", "second line")),
        Caption(61.001, 62.999, ("Second caption",)),
        Caption(3725.5, 3726.0, ("An hour in",)),
    ]
    assert to_srt(captions) == (
        "1\n00:00:00,000 --> 00:00:01,250\nFirst line\nsecond line\n\n"
        "2\n00:01:01,001 --> 00:01:02,999\nSecond caption\n\n"
        "3\n01:02:05,500 --> 01:02:06,000\nAn hour in\n"
    )


@pytest.mark.parametrize(
    ("seconds", "stamp"),
    [
        (0.0, "00:00:00,000"),
        (0.001, "00:00:00,001"),
        (59.9996, "00:01:00,000"),
        (3599.9999, "01:00:00,000"),
        (3725.5, "01:02:05,500"),
        (36000 + 59 * 60 + 59.25, "10:59:59,250"),
    ],
)
def test_srt_time_stamps(seconds: float, stamp: str) -> None:
    assert to_srt([Caption(seconds, seconds + 1, ("x",))]).splitlines()[1].startswith(stamp + " --> ")


def test_srt_of_no_captions_is_empty() -> None:
    assert to_srt([]) == ""


def test_srt_is_numbered_continuously() -> None:
    captions = [Caption(i, i + 1, ("caption",)) for i in range(3)] + [Caption(6.5, 7.0, ("Done.",))]
    blocks = to_srt(captions).rstrip("\n").split("\n\n")
    assert [block.splitlines()[0] for block in blocks] == ["1", "2", "3", "4"]
    assert blocks[-1] == "4\n00:00:06,500 --> 00:00:07,000\nDone."


def test_srt_text_is_shown_as_written_by_ffmpegs_subrip_reader(tmp_path) -> None:
    """ffmpeg's SubRip decoder (what ffmpeg- and libass-based players use) turns <b> into bold and keeps
    {\\an8} as a positioning tag; a script's text must reach the screen as plain characters instead."""
    import subprocess

    from reelmake.ffmpeg import ffmpeg_exe

    lines = ("Say <b>bold</b> {\\an8} up", "and a --> b {curly}")
    (tmp_path / "cues.srt").write_text(to_srt([Caption(0.0, 1.0, lines)]), encoding="utf-8")
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "cues.srt"), str(tmp_path / "cues.ass")],
        check=True,
    )
    (dialogue,) = [
        line
        for line in (tmp_path / "cues.ass").read_text(encoding="utf-8").splitlines()
        if line.startswith("Dialogue:")
    ]
    text = dialogue.split(",", 9)[9]
    assert "{" not in text and "\\b1" not in text  # no override block for an ASS renderer to hide or obey
    shown = text.replace("\u2060", "").replace("\uff5b", "{").replace("\uff5d", "}")
    assert shown == "\\N".join(lines)
    blocks = to_srt([Caption(0.0, 1.0, lines)]).split("\n")
    assert sum("-->" in line for line in blocks) == 1  # only the timing line
