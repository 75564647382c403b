"""Per-scene video: a still or a clip becomes a video-only H.264 segment of an exact number of frames.

Every segment uses identical encoder settings so the final join is a stream copy.
"""

from __future__ import annotations

from pathlib import Path

from reelmake.ffmpeg import run_ffmpeg
from reelmake.fsutil import atomic_output

# Fixed for every segment: the concat join copies streams, which needs identical parameters.
ENCODER = [
    "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-profile:v", "high",
    "-pix_fmt", "yuv420p", "-color_range", "tv", "-colorspace", "bt709",
    "-color_primaries", "bt709", "-color_trc", "bt709",
]  # fmt: skip


def still_args(image: Path, frames: int, fps: int, out: Path) -> list[str]:
    """ffmpeg arguments for a still: the PNG is decoded once and its frame repeated, not re-read per frame."""
    return [
        "-framerate", str(fps), "-i", str(image),
        "-vf", f"loop=loop={frames - 1}:size=1:start=0,format=yuv420p",
        "-frames:v", str(frames), "-r", str(fps), "-an", *ENCODER,
        "-g", str(fps * 2), "-video_track_timescale", str(fps * 512), str(out),
    ]  # fmt: skip


def video_args(
    clip: Path, overlay: Path, frames: int, fps: int, width: int, height: int, fit: str, out: Path
) -> list[str]:
    """ffmpeg arguments for a video asset: scaled, frame-rate converted, trimmed or held, title on top."""
    if fit == "cover":
        fitted = f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}"
    else:
        fitted = (
            f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black"
        )
    duration = frames / fps
    graph = (
        f"[0:v]fps={fps},{fitted},setsar=1,tpad=stop_mode=clone:stop_duration={duration:.3f}[bg];"
        f"[bg][1:v]overlay=0:0:format=auto,format=yuv420p[v]"
    )
    return [
        "-i", str(clip), "-loop", "1", "-framerate", str(fps), "-i", str(overlay),
        "-filter_complex", graph, "-map", "[v]",
        "-frames:v", str(frames), "-r", str(fps), "-an", *ENCODER,
        "-g", str(fps * 2), "-video_track_timescale", str(fps * 512), str(out),
    ]  # fmt: skip


def render_still_clip(image: Path, frames: int, fps: int, out: Path) -> None:
    with atomic_output(out) as tmp:
        run_ffmpeg(still_args(image, frames, fps, tmp), what=f"encoding {out}")


def render_video_clip(
    clip: Path, overlay: Path, frames: int, fps: int, width: int, height: int, fit: str, out: Path
) -> None:
    with atomic_output(out) as tmp:
        run_ffmpeg(video_args(clip, overlay, frames, fps, width, height, fit, tmp), what=f"encoding {out}")
