"""The comparator: MoviePy 2.2.1 composing the same per-scene stills and narrations, as its users would.

Each scene is ``ImageClip(image.png).with_duration(d).with_audio(AudioFileClip(narration.wav))``; a clip
scene is its ``VideoFileClip``, scaled by ffmpeg while decoding (``target_resolution``) to cover the frame,
cut to the scene (or held on its last frame), with reelmake's title overlay (the scene's transparent
image.png) composited on top. The scenes are joined with ``concatenate_videoclips`` and written with x264
veryfast, AAC, two threads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

MOVIEPY_VERSION = "2.2.1"


@dataclass(frozen=True)
class ComparatorScene:
    """One scene's inputs: reelmake's still and narration, its length, and its clip if it is a clip scene."""

    image: Path
    narration: Path
    duration_s: float
    clip: Path | None = None


def available() -> str | None:
    """MoviePy's installed version if it can be imported, else None."""
    try:
        import moviepy  # noqa: F401
    except ImportError:
        return None
    try:
        return version("moviepy")  # moviepy.__version__ of 2.2.1 still says 2.1.2
    except PackageNotFoundError:
        return "unknown"


def _clip_scene(scene: ComparatorScene, size: tuple[int, int], fps: int) -> Any:
    from moviepy import CompositeVideoClip, ImageClip, VideoFileClip, concatenate_videoclips

    width, height = size
    probe = VideoFileClip(str(scene.clip), audio=False)
    scale = max(width / probe.w, height / probe.h)
    scaled = (round(probe.w * scale), round(probe.h * scale))  # (width, height)
    probe.close()
    # target_resolution makes ffmpeg scale while decoding (MoviePy's documented fast path).
    video = VideoFileClip(str(scene.clip), audio=False, target_resolution=scaled)
    if (video.w, video.h) != size:
        video = video.cropped(x_center=video.w / 2, y_center=video.h / 2, width=width, height=height)
    if video.duration >= scene.duration_s:
        video = video.subclipped(0, scene.duration_s)
    else:
        last = ImageClip(video.get_frame(max(0.0, video.duration - 1.0 / fps)))
        video = concatenate_videoclips([video, last.with_duration(scene.duration_s - video.duration)])
    overlay = ImageClip(str(scene.image)).with_duration(scene.duration_s)
    return CompositeVideoClip([video, overlay], size=size, use_bgclip=True).with_duration(scene.duration_s)


def render(scenes: list[ComparatorScene], out: Path, *, size: tuple[int, int], fps: int = 30) -> float:
    """Compose ``scenes`` into ``out`` with MoviePy; returns the wall seconds, clip set-up included."""
    from moviepy import AudioFileClip, ImageClip, concatenate_videoclips

    started = time.perf_counter()
    clips = []
    for scene in scenes:
        if scene.clip is not None:
            clip = _clip_scene(scene, size, fps)
        else:
            clip = ImageClip(str(scene.image)).with_duration(scene.duration_s)
        clips.append(clip.with_audio(AudioFileClip(str(scene.narration))))
    final = concatenate_videoclips(clips)
    out.parent.mkdir(parents=True, exist_ok=True)
    final.write_videofile(
        str(out), fps=fps, codec="libx264", audio_codec="aac", preset="veryfast", threads=2, logger=None
    )
    elapsed = time.perf_counter() - started
    final.close()
    for clip in clips:
        clip.close()
    return elapsed
