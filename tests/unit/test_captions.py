"""Captions: at most two lines of 42 characters, timed contiguously over the sentence; SRT formatting."""

from __future__ import annotations

import itertools
import random

import pytest

from reelmake.captions import LINE_CHARS, MAX_LINES, Caption, split_cue, to_srt


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


def check_cue(text: str, start: float, end: float) -> list[Caption]:
    captions = split_cue(text, start, end)
    assert captions
    for caption in captions:
        assert 1 <= len(caption.lines) <= MAX_LINES
        for line in caption.lines:
            assert line == line.strip()
            assert len(line) <= LINE_CHARS or " " not in line, line
    assert all(len(c.lines) == MAX_LINES for c in captions[:-1])  # only the last may have a single line
    assert captions[0].start_s == start
    for before, after in itertools.pairwise(captions):
        assert before.end_s == after.start_s
    assert captions[-1].end_s == pytest.approx(end, abs=1e-9)
    assert all(c.start_s < c.end_s for c in captions)
    return captions


@pytest.mark.parametrize("text", sentences())
def test_split_cue_lines_and_times(text: str) -> None:
    captions = check_cue(text, 12.34, 12.34 + 0.05 * len(text))
    if all(len(word) <= LINE_CHARS for word in text.split()):
        assert [w for c in captions for line in c.lines for w in line.split()] == text.split()


def test_short_sentence_is_one_caption_of_one_line() -> None:
    assert split_cue("Hello there.", 1.0, 2.5) == [Caption(1.0, 2.5, ("Hello there.",))]


def test_time_is_shared_in_proportion_to_length() -> None:
    text = " ".join(["word"] * 40)  # 199 characters: five lines, three captions
    captions = check_cue(text, 0.0, 10.0)
    assert len(captions) == 3
    lengths = [len(" ".join(c.lines)) for c in captions]
    for caption, length in zip(captions, lengths, strict=True):
        assert caption.end_s - caption.start_s == pytest.approx(10.0 * length / sum(lengths))


def test_a_long_word_is_broken_to_fit() -> None:
    captions = check_cue("y" * 100, 0.0, 3.0)
    assert [len(line) for c in captions for line in c.lines] == [42, 42, 16]


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


def test_srt_of_split_cues_is_numbered_continuously() -> None:
    text = " ".join(["caption"] * 30)
    captions = split_cue(text, 0.0, 6.0) + split_cue("Done.", 6.5, 7.0)
    blocks = to_srt(captions).rstrip("\n").split("\n\n")
    assert [block.splitlines()[0] for block in blocks] == [str(i) for i in range(1, len(captions) + 1)]
    assert blocks[-1] == "4\n00:00:06,500 --> 00:00:07,000\nDone."
