"""Odd Unicode that reaches rendering: drawn (titles, slides, burned captions) and spoken, or refused.

RTL text and bidi controls, stacked combining marks, CJK, zero-width and line-separator characters
render; emoji on screen are refused by the font check (one clear line), while emoji only spoken (a
photo without captions) are passed to the voice, which skips what it cannot say; control characters
are refused before anything is rendered (see test_fuzz_script).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import make_image
from PIL import Image

from fault.fuzz_support import check_error, check_ok, rendered, write_project
from reelmake.speech import SAMPLE_RATE, engine_for, narrate

ODD_TITLE = "שלום e\u0301\u0308 \u202eevil\u202c Z\u0335\u0321\u0334"
ODD_TEXT = "Hello مرحبا and 日本語. Zero\u200bwidth\u2028line, \u200fmarks\ufeff here."


def test_odd_unicode_renders(tmp_path: Path) -> None:
    script = (
        f"## {ODD_TITLE}\n\n{ODD_TEXT}\n\n"  # a slide: title and narration drawn, narration spoken
        f"## Photo {ODD_TITLE}\n\n{ODD_TEXT}\n\n![](assets/p.png)\n"  # the same as burned captions
    )
    project = write_project(tmp_path / "p", script, motion="none", captions="burn")
    make_image(project / "assets" / "p.png", (96, 64), (30, 60, 90))
    manifest = rendered(project)
    assert [s["title"] for s in manifest["scenes"]] == [ODD_TITLE, f"Photo {ODD_TITLE}"]
    composition = json.loads((project / "build" / "composition.json").read_text())
    for scene in composition["scenes"]:
        folder = project / "build" / "scenes" / scene["hash"]
        picture = np.asarray(Image.open(folder / "image.png").convert("L"), np.int16)
        assert picture.std() > 5  # text was drawn, not a blank frame
        timing = json.loads((folder / "timing.json").read_text())
        assert timing["frames"] > 30 and timing["cues"]  # the narration was spoken
    srt = (project / "build" / "final.srt").read_text(encoding="utf-8")
    assert "مرحبا" in srt and "日本語" in srt


def test_emoji_on_screen_are_refused_in_one_line(tmp_path: Path) -> None:
    line = check_error(write_project(tmp_path / "p", "## Party 😀\n\nWords.\n"))
    assert "scene 1 'Party 😀'" in line and "😀 (U+1F600)" in line and "Remove or replace them" in line


@pytest.mark.parametrize(
    "text", ["Say 😀 this \u202eplease.", "😀 👩\u200d👩\u200d👧.", "\u200f\u202e \ufeff."]
)
def test_emoji_and_marks_only_spoken_pass_check_and_are_voiced(tmp_path: Path, text: str) -> None:
    """A photo without captions shows no narration, so it needs no font for it; the voice says what it
    can and the scene still gets its timing (silence for what it cannot say)."""
    project = write_project(tmp_path / "p", f"## Photo\n\n{text}\n\n![](assets/p.png)\n", captions="off")
    make_image(project / "assets" / "p.png", (96, 64), (30, 60, 90))
    check_ok(project)
    narration = narrate(text, fps=30, min_duration_s=0.0, engine=engine_for("heart", 1.0))
    assert narration.frames > 0 and len(narration.samples) == narration.frames * SAMPLE_RATE // 30
    assert np.isfinite(narration.samples).all()
