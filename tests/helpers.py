"""Test media made on the spot: photos with Pillow, clips with the real ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
from PIL import Image, ImageDraw


def make_image(path: Path, size: tuple[int, int], color: tuple[int, int, int], mode: str = "RGB") -> Path:
    """A test photo: a solid colour with a white disc, so fitting and content are both visible."""
    img = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.ellipse((w * 0.3, h * 0.3, w * 0.7, h * 0.7), fill=(255, 255, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.convert(mode).save(path)
    return path


def make_video(path: Path, seconds: float, size: str = "240x160", rate: int = 25) -> Path:
    """A test clip from ffmpeg's test source (with a tone), any size and rate."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path


def expected_picture(scene: Path, frame: int) -> Image.Image:
    """What a still scene should show on ``frame``: its picture, with the cue shown then burned in."""
    import json

    from reelmake.visuals import caption_layer

    picture = Image.open(scene / "image.png").convert("RGB")
    spec = json.loads((scene.parent.parent / "specs" / f"{scene.name}.json").read_text())
    if spec.get("captions") != "burn":
        return picture
    for cue in json.loads((scene / "timing.json").read_text())["captions"]:
        if cue["start"] <= frame < cue["end"]:
            layer = caption_layer(tuple(cue["lines"]), picture.width, picture.height)
            return Image.alpha_composite(picture.convert("RGBA"), layer).convert("RGB")
    return picture


def make_sound(
    path: Path,
    seconds: float,
    freqs: tuple[float, ...] = (440.0,),
    *,
    lead_s: float = 0.0,
    tail_s: float = 0.0,
    amplitude: float = 0.3,
    rate: int = 44_100,
    channels: int = 2,
) -> Path:
    """A test sound: silence, a chord of sines for ``seconds``, silence; WAV, or any format by extension."""
    import numpy as np

    t = np.arange(round(seconds * rate)) / rate
    chord = sum(np.sin(2 * np.pi * f * t) for f in freqs) * amplitude / len(freqs)
    mono = np.concatenate([np.zeros(round(lead_s * rate)), chord, np.zeros(round(tail_s * rate))])
    pcm = (np.repeat(mono[:, None], channels, axis=1) * 32767).round().astype("<i2").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "s16le", "-ar", str(rate),
         "-ac", str(channels), "-i", "pipe:0", str(path)],
        input=pcm, check=True,
    )  # fmt: skip
    return path


def ebur128(path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) of a file's sound by ffmpeg's own meter, independent of ours."""
    import re

    result = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a",
         "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    summary = result.stderr[result.stderr.rindex("Summary:") :]
    loudness = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    assert loudness and peak, summary
    return float(loudness.group(1)), float(peak.group(1))
