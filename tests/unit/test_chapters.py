"""Chapter files: a script's text never becomes metadata syntax; platform timestamps."""

from __future__ import annotations

from reelmake.captions import Caption, to_vtt
from reelmake.chapters import Chapter, ffmetadata, timestamps


def test_ffmetadata_escapes_titles() -> None:
    text = ffmetadata([Chapter(0, 1.5, "a=b; #c \\ d"), Chapter(1.5, 3, "Two")])
    assert text.startswith(";FFMETADATA1\n")
    assert "title=a\\=b\\; \\#c \\\\ d\n" in text
    assert "START=1500\nEND=3000\ntitle=Two" in text
    assert text.count("[CHAPTER]") == 2


def test_timestamps_for_platforms() -> None:
    chapters = [Chapter(0, 65, "Intro"), Chapter(65.9, 130, "Second  part")]
    assert timestamps(chapters) == "00:00 Intro\n01:05 Second part\n"
    long = [Chapter(0, 10, "A"), Chapter(3725, 3800, "B")]
    assert timestamps(long) == "0:00:00 A\n1:02:05 B\n"


def test_vtt_escapes_markup() -> None:
    text = to_vtt([Caption(61.25, 62.5, ("<b>bold</b> & more -->",))])
    assert text == "WEBVTT\n\n00:01:01.250 --> 00:01:02.500\n&lt;b&gt;bold&lt;/b&gt; &amp; more --&gt;\n"
