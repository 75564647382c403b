"""Per-scene video: a still or a clip becomes a raw H.264 segment (Annex B) of an exact number of frames.

Every segment uses the same encoder settings, starts with an IDR frame and has no B-frames, so segments
can be joined by concatenating bytes. A still is encoded as one closed GOP that is then repeated: the
picture is decoded and encoded once per GOP length, not once per frame of the scene.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelmake.bitstream import first_frames
from reelmake.ffmpeg import run_ffmpeg
from reelmake.fsutil import atomic_output

GOP_SECONDS = 2  # a keyframe every 2 s: seekable, and one IDR per 2 s keeps stills' bitrate low
# RGB → BT.709 limited range, tagged as such, so players show the colours the slide was drawn with.
# setparams tags the frames themselves: ffmpeg takes the encoder's colour fields from the frames.
TO_YUV = (
    "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
    "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"
)


def encoder_args(fps: int) -> list[str]:
    """x264 settings shared by every segment (identical SPS/PPS, so the joined stream is one stream)."""
    gop = GOP_SECONDS * fps
    return [
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-profile:v", "high",
        "-bf", "0", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-x264-params", "open-gop=0", "-pix_fmt", "yuv420p", "-color_range", "tv",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-f", "h264",
    ]  # fmt: skip


def still_args(image: Path, frames: int, fps: int, out: Path) -> list[str]:
    """ffmpeg arguments for ``frames`` frames of a still: converted to YUV once, then the frame repeated."""
    return [
        "-framerate", str(fps), "-i", str(image),
        "-vf", f"{TO_YUV},loop=loop={frames - 1}:size=1:start=0",
        "-frames:v", str(frames), *encoder_args(fps), str(out),
    ]  # fmt: skip


@dataclass(frozen=True)
class Overlay:
    """A full-frame RGBA picture shown over frames [start, end) of a scene."""

    image: Path
    start: int
    end: int


def video_args(
    clip: Path, title: Path, overlays: Sequence[Overlay], frames: int, fps: int, width: int, height: int,
    fit: str, out: Path,
) -> list[str]:  # fmt: skip
    """ffmpeg arguments for a video asset: scaled, frame-rate converted, trimmed or held, title on top.

    Each overlay (a burned-in cue) is one decoded picture, laid over its frame range only: the overlay
    filter repeats its last (only) frame, and ``enable`` limits it to the range.
    """
    if fit == "cover":
        fitted = f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}"
    else:
        fitted = (
            f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black"
        )
    duration = frames / fps
    graph = [
        f"[0:v]fps={fps},{fitted},setsar=1,tpad=stop_mode=clone:stop_duration={duration:.3f}[v0]",
        "[v0][1:v]overlay=0:0:format=auto[v1]",
    ]
    inputs = ["-i", str(clip), "-loop", "1", "-framerate", str(fps), "-i", str(title)]
    for number, overlay in enumerate(overlays, start=2):
        inputs += ["-i", str(overlay.image)]
        graph.append(
            f"[v{number - 1}][{number}:v]overlay=0:0:format=auto:"
            f"enable='between(n,{overlay.start},{overlay.end - 1})'[v{number}]"
        )
    graph.append(f"[v{len(overlays) + 1}]{TO_YUV}[v]")
    return [
        *inputs, "-filter_complex", ";".join(graph), "-map", "[v]", "-frames:v", str(frames), "-an",
        *encoder_args(fps), str(out),
    ]  # fmt: skip


def encode_gop(image: Path, fps: int, out: Path) -> None:
    """One closed GOP (GOP_SECONDS of the still): all a still scene's video is made of.

    It does not depend on the scene's length, so it is encoded while the narration is still being spoken.
    """
    with atomic_output(out) as tmp:
        run_ffmpeg(still_args(image, GOP_SECONDS * fps, fps, tmp), what=f"encoding {out}")


def assemble_still_clip(runs: Sequence[tuple[Path, int]], fps: int, out: Path, record: Path) -> None:
    """A still scene as runs of (GOP, frames): each run its GOP repeated byte for byte, then a prefix of it.

    A scene without burned captions is one run; with them, each state of the picture (no cue, cue i)
    is a still of its own, and every run starts with its GOP's IDR frame.
    """
    stream = bytearray()
    encoded: dict[Path, bytes] = {}
    for gop, frames in runs:
        data = encoded.setdefault(gop, gop.read_bytes())
        repeats, rest = divmod(frames, GOP_SECONDS * fps)
        # Without B-frames the first n frames of a GOP decode on their own: a prefix is a shorter GOP.
        stream += data * repeats + first_frames(data, rest)
    write_segment(bytes(stream), sum(frames for _, frames in runs), out, record)


def caption_runs(
    plain: Path, states: Sequence[tuple[Path, int, int]], frames: int
) -> list[tuple[Path, int]]:  # fmt: skip
    """The runs of a still scene: ``plain`` between cues, and each (GOP, start, end) over its frames."""
    runs: list[tuple[Path, int]] = []
    cursor = 0
    for gop, start, end in sorted(states, key=lambda state: state[1]):
        if not cursor <= start < end <= frames:
            raise ValueError(f"caption frames [{start}, {end}) do not fit in the scene's {frames}")
        if start > cursor:
            runs.append((plain, start - cursor))
        runs.append((gop, end - start))
        cursor = end
    return [*runs, (plain, frames - cursor)] if frames > cursor else runs


def render_video_clip(
    clip: Path, title: Path, overlays: Sequence[Overlay], frames: int, spec: dict[str, Any], out: Path,
    record: Path,
) -> None:  # fmt: skip
    """A video scene: every frame encoded, at the spec's size, rate and fit, with its overlays."""
    piece = out.with_name(f".{out.stem}.piece.h264")
    fps, width, height = spec["fps"], spec["width"], spec["height"]
    try:
        args = video_args(clip, title, overlays, frames, fps, width, height, spec["fit"], piece)
        run_ffmpeg(args, what=f"encoding {out}")
        stream = piece.read_bytes()
    finally:
        piece.unlink(missing_ok=True)
    write_segment(stream, frames, out, record)


def write_segment(stream: bytes, frames: int, out: Path, record: Path) -> None:
    """A segment and its record (frame count, checksum): the join verifies every segment it reads."""
    with atomic_output(out) as tmp:
        tmp.write_bytes(stream)
    with atomic_output(record) as tmp:
        tmp.write_text(json.dumps({"frames": frames, "sha256": hashlib.sha256(stream).hexdigest()}))
