"""Ken Burns motion, rendered for real: smooth, monotonic, eased moves; a still title; exact lengths.

The test photos are light grey with dark discs: a disc's intensity-weighted centroid, measured in each
decoded frame, locates the picture to a small fraction of a pixel, so jitter (a window rounded to whole
pixels, as ffmpeg's zoompan does) would show as steps that jump back and forth.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import Project, make_project
from PIL import Image, ImageDraw

from reelmake import jobs
from reelmake.bitstream import annexb_units
from reelmake.clips import still_keyframe
from reelmake.motion import Motion, windows
from reelmake.visuals import render_title_overlay

FPS = 30
SCENE_FILES = ["clip.h264", "clip.json", "image.png", "narration.m4a", "narration.wav", "timing.json"]
SCRIPT = """---
title: Motion
---
## Zoom
<!-- duration: 2, motion: zoom-in, motion_zoom: 1.5 -->
![two discs](assets/discs.png)

## Pan
<!-- duration: 2, motion: pan-right, motion_zoom: 1.5 -->
![one disc](assets/disc.png)

## Slide
<!-- duration: 1 -->

## Still photo
<!-- duration: 1, motion: none -->
![discs again](assets/still.png)

## Moving slide
<!-- duration: 1, motion: zoom-out -->
"""


def discs(path: Path, centres: list[tuple[int, int]], shade: int = 225) -> None:
    image = Image.new("L", (640, 360), shade)
    draw = ImageDraw.Draw(image)
    for x, y in centres:
        draw.ellipse((x - 10, y - 10, x + 10, y + 10), fill=20)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("motion") / "proj", SCRIPT)
    folder = project.path
    discs(folder / "assets" / "discs.png", [(192, 120), (448, 120)])
    discs(folder / "assets" / "disc.png", [(320, 120)])
    discs(folder / "assets" / "still.png", [(192, 120), (448, 120)], shade=200)
    project.snakemake()
    return folder


def scene(built: Path, title: str) -> Path:
    """The folder of the scene with this title."""
    (found,) = [s for s in Project(built).manifest()["scenes"] if s["title"] == title]
    return built / "build" / "scenes" / found["hash"]


def gray_frames(clip: Path) -> np.ndarray:
    """Every frame of a raw H.264 segment, decoded, as luma."""
    with av.open(str(clip), format="h264") as container:
        return np.stack([f.to_ndarray(format="gray").astype(np.float64) for f in container.decode(video=0)])


def centroid_x(picture: np.ndarray, columns: slice, rows: slice = slice(0, 110)) -> float:
    """x of the dark disc in this part of the picture (intensity-weighted, sub-pixel)."""
    part = picture[rows, columns]
    weight = np.clip(160 - part, 0, None)
    xs = np.arange(part.shape[1]) + (columns.start or 0)
    return float((weight.sum(axis=0) * xs).sum() / weight.sum())


def expected_x(canvas_x: float, box: tuple[float, float, float, float], width: int = 320) -> float:
    """Where a point of the canvas lands in a frame showing ``box`` (pixel-centre coordinates)."""
    return (canvas_x + 0.5 - box[0]) * width / (box[2] - box[0]) - 0.5


def assert_smooth(measured: np.ndarray, ideal: np.ndarray, direction: int) -> None:
    """The measured track follows the eased ideal closely: no frame backwards, no jitter."""
    steps = np.diff(measured)
    assert (direction * steps > -0.05).all(), steps  # never moves back (beyond measurement noise)
    residual = measured - ideal
    residual -= np.median(residual)  # a constant offset is not motion
    # Measured at 320x180: sub-pixel windows stay within 0.11 px of the ideal (rms 0.04); windows rounded
    # to whole pixels (zoompan's way) miss it by up to 0.46-0.61 px (rms 0.22): see the last test.
    assert np.abs(residual).max() < 0.25 and np.sqrt((residual**2).mean()) < 0.1, residual
    # The step size changes gradually (rounded windows make it jump by a whole pixel).
    assert np.abs(np.diff(steps)).max() < 0.75, np.diff(steps)


def test_zoom_is_smooth_and_eased(built: Path) -> None:
    folder = scene(built, "Zoom")
    frames = gray_frames(folder / "clip.h264")
    assert len(frames) == 2 * FPS
    canvas = np.asarray(Image.open(folder / "image.png").convert("L"), np.float64)
    assert canvas.shape == (270, 480)  # 1.5 x the frame: the close end is shown 1:1
    left_disc = centroid_x(canvas, slice(0, 240), slice(0, 180))
    right_disc = centroid_x(canvas, slice(240, 480), slice(0, 180))
    boxes = windows(Motion("zoom-in", 1.5), len(frames), (480, 270), (320, 180))
    ideal = np.array([expected_x(right_disc, b) - expected_x(left_disc, b) for b in boxes])
    measured = np.array([centroid_x(f, slice(160, 320)) - centroid_x(f, slice(0, 160)) for f in frames])
    assert measured[0] == pytest.approx(128, abs=1) and measured[-1] == pytest.approx(192, abs=1)
    assert_smooth(measured, ideal, direction=1)
    # Every frame differs from the one before it. Only the very first step of the ease (0.06 px here) is
    # below what the encoder keeps; before encoding every frame differs (tests/unit/test_motion_frames.py).
    change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2))
    assert (change[1:] > 0).all(), change


def test_pan_is_smooth_and_eased(built: Path) -> None:
    folder = scene(built, "Pan")
    frames = gray_frames(folder / "clip.h264")
    canvas = np.asarray(Image.open(folder / "image.png").convert("L"), np.float64)
    disc = centroid_x(canvas, slice(0, 480), slice(0, 180))
    boxes = windows(Motion("pan-right", 1.5), len(frames), (480, 270), (320, 180))
    ideal = np.array([expected_x(disc, b) for b in boxes])
    measured = np.array([centroid_x(f, slice(0, 320)) for f in frames])
    assert measured[0] - measured[-1] == pytest.approx(160, abs=1)  # the view travels right: 0.5 x 320
    assert_smooth(measured, ideal, direction=-1)


def test_the_title_band_stays_still_while_the_photo_moves(built: Path, tmp_path: Path) -> None:
    folder = scene(built, "Zoom")
    frames = gray_frames(folder / "clip.h264")
    spec = json.loads((built / "build" / "specs" / f"{folder.name}.json").read_text())
    render_title_overlay(spec["title"], spec["width"], spec["height"], tmp_path / "title.png")  # as drawn
    band = np.asarray(Image.open(tmp_path / "title.png"))[..., 3] == 255  # stripe and text: opaque pixels
    assert band.sum() > 40
    on_band = np.abs(frames - frames[0])[:, band]
    assert on_band.mean() < 1.5 and np.percentile(on_band, 99) < 12
    assert np.abs(frames[-1] - frames[0])[:120].max() > 100  # the discs above it moved


def test_slides_and_motion_none_stay_still_and_cost_one_frame(built: Path) -> None:
    for title in ("Slide", "Still photo"):
        folder = scene(built, title)
        frames = gray_frames(folder / "clip.h264")
        assert len(frames) == FPS
        assert np.abs(np.diff(frames, axis=0)).max() == 0, title  # skip frames repeat the picture exactly
        assert still_keyframe((folder / "clip.h264").read_bytes(), FPS, FPS) is not None
    moving = gray_frames(scene(built, "Moving slide") / "clip.h264")
    assert len(moving) == FPS and np.abs(moving[-1] - moving[0]).mean() > 1  # a slide may opt in
    for title in ("Zoom", "Pan", "Moving slide"):
        assert still_keyframe((scene(built, title) / "clip.h264").read_bytes(), FPS, FPS) is None


def test_lengths_are_exact_and_segments_share_parameter_sets(built: Path) -> None:
    manifest = Project(built).manifest()
    parameter_sets = set()
    for entry in manifest["scenes"]:
        folder = built / "build" / "scenes" / entry["hash"]
        record = json.loads((folder / "clip.json").read_text())
        timing = json.loads((folder / "timing.json").read_text())
        assert record["frames"] == timing["frames"] == entry["frames"]
        # A moving photo's title band is drawn in its clip's job and removed: no scratch file is left.
        assert sorted(p.name for p in folder.iterdir()) == SCENE_FILES
        segment = (folder / "clip.h264").read_bytes()
        units = list(annexb_units(segment))
        parameter_sets.add(tuple(u for u in units if u[0] & 0x1F in (7, 8)))  # SPS, PPS
    assert len(parameter_sets) == 1  # one stream: the join copies moving and still segments alike
    assert [e["frames"] for e in manifest["scenes"]] == [60, 60, 30, 30, 30]
    assert manifest["duration_s"] == pytest.approx(210 / FPS, abs=1e-6)


def test_rendering_is_deterministic(built: Path, tmp_path: Path) -> None:
    folder = scene(built, "Zoom")
    spec = built / "build" / "specs" / f"{folder.name}.json"
    jobs.render_scene_clip(
        spec=str(spec), timing=str(folder / "timing.json"), out=str(tmp_path / "clip.h264"),
        record=str(tmp_path / "clip.json"), image=str(folder / "image.png"),
    )  # fmt: skip
    assert (tmp_path / "clip.h264").read_bytes() == (folder / "clip.h264").read_bytes()


def test_reorder_rerenders_no_moving_scene(built: Path, tmp_path: Path) -> None:
    copy = tmp_path / "proj"
    shutil.copytree(built, copy, symlinks=True)
    project = Project(copy)
    before = project.scene_files()
    head, zoom, pan, *rest = SCRIPT.split("## ")
    project.write_script("## ".join([head, pan, zoom, *rest]))
    project.snakemake()
    assert project.scene_files() == before
    assert [s["title"] for s in project.manifest()["scenes"]][:2] == ["Pan", "Zoom"]


def test_the_smoothness_measure_catches_whole_pixel_windows(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same pan with its windows rounded to whole pixels fails the smoothness check above."""
    from reelmake import clips, motion

    def rounded(*args: object) -> list[tuple[float, ...]]:
        return [tuple(float(round(v)) for v in box) for box in motion.windows(*args)]  # type: ignore[arg-type]

    monkeypatch.setattr(clips, "windows", rounded)
    folder = scene(built, "Pan")
    spec = built / "build" / "specs" / f"{folder.name}.json"
    jobs.render_scene_clip(
        spec=str(spec), timing=str(folder / "timing.json"), out=str(tmp_path / "clip.h264"),
        record=str(tmp_path / "clip.json"), image=str(folder / "image.png"),
    )  # fmt: skip
    frames = gray_frames(tmp_path / "clip.h264")
    canvas = np.asarray(Image.open(folder / "image.png").convert("L"), np.float64)
    disc = centroid_x(canvas, slice(0, 480), slice(0, 180))
    ideal = np.array(
        [expected_x(disc, b) for b in motion.windows(Motion("pan-right", 1.5), 60, (480, 270), (320, 180))]
    )
    measured = np.array([centroid_x(f, slice(0, 320)) for f in frames])
    with pytest.raises(AssertionError):
        assert_smooth(measured, ideal, direction=-1)
