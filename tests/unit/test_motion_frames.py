"""Ken Burns motion without Snakemake: which scenes move, the windows' geometry, and the frame pipeline."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import make_image, make_video
from PIL import Image

from reelmake import clips
from reelmake.clips import TO_YUV, Overlay, encode_pictures, moving_pictures, to_planes
from reelmake.errors import UserError
from reelmake.ffmpeg import ffmpeg_command
from reelmake.motion import DIRECTIONS, Motion, always_shown, canvas_size, choose, windows
from reelmake.plan import plan_project
from reelmake.visuals import render_slide


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_windows_move_one_way_and_ease_in_and_out(direction: str) -> None:
    frame, zoom, count = (320, 180), 1.25, 90
    canvas = canvas_size(*frame, zoom)
    boxes = np.array(windows(Motion(direction, zoom), count, canvas, frame))
    widths, lefts = boxes[:, 2] - boxes[:, 0], boxes[:, 0]
    assert np.allclose((boxes[:, 3] - boxes[:, 1]) / widths, 180 / 320)  # the frame's shape throughout
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= canvas[0]).all() and (boxes[:, 3] <= canvas[1]).all()
    # A zoom's even pace is in scale (log of the window's width), a pan's in pixels.
    moving = np.log(widths) if direction.startswith("zoom") else lefts
    steps = np.diff(moving)
    sign = {"zoom-in": -1, "zoom-out": 1, "pan-left": -1, "pan-right": 1}[direction]
    assert (sign * steps > 0).all()  # every frame moves, always the same way
    # Eased: at rest at both ends, fastest in the middle, and the speed changes gradually.
    speed = np.abs(steps)
    assert speed[0] < speed.max() / 20 and speed[-1] < speed.max() / 20
    assert abs(int(np.argmax(speed)) - (count - 2) / 2) <= 1
    assert np.abs(np.diff(speed)).max() < speed.max() / 10
    # The close end shows the canvas 1:1 (never upscaled), the far end all of it.
    assert 320 - 1e-6 <= widths.min() < 322
    if direction.startswith("zoom"):
        assert widths.max() == pytest.approx(canvas[0], abs=1)


def test_auto_moves_photos_by_their_bytes_and_keeps_slides_still() -> None:
    picks = {choose("auto", "image", f"{n:08x}" + "0" * 56, 1.1) for n in range(8)}
    assert {m.direction for m in picks if m} == set(DIRECTIONS)
    sha = "ab" * 32
    assert choose("auto", "image", sha, 1.1) == choose("auto", "image", sha, 1.1)
    assert choose("auto", "slide", None, 1.1) is None
    assert choose("none", "image", sha, 1.1) is None
    assert choose("pan-left", "slide", None, 1.3) == Motion("pan-left", 1.3)


SCRIPT = """## Slide
Words.

## Photo
![p](assets/a.png)

## Still photo
<!-- motion: none -->
![p](assets/b.png)

## Moving slide
<!-- motion: zoom-out, motion_zoom: 1.3 -->
Words that move.
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"width": 320, "height": 180}))
    (tmp_path / "script.md").write_text(SCRIPT)
    make_image(tmp_path / "assets" / "a.png", (64, 48), (200, 40, 40))
    make_image(tmp_path / "assets" / "b.png", (64, 48), (40, 200, 40))
    return tmp_path


def motions(project: Path, **overrides: object) -> list[dict | None]:
    return [s.spec.get("motion") for s in plan_project(project, overrides).scenes]


def test_plan_gives_each_scene_its_motion(project: Path) -> None:
    slide, photo, still, moving_slide = motions(project)
    assert slide is None and still is None
    assert photo is not None and photo["direction"] in DIRECTIONS and photo["zoom"] == 1.12
    assert moving_slide == {"direction": "zoom-out", "zoom": 1.3}
    # The project's setting: none stills every scene but the one that asks; a direction moves slides too.
    assert motions(project, motion="none") == [None, None, None, moving_slide]
    assert motions(project, motion="pan-left", motion_zoom=1.2)[:3] == [
        {"direction": "pan-left", "zoom": 1.2},
        {"direction": "pan-left", "zoom": 1.2},
        None,
    ]


def test_auto_motion_does_not_depend_on_position(project: Path) -> None:
    before = {s.title: (s.hash, s.spec.get("motion")) for s in plan_project(project).scenes}
    parts = SCRIPT.split("## ")
    (project / "script.md").write_text("## " + "## ".join([parts[4], parts[2], parts[1], parts[3]]))
    after = {s.title: (s.hash, s.spec.get("motion")) for s in plan_project(project).scenes}
    assert after == before


def test_motion_on_a_clip_is_refused_naming_the_scene(project: Path) -> None:
    make_video(project / "assets" / "clip.mp4", 1.0)
    (project / "script.md").write_text(
        "## Intro\nHi.\n\n## Clip\n<!-- motion: zoom-in -->\n![c](assets/clip.mp4)\n"
    )
    with pytest.raises(UserError) as caught:
        plan_project(project)
    message = str(caught.value)
    assert "script.md:4" in message and "scene 2 'Clip'" in message and "video clip does not move" in message
    # The project's motion, or auto, leaves clips still rather than failing.
    (project / "script.md").write_text("## Clip\n![c](assets/clip.mp4)\n")
    assert motions(project, motion="zoom-in") == [None]


def test_motion_settings_are_validated(project: Path) -> None:
    with pytest.raises(UserError, match="motion"):
        plan_project(project, {"motion": "spin"})
    with pytest.raises(UserError, match="motion_zoom"):
        plan_project(project, {"motion_zoom": 3})


def _ffmpeg_yuv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The still path's conversion (TO_YUV in ffmpeg) of an RGB picture, as planes."""
    height, width, _ = rgb.shape
    result = subprocess.run(
        ffmpeg_command(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-i", "pipe:0",
                        "-vf", TO_YUV, "-f", "rawvideo", "pipe:1"]),
        input=rgb.tobytes(), capture_output=True, check=True,
    )  # fmt: skip
    return _split(result.stdout, (width, height))


def _split(raw: bytes, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A raw yuv420p frame's three planes."""
    width, height = size
    data = np.frombuffer(raw, np.uint8)
    y = data[: width * height].reshape(height, width)
    u = data[width * height : width * height * 5 // 4].reshape(height // 2, width // 2)
    v = data[width * height * 5 // 4 :].reshape(height // 2, width // 2)
    return y, u, v


def test_planes_have_the_still_paths_colours() -> None:
    """Moving scenes convert RGB to YUV in numpy: the same colours as ffmpeg gives still scenes."""
    yy, xx = np.mgrid[0:64, 0:96]
    rgb = np.stack([xx * 2.6, yy * 4, 255 - xx * 2], axis=-1).clip(0, 255).astype(np.uint8)
    planes = to_planes(rgb)
    for ours, theirs in zip((planes.y, planes.u, planes.v), _ffmpeg_yuv(rgb), strict=True):
        diff = np.abs(np.asarray(ours, np.int16) - theirs.astype(np.int16))
        assert diff.max() <= 2 and diff.mean() < 0.6, (diff.max(), diff.mean())


def test_frames_all_differ_and_overlays_stay_put(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every frame of a move differs from the last; an overlay's opaque pixels are the same in all."""
    frame = (320, 180)
    canvas = tmp_path / "canvas.png"
    yy, xx = np.mgrid[0:270, 0:480]
    Image.fromarray((np.stack([xx % 50 * 5, yy % 30 * 8, (xx + yy) % 255], -1)).astype(np.uint8)).save(canvas)
    pictures = list(moving_pictures(canvas, Motion("zoom-in", 1.5), 30, frame))
    lumas = [np.asarray(p.y, np.int16) for p in pictures]
    assert all(np.abs(b - a).sum() > 0 for a, b in itertools.pairwise(lumas))

    band = Image.new("RGBA", frame, (0, 0, 0, 0))
    band.paste((255, 200, 0, 255), (11, 121, 101, 161))  # odd edges: the layer is cut on even pixels
    band.save(tmp_path / "band.png")
    captured: list[np.ndarray] = []  # the luma of each frame as it would go to the encoder
    monkeypatch.setattr(
        clips,
        "feed_ffmpeg",
        lambda args, chunks, what, time_limit_s: captured.extend(_split(c, frame)[0] for c in chunks),
    )
    encode_pictures(pictures, [Overlay(tmp_path / "band.png", 10, 20)], 30, 30, frame, tmp_path / "clip.h264")
    assert len(captured) == 30
    inside = (slice(121, 161), slice(11, 101))
    for index, y in enumerate(captured):
        if 10 <= index < 20:
            assert (y[inside] == y[121, 11]).all()  # one flat colour: the band, not the moving picture
        else:
            assert (y == np.asarray(pictures[index].y)).all()


@pytest.mark.parametrize(
    ("direction", "expected"),
    [("zoom-in", (80, 45, 400, 225)), ("zoom-out", (80, 45, 400, 225)), ("pan-right", (160, 45, 320, 225))],
)
def test_a_moving_slides_text_goes_where_every_frame_shows_it(
    direction: str, expected: tuple[int, ...], tmp_path: Path
) -> None:
    motion = Motion(direction, 1.5)
    box = always_shown(motion, (480, 270), (320, 180))
    assert box == expected
    for window in windows(motion, 30, (480, 270), (320, 180)):
        assert window[0] <= box[0] and window[1] <= box[1] and window[2] >= box[2] and window[3] >= box[3]
    # The slide's text (what differs from the same slide with none) lies inside the box.
    render_slide("A title", "Some body text, long enough to wrap.", 480, 270, "dark", tmp_path / "s.png", box)
    render_slide("", "", 480, 270, "dark", tmp_path / "blank.png", box)
    ink = np.abs(
        np.asarray(Image.open(tmp_path / "s.png"), np.int16) - np.asarray(Image.open(tmp_path / "blank.png"))
    ).max(axis=2)
    rows, cols = np.nonzero(ink > 8)
    assert rows.size > 100
    assert box[0] <= cols.min() and cols.max() < box[2] and box[1] <= rows.min() and rows.max() < box[3]
