"""A video asset becomes a segment: fitted, converted to BT.709 once, with its title and cues on top."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import av
import numpy as np
from PIL import Image

from reelmake.clips import Overlay, render_video_clip, video_args, visible_box
from reelmake.ffmpeg import ffmpeg_exe

SIZE = (320, 180)
CLIP_RGB = (40, 160, 90)
TITLE_RGB = (230, 60, 20)
CUE_RGB = (20, 40, 220)


def solid_clip(path: Path) -> Path:
    """A 2 s clip of one colour, encoded as a camera would (BT.601 YUV, 4:3)."""
    colour = "0x{:02x}{:02x}{:02x}".format(*CLIP_RGB)
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c={colour}:size=160x120:rate=25:d=2",
         "-vf", "format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast", str(path)],
        check=True,
    )  # fmt: skip
    return path


def band(path: Path, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> Path:
    picture = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    picture.paste((*colour, 255), box)
    picture.save(path)
    return path


def rgb_frames(segment: Path) -> list[np.ndarray]:
    with av.open(io.BytesIO(segment.read_bytes()), format="h264") as container:
        return [frame.to_ndarray(format="rgb24").astype(int) for frame in container.decode(video=0)]


def test_visible_box_is_even_aligned_and_none_when_transparent(tmp_path: Path) -> None:
    with Image.open(band(tmp_path / "a.png", (11, 21, 50, 61), TITLE_RGB)) as picture:
        assert visible_box(picture) == (10, 20, 50, 62)
    assert visible_box(Image.new("RGBA", SIZE, (255, 0, 0, 0))) is None


def test_title_and_cue_keep_their_colours_over_the_clip(tmp_path: Path) -> None:
    clip = solid_clip(tmp_path / "clip.mp4")
    title = band(tmp_path / "title.png", (20, 10, 120, 40), TITLE_RGB)
    cue = band(tmp_path / "cue.png", (100, 140, 220, 170), CUE_RGB)
    spec = {"fps": 30, "width": SIZE[0], "height": SIZE[1], "fit": "cover", "title": "T",
            "asset": {"path": "clip.mp4", "width": 160, "height": 120}}  # fmt: skip
    out, record = tmp_path / "clip.h264", tmp_path / "clip.json"
    render_video_clip(clip, title, [Overlay(cue, 15, 30)], 45, spec, out, record)
    frames = rgb_frames(out)
    assert len(frames) == json.loads(record.read_text())["frames"] == 45
    for index in (0, 20, 44):
        frame = frames[index]
        assert np.abs(frame[25, 70] - TITLE_RGB).max() <= 6  # the title on every frame
        assert np.abs(frame[100, 40] - CLIP_RGB).max() <= 6  # the clip's colour survives the conversion
        cue_shown = 15 <= index < 30
        assert (np.abs(frame[155, 160] - CUE_RGB).max() <= 6) == cue_shown


def test_only_visible_overlays_are_inputs(tmp_path: Path) -> None:
    title = band(tmp_path / "title.png", (20, 10, 120, 40), TITLE_RGB)
    Image.new("RGBA", SIZE, (0, 0, 0, 0)).save(tmp_path / "blank.png")
    args = video_args(
        tmp_path / "clip.mp4", title, [Overlay(tmp_path / "blank.png", 0, 5)], 30, 30, *SIZE, "contain",
        tmp_path / "out.h264",
    )  # fmt: skip
    assert args.count("-i") == 2  # the clip and the title; the blank cue is left out
    graph = args[args.index("-filter_complex") + 1]
    assert "crop=100:30:20:10" in graph and "-loop" not in args
