"""Burned-in captions, rendered for real: where and when they change pixels, and that they match the SRT."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import SMALL, Project
from helpers import make_image, make_video
from PIL import Image

from reelmake.captions import MAX_LINES, split_sentence
from reelmake.visuals import caption_layer

FPS = 30
# Photos stand still here, so that each frame can be compared with the scene's picture.
STILL = {**SMALL, "motion": "none"}
SCRIPT = """---
title: Captions
---
## A slide
The slide shows this text. No captions are burned on it.

## A photo
![photo](assets/photo.jpg)
Markup is text: {\\an8} and &lt;b&gt;bold&lt;/b&gt; at 100%: it's literal.
A second sentence follows the pause.

## A clip
![clip](assets/clip.mp4)
The clip is narrated too.
"""


def render(folder: Path, **settings: object) -> Project:
    (folder / "config.yaml").write_text(json.dumps({**STILL, **settings}))
    project = Project(folder)
    project.snakemake()
    return project


@pytest.fixture(scope="module")
def burned(tmp_path_factory: pytest.TempPathFactory) -> Project:
    from reelmake.cli import main

    folder = tmp_path_factory.mktemp("captions") / "proj"
    assert main(["new", str(folder)]) == 0
    make_image(folder / "assets" / "photo.jpg", (480, 270), (30, 80, 220))
    make_video(folder / "assets" / "clip.mp4", 1.0, size="200x150", rate=25)
    Project(folder).write_script(SCRIPT)
    return render(folder)


@pytest.fixture(scope="module")
def sidecar(burned: Project, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The same project with ``captions: sidecar`` (the slide's media are reused, not re-rendered)."""
    folder = tmp_path_factory.mktemp("sidecar") / "proj"
    shutil.copytree(burned.path, folder, symlinks=True)
    return render(folder, captions="sidecar")


def scene(project: Project, title: str) -> tuple[dict, Path]:
    entry = next(s for s in project.manifest()["scenes"] if s["title"] == title)
    return entry, project.path / "build" / "scenes" / entry["hash"]


def timing(folder: Path) -> dict:
    return json.loads((folder / "timing.json").read_text())


def frames_of(project: Project, entry: dict) -> list[np.ndarray]:
    with av.open(str(project.path / "build" / "final.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]
    first = round(entry["start_s"] * FPS)
    return frames[first : first + entry["frames"]]


def caption_box(lines: list[str], grow: int = 0) -> tuple[slice, slice]:
    """Rows and columns of a cue's box at 320x180, grown by ``grow`` pixels for the encoder's ringing."""
    left, top, right, bottom = caption_layer(tuple(lines), 320, 180).getchannel("A").getbbox()
    return slice(max(0, top - grow), bottom + grow), slice(max(0, left - grow), right + grow)


def cue_at(cues: list[dict], frame: int) -> dict | None:
    return next((c for c in cues if c["start"] <= frame < c["end"]), None)


def srt_blocks(project: Project) -> list[list[str]]:
    """The SRT's blocks, its text as shown (reelmake.captions.to_srt defuses markup with invisible and
    full-width characters)."""
    text = (project.path / "build" / "final.srt").read_text(encoding="utf-8")
    shown = text.replace("\u2060", "").replace("\uff5b", "{").replace("\uff5d", "}")
    return [block.splitlines() for block in shown.strip().split("\n\n")]


def test_cues_start_within_a_frame_of_their_sentences(burned: Project) -> None:
    blocks = srt_blocks(burned)
    listed = []
    for entry in burned.manifest()["scenes"]:
        record = timing(burned.path / "build" / "scenes" / entry["hash"])
        captions = iter(record["captions"])
        for sentence in record["cues"]:
            pieces = [next(captions) for _ in split_sentence(sentence["text"])]
            assert abs(pieces[0]["start"] - sentence["start_s"] * FPS) <= 1
            assert pieces[-1]["end"] >= sentence["end_s"] * FPS - 1
        assert next(captions, None) is None
        for cue in record["captions"]:
            assert 1 <= len(cue["lines"]) <= MAX_LINES
            listed.append((entry["start_s"] + cue["start"] / FPS, cue["lines"]))
    # The SRT carries exactly the cues the scenes were rendered with.
    assert len(blocks) == len(listed) == 5
    for block, (start_s, lines) in zip(blocks, listed, strict=True):
        stamp = block[1].split(" --> ")[0]
        h, m, s = stamp.replace(",", ".").split(":")
        assert abs(int(h) * 3600 + int(m) * 60 + float(s) - start_s) < 0.001
        assert block[2:] == lines


def test_markup_in_the_narration_is_plain_text_in_the_sidecar_files(burned: Project) -> None:
    srt = (burned.path / "build" / "final.srt").read_text(encoding="utf-8")
    vtt = (burned.path / "build" / "final.vtt").read_text(encoding="utf-8")
    assert "<b>" not in srt and "{" not in srt  # see test_captions: ffmpeg's SubRip reader shows it as text
    assert (
        " ".join(" ".join(block[2:]) for block in srt_blocks(burned)).count("{\\an8} and <b>bold</b> at 100%")
        == 1
    )
    assert "&lt;b&gt;bold&lt;/b&gt;" in vtt and "<b>" not in vtt


def test_burned_captions_change_the_photo_only_in_the_caption_box_while_shown(burned: Project) -> None:
    entry, folder = scene(burned, "A photo")
    still = np.asarray(Image.open(folder / "image.png").convert("RGB"), np.int16)
    cues = timing(folder)["captions"]
    assert len(cues) == 2 and cues[0]["start"] > 0 and cues[-1]["end"] < entry["frames"]
    frames = frames_of(burned, entry)
    plain = frames[0]  # before the first cue: the picture as the encoder renders it
    for number, frame in enumerate(frames):
        cue = cue_at(cues, number)
        if cue is None:
            assert np.abs(frame - still).mean() < 2 and np.abs(frame - plain).mean() < 1, number
            continue
        difference = np.abs(frame - plain).mean(axis=2)
        rows, columns = caption_box(cue["lines"])
        assert difference[rows, columns].mean() > 20, number
        grown_rows, grown_columns = caption_box(cue["lines"], grow=4)
        difference[grown_rows, grown_columns] = 0
        assert difference.mean() < 1 and np.percentile(difference, 99.9) < 12, number


def test_the_title_band_moves_to_the_top_when_captions_are_burned(burned: Project, sidecar: Project) -> None:
    for project, band_rows, clear_rows in ((burned, slice(0, 60), slice(120, 180)),
                                           (sidecar, slice(120, 180), slice(0, 60))):  # fmt: skip
        _, folder = scene(project, "A photo")
        image = np.asarray(Image.open(folder / "image.png").convert("RGB"), np.int16)
        # The photo is (30, 80, 220) with a white disc in the middle; the band is dark.
        assert (image[band_rows, :, 2] < 120).sum() > 500
        assert (image[clear_rows, :, 2] < 120).sum() == 0


def test_burned_captions_on_a_video_scene_only_over_their_frames(burned: Project, sidecar: Project) -> None:
    entry, folder = scene(burned, "A clip")
    clear_entry, _ = scene(sidecar, "A clip")
    cues = timing(folder)["captions"]
    assert len(cues) == 1
    pairs = list(zip(frames_of(burned, entry), frames_of(sidecar, clear_entry), strict=True))
    for number, (captioned, clear) in enumerate(pairs):
        # Two encodes of a detailed clip: coding noise apart (about 2-3 levels, everywhere), they differ
        # in the caption box only, and only during the cue.
        difference = np.abs(captioned - clear).mean(axis=2)
        cue = cue_at(cues, number)
        rows, columns = caption_box(cues[0]["lines"])
        if cue is None:
            assert difference.mean() < 4 and difference[rows, columns].mean() < 6, number
            continue
        assert difference[rows, columns].mean() > 20, number
        grown_rows, grown_columns = caption_box(cue["lines"], grow=4)
        difference[grown_rows, grown_columns] = 0
        assert difference.mean() < 4, number
    assert cues[0]["start"] > 0 and cues[0]["end"] < entry["frames"]  # frames on both sides were checked


def test_sidecar_and_off_burn_nothing_but_write_the_caption_files(burned: Project, sidecar: Project) -> None:
    entry, folder = scene(sidecar, "A photo")
    still = np.asarray(Image.open(folder / "image.png").convert("RGB"), np.int16)
    assert all(np.abs(frame - still).mean() < 2 for frame in frames_of(sidecar, entry))
    assert timing(folder)["captions"] == timing(scene(burned, "A photo")[1])["captions"]
    for name in ("final.srt", "final.vtt"):
        assert (sidecar.path / "build" / name).read_text() == (burned.path / "build" / name).read_text()
    # `off` renders the same media as `sidecar`: switching between them renders nothing.
    (sidecar.path / "config.yaml").write_text(json.dumps({**STILL, "captions": "off"}))
    assert "Nothing to be done" in sidecar.snakemake("-n").stdout


def test_editing_one_narration_rerenders_only_that_scene(burned: Project, tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    shutil.copytree(burned.path, folder, symlinks=True)
    project = Project(folder)
    before = project.scene_files()
    project.write_script(SCRIPT.replace("A second sentence", "Another sentence"))
    project.snakemake()
    after = project.scene_files()
    changed = {path.split("/")[2] for path, mtime in after.items() if before.get(path) != mtime}
    _, photo = scene(project, "A photo")
    assert changed == {photo.name}
    made = {p.name for p in photo.iterdir()}
    # A still's cue pictures are burned and encoded inside its clip job: no file per cue.
    assert "clip.h264" in made and not any(name.startswith("caption") for name in made)


@pytest.mark.parametrize(("shape", "size"), [("vertical", (180, 320)), ("square", (240, 240))])
def test_captions_in_other_formats_stay_title_safe(
    new_project: Callable[..., Project], shape: str, size: tuple[int, int]
) -> None:
    width, height = size
    project = new_project(
        "## Tall\n![photo](assets/photo.jpg)\nA caption in a narrow frame, with words for two lines.\n",
        format=shape,
        width=width,
        height=height,
        motion="none",
    )
    make_image(project.path / "assets" / "photo.jpg", (300, 300), (30, 80, 220))
    project.snakemake()
    entry, folder = scene(project, "Tall")
    still = np.asarray(Image.open(folder / "image.png").convert("RGB"), np.int16)
    cue = timing(folder)["captions"][0]
    frame = frames_of(project, entry)[(cue["start"] + cue["end"]) // 2]
    rows, columns = np.nonzero(np.abs(frame - still).mean(axis=2) > 12)
    assert rows.size > 100
    assert rows.min() >= 0.05 * height and rows.max() < 0.95 * height
    assert columns.min() >= 0.05 * width and columns.max() < 0.95 * width
