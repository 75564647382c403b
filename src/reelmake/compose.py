"""The final join: scene clips by stream copy, one continuous narration track encoded once, validated.

Encoding the assembled PCM once (not per-scene AAC files) keeps every scene's audio on the sample where
its first video frame starts: per-file AAC priming would otherwise add up to drift.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined

from reelmake.captions import split_cue, to_srt
from reelmake.ffmpeg import RenderError, run_ffmpeg
from reelmake.fsutil import atomic_output
from reelmake.loudness import integrated_lufs, normalize
from reelmake.probe import Expectation, ValidationError, validate
from reelmake.speech import SAMPLE_RATE, read_wav, write_wav

AUDIO_BITRATE = "160k"


@dataclass(frozen=True)
class SceneMedia:
    """The finished media of one scene, in play order."""

    index: int
    id: str
    title: str
    hash: str
    clip: Path
    narration: Path
    timing: Path


def concat_list(clips: list[Path], durations: list[float]) -> str:
    """An ffconcat file listing the clips (absolute paths, quoted for ffmpeg)."""
    env = Environment(loader=PackageLoader("reelmake"), undefined=StrictUndefined, autoescape=False)
    env.filters["ffquote"] = lambda path: str(path).replace("'", "'\\''")
    template = env.get_template("concat.ffconcat.j2")
    return template.render(clips=[c.resolve() for c in clips], clip_durations=durations)


def compose(
    composition: dict[str, Any],
    scenes: list[SceneMedia],
    *,
    video: Path,
    srt: Path,
    manifest: Path,
    work: Path,
) -> dict[str, Any]:
    """Join the scenes into ``video`` (validated before it is moved into place), captions and manifest."""
    started = time.monotonic()
    fps, width, height = composition["fps"], composition["width"], composition["height"]
    samples_per_frame = SAMPLE_RATE // fps
    tracks, captions, entries = [], [], []
    frame_cursor = 0
    for scene in scenes:
        timing = json.loads(scene.timing.read_text())
        audio = read_wav(scene.narration)
        if len(audio) != timing["frames"] * samples_per_frame:
            raise ValueError(
                f"{scene.narration}: {len(audio)} samples, expected {timing['frames']} frames' worth"
            )
        start_s = frame_cursor / fps
        for cue in timing["cues"]:
            captions.extend(split_cue(cue["text"], start_s + cue["start_s"], start_s + cue["end_s"]))
        tracks.append(audio)
        frame_cursor += timing["frames"]
        entries.append(
            {"index": scene.index, "id": scene.id, "title": scene.title, "hash": scene.hash,
             "frames": timing["frames"], "start_s": round(start_s, 6), "end_s": round(frame_cursor / fps, 6)}
        )  # fmt: skip
    total_s = frame_cursor / fps
    mixed = normalize(np.concatenate(tracks), SAMPLE_RATE)

    work.mkdir(parents=True, exist_ok=True)
    track = work / "narration.wav"
    write_wav(mixed, track)
    listing = work / "clips.ffconcat"
    listing.write_text(concat_list([s.clip for s in scenes], [e["frames"] / fps for e in entries]))
    with atomic_output(video) as tmp:
        run_ffmpeg(
            ["-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(track),
             "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
             "-af", "pan=stereo|c0=c0|c1=c0", "-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", str(SAMPLE_RATE),
             "-metadata", f"title={composition['title']}", "-movflags", "+faststart", str(tmp)],
            what="joining the scenes",
        )  # fmt: skip
        try:
            report = validate(tmp, Expectation(width=width, height=height, fps=fps, duration_s=total_s))
        except ValidationError as error:
            problems = "; ".join(error.problems)
            message = f"the joined video failed validation, so {video} was not written: {problems}"
            raise RenderError(message) from None
    with atomic_output(srt) as tmp:
        tmp.write_text(to_srt(captions), encoding="utf-8")
    data = {
        "title": composition["title"],
        "duration_s": round(total_s, 6),
        "width": width,
        "height": height,
        "fps": fps,
        "size_bytes": video.stat().st_size,
        "video_codec": report.video_codec,
        "audio_codec": report.audio_codec,
        "loudness_lufs": round(integrated_lufs(mixed, SAMPLE_RATE), 2),
        "composition_s": round(time.monotonic() - started, 3),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scenes": entries,
        "validation": report.to_dict(),
    }
    with atomic_output(manifest) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return data
