"""The final join: nothing is encoded. Scene segments and audio are copied into one MP4, then checked.

The scenes' raw H.264 segments are verified against their records and streamed to ffmpeg; their AAC
windows are laid on the track's frame grid (reelmake.aac), so no scene's audio drifts from its video.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from reelmake import aac
from reelmake.aac import Window
from reelmake.bitstream import PictureDigest, annexb_units, mp4_picture_digest
from reelmake.captions import split_cue, to_srt, to_vtt
from reelmake.chapters import Chapter, ffmetadata, timestamps
from reelmake.ffmpeg import RenderError, stream_to_ffmpeg
from reelmake.fsutil import atomic_output
from reelmake.loudness import lufs_of_blocks
from reelmake.plan import scene_folder
from reelmake.probe import Expectation, check, probe
from reelmake.speech import SAMPLE_RATE


@dataclass(frozen=True)
class SceneMedia:
    """The finished media of one scene, in play order."""

    index: int
    id: str
    title: str
    hash: str

    def file(self, name: str) -> Path:
        return scene_folder(self.hash) / name


@dataclass(frozen=True)
class Outputs:
    """Where the join writes: the video and everything published beside it."""

    video: Path
    srt: Path
    vtt: Path
    chapters: Path
    poster: Path
    manifest: Path


POSTER_SHORT_SIDE = 720  # 1280x720 for landscape, 720x1280 vertical, 720x720 square


def compose(
    composition: dict[str, Any], scenes: list[SceneMedia], *, outputs: Outputs, work: Path
) -> dict[str, Any]:
    """Join the scenes into ``video`` (checked before it is moved into place), captions and manifest."""
    started = time.monotonic()
    fps, width, height = composition["fps"], composition["width"], composition["height"]
    samples_per_frame = SAMPLE_RATE // fps
    placed, captions, entries, blocks = [], [], [], []
    frame_cursor = 0
    for scene in scenes:
        timing = json.loads(scene.file("timing.json").read_text())
        if timing["samples"] != timing["frames"] * samples_per_frame:
            raise RenderError(
                f"{scene.file('timing.json')}: the audio does not fill its {timing['frames']} frames"
            )
        window = timing["aac_window"]
        placed.append(
            (
                frame_cursor * samples_per_frame,
                Window(window["start"], window["length"]),
                scene.file("narration.m4a"),
            )
        )
        start_s = frame_cursor / fps
        for cue in timing["cues"]:
            captions.extend(split_cue(cue["text"], start_s + cue["start_s"], start_s + cue["end_s"]))
        blocks += timing["loudness_blocks"]
        frame_cursor += timing["frames"]
        entries.append(
            {"index": scene.index, "id": scene.id, "title": scene.title, "hash": scene.hash,
             "frames": timing["frames"], "start_s": round(start_s, 6), "end_s": round(frame_cursor / fps, 6)}
        )  # fmt: skip
    total_s = frame_cursor / fps
    video = outputs.video
    chapters = [Chapter(e["start_s"], e["end_s"], e["title"]) for e in entries]
    work.mkdir(parents=True, exist_ok=True)
    track = work / "narration.m4a"
    aac.join(placed, frame_cursor * samples_per_frame, SAMPLE_RATE, track, work)
    metadata = work / "chapters.ffmeta"
    metadata.write_text(ffmetadata(chapters), encoding="utf-8")
    with atomic_output(video) as tmp:
        expected_pictures = _mux(scenes, track, metadata, fps, composition["title"], tmp)
        report = probe(tmp, decode="edges")
        problems = check(report, Expectation(width=width, height=height, fps=fps, duration_s=total_s))
        if mp4_picture_digest(tmp).hexdigest() != expected_pictures:
            problems.append("its video data differs from the scenes' segments (damaged while writing)")
        found = len(chapter_starts(tmp))
        if found != len(chapters):
            problems.append(f"it has {found} chapters, not one per scene ({len(chapters)})")
        if problems:
            raise RenderError(
                f"the joined video failed validation, so {video} was not written: " + "; ".join(problems)
            )
    for path, text in (
        (outputs.srt, to_srt(captions)),
        (outputs.vtt, to_vtt(captions)),
        (outputs.chapters, timestamps(chapters)),
    ):
        with atomic_output(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    first = entries[0]
    _write_poster(video, (first["start_s"] + first["end_s"]) / 2, outputs.poster)
    data = {
        "title": composition["title"],
        "duration_s": round(total_s, 6),
        "width": width,
        "height": height,
        "fps": fps,
        "size_bytes": video.stat().st_size,
        "video_codec": report.video_codec,
        "audio_codec": report.audio_codec,
        # Pooled from the scenes' own gating blocks (blocks that span a cut are not counted).
        "loudness_lufs": round(lufs_of_blocks(np.asarray(blocks)), 2),
        "composition_s": round(time.monotonic() - started, 3),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scenes": entries,
        "validation": report.to_dict(),
    }
    with atomic_output(outputs.manifest) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return data


def chapter_starts(path: Path) -> list[float]:
    """Start times of the chapters an MP4 carries."""
    with av.open(str(path)) as container:
        return [float(c["start"] * c["time_base"]) for c in container.chapters()]


def _write_poster(video: Path, at_s: float, out: Path) -> None:
    """A JPEG of the frame at ``at_s`` (the middle of the first scene), 720p in the video's shape."""
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        container.seek(int(at_s / stream.time_base), stream=stream, backward=True)
        frame = next(f for f in container.decode(stream) if f.pts is not None and f.time >= at_s - 1e-6)
        image = frame.to_image()
    scale = POSTER_SHORT_SIDE / min(image.size)
    size = (round(image.width * scale / 2) * 2, round(image.height * scale / 2) * 2)
    with atomic_output(out) as tmp:
        image.resize(size, Image.Resampling.LANCZOS).save(tmp, format="JPEG", quality=90)


def _mux(scenes: list[SceneMedia], track: Path, metadata: Path, fps: int, title: str, out: Path) -> str:
    """Stream every scene's verified segment into ffmpeg with the narration; return the picture digest."""
    args = [
        "-f", "h264", "-framerate", str(fps), "-i", "pipe:0", "-i", str(track),
        "-f", "ffmetadata", "-i", str(metadata), "-map_chapters", "2",
        "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
        # The raw stream has no timestamps: number the frames exactly (the demuxer's own are microseconds).
        "-bsf:v", f"setts=ts=N/({fps}*TB)", "-video_track_timescale", str(fps * 512),
        "-c:a", "copy",
        "-metadata", f"title={title}", "-movflags", "+faststart", str(out),
    ]  # fmt: skip
    digest = PictureDigest()

    def segments() -> Iterator[bytes]:
        for scene in scenes:
            segment = scene.file("clip.h264").read_bytes()
            record = json.loads(scene.file("clip.json").read_text())
            if hashlib.sha256(segment).hexdigest() != record["sha256"]:
                raise RenderError(
                    f"{scene.file('clip.h264')} is damaged (its checksum changed since it was rendered); "
                    "delete it and run again"
                )
            digest.update(annexb_units(segment))
            yield segment

    stream_to_ffmpeg(args, segments(), what="joining the scenes")
    return digest.hexdigest()
