"""The final join: nothing is encoded. Scene segments and audio are copied into one MP4, then checked.

The scenes' raw H.264 segments are verified against their records and streamed to ffmpeg; their AAC
windows are laid on the track's frame grid (reelmake.aac), so no scene's audio drifts from its video. A
video with background music copies the soundtrack mixed for it instead (reelmake.soundtrack).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np

from reelmake import aac
from reelmake.aac import Window
from reelmake.bitstream import (
    Mp4Digests,
    PictureDigest,
    annexb_units,
    idr_frames,
    mp4_digests,
    parameter_sets,
    split_frames,
)
from reelmake.captions import Caption, SceneCaption, to_srt, to_vtt
from reelmake.chapters import Chapter, ffmetadata, timestamps
from reelmake.ffmpeg import RenderError, feed_ffmpeg, video_time_limit
from reelmake.fsutil import atomic_output
from reelmake.loudness import lufs_of_blocks
from reelmake.plan import scene_folder, transition_file
from reelmake.poster import frame_in_stream, poster_jpeg, poster_time
from reelmake.probe import Expectation, check, probe
from reelmake.speech import SAMPLE_RATE


@dataclass(frozen=True)
class SceneMedia:
    """The finished media of one scene, in play order."""

    index: int
    id: str
    title: str
    hash: str
    transition: str | None = None  # the hash of the transition into this scene, if it has one

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


def compose(
    composition: dict[str, Any],
    scenes: list[SceneMedia],
    *,
    outputs: Outputs,
    work: Path,
    soundtrack: tuple[Path, Path] | None = None,
) -> dict[str, Any]:
    """Join the scenes into ``video`` (checked before it is moved into place), captions and manifest.

    ``soundtrack`` (a video with music): the mixed track and its measured loudness; without it the
    scenes' own AAC windows are joined at packet level.
    """
    started = time.monotonic()
    fps, width, height = composition["fps"], composition["width"], composition["height"]
    samples_per_frame = SAMPLE_RATE // fps
    placed, captions, entries, blocks, scene_peaks = [], [], [], [], []
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
        for cue in map(SceneCaption.from_json, timing["captions"]):
            # The same cues, on the same frames, as any burned into the scene.
            captions.append(
                Caption((frame_cursor + cue.start) / fps, (frame_cursor + cue.end) / fps, cue.lines)
            )
        blocks += timing["loudness_blocks"]
        scene_peaks.append(timing["true_peak_dbtp"])
        frame_cursor += timing["frames"]
        entries.append(
            {"index": scene.index, "id": scene.id, "title": scene.title, "hash": scene.hash,
             "frames": timing["frames"], "start_s": round(start_s, 6), "end_s": round(frame_cursor / fps, 6)}
        )  # fmt: skip
    total_s = frame_cursor / fps
    video = outputs.video
    chapters = [Chapter(e["start_s"], e["end_s"], e["title"]) for e in entries]
    work.mkdir(parents=True, exist_ok=True)
    if "music" in composition:
        if soundtrack is None:
            raise RenderError("this video has music, but its soundtrack was not given to the join")
        track = soundtrack[0]  # mixed for the whole video, measured when it was encoded
        audio = json.loads(soundtrack[1].read_text(encoding="utf-8"))
        expected_sound = mp4_digests(track).audio
    else:
        track = work / "narration.m4a"
        # The digest of the packets it wrote: the muxed video must carry exactly them.
        expected_sound = aac.join(placed, frame_cursor * samples_per_frame, SAMPLE_RATE, track)
        # Pooled from the scenes' own gating blocks (blocks that span a cut are not counted); the track's
        # true peak is its loudest scene's, as each window starts and ends in silence.
        peaks = [p for p in scene_peaks if p is not None]
        loudness = lufs_of_blocks(np.asarray(blocks))
        audio = {
            # A video without a sound has no loudness (null: -Infinity is not JSON).
            "loudness_lufs": round(loudness, 2) if np.isfinite(loudness) else None,
            "true_peak_dbtp": round(max(peaks), 2) if peaks else None,
        }
    metadata = work / "chapters.ffmeta"
    with atomic_output(metadata) as tmp:  # never left empty or cut short by a full disk
        tmp.write_text(ffmetadata(chapters), encoding="utf-8")
    choice = composition.get("poster", "frame")
    poster_at = poster_time(choice, (entries[0]["start_s"], entries[0]["end_s"]), total_s)
    poster_title = composition["title"] if choice == "title" else None
    # The video is moved into place last, after every file that goes with it: a render killed before
    # that leaves the previous video (the fault suite kills renders here), never a new one without its
    # manifest and poster.
    with atomic_output(video) as joined, ThreadPoolExecutor(2, thread_name_prefix="compose") as pool:
        # The poster is made from the segments while ffmpeg muxes them (its decoder works without the
        # GIL), and put in place only once the muxed file has passed the check.
        poster = pool.submit(_poster, scenes, entries, _frame_shown_at(poster_at, fps), poster_title)
        # Copying frames is far cheaper than encoding them: the encoder's limit is ample.
        limit = video_time_limit(frame_cursor, width * height / 1e6)
        expected_pictures = _mux(scenes, track, metadata, fps, composition["title"], joined, limit)
        chapter_list = pool.submit(chapter_starts, joined)  # read while the file is checked
        # The picture and sound data are checked byte for byte against what was fed in, hashed in
        # the same pass that measures the file; only the edges are decoded (a full decode of a
        # 3-minute 1080p video costs seconds, on every edit).
        digests = Mp4Digests()
        report = probe(joined, decode="edges", on_packet=digests.add)
        problems = check(report, Expectation(width=width, height=height, fps=fps, duration_s=total_s))
        if digests.pictures.hexdigest() != expected_pictures:
            problems.append("its video data differs from the scenes' segments (damaged while writing)")
        if digests.audio != expected_sound:
            problems.append(f"its sound data differs from {track} (damaged while writing)")
        found = len(chapter_list.result())
        if found != len(chapters):
            problems.append(f"it has {found} chapters, not one per scene ({len(chapters)})")
        if problems:
            raise RenderError(
                f"the joined video failed validation, so {video} was not written: " + "; ".join(problems)
            )
        for path, content in (
            (outputs.srt, to_srt(captions).encode()),
            (outputs.vtt, to_vtt(captions).encode()),
            (outputs.chapters, timestamps(chapters).encode()),
            (outputs.poster, poster.result()),
        ):
            with atomic_output(path) as tmp:
                tmp.write_bytes(content)
        data = {
            "title": composition["title"],
            "duration_s": round(total_s, 6),
            "width": width,
            "height": height,
            "fps": fps,
            "size_bytes": joined.stat().st_size,
            "video_codec": report.video_codec,
            "audio_codec": report.audio_codec,
            "loudness_lufs": audio["loudness_lufs"],
            "true_peak_dbtp": audio["true_peak_dbtp"],
            "music": composition.get("music"),
            "composition_s": round(time.monotonic() - started, 3),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "scenes": entries,
            "validation": report.to_dict(),
        }
        with atomic_output(outputs.manifest) as tmp:
            tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return data


def _frame_shown_at(at_s: float, fps: int) -> int:
    """The index of the frame shown at ``at_s`` seconds: the first that starts then or after (within a
    microsecond); ``at_s`` is inside the video (poster_time)."""
    return math.ceil((at_s - 1e-6) * fps - 1e-9)


def _poster(scenes: list[SceneMedia], entries: list[dict[str, Any]], frame: int, title: str | None) -> bytes:
    """The poster JPEG of video frame ``frame``, decoded from the segments that show it (from the keyframe
    before it): the joined file's check proves that it carries exactly their pictures."""
    first = 0  # the scene's first frame in the video
    for scene, entry in zip(scenes, entries, strict=True):
        if frame < first + entry["frames"] or scene is scenes[-1]:
            break
        first += entry["frames"]
    stream = b"".join(_played_segments(scene))
    index = min(frame - first, entry["frames"] - 1)
    keyframe = max(k for k in idr_frames(stream) if k <= index)
    gop = parameter_sets(stream) + split_frames(stream, keyframe)[1]
    return poster_jpeg(frame_in_stream(gop, index - keyframe), title)


def chapter_starts(path: Path) -> list[float]:
    """Start times of the chapters an MP4 carries."""
    with av.open(str(path)) as container:
        return [float(c["start"] * c["time_base"]) for c in container.chapters()]


def _mux(
    scenes: list[SceneMedia], track: Path, metadata: Path, fps: int, title: str, out: Path,
    time_limit_s: float,
) -> str:  # fmt: skip
    """Stream every scene's verified segments into ffmpeg with the narration; return the picture digest."""
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

    def pieces() -> Iterator[bytes]:
        for scene in scenes:
            for piece in _played_segments(scene):
                digest.update(annexb_units(piece))
                yield piece

    feed_ffmpeg(args, pieces(), what="joining the scenes", time_limit_s=time_limit_s)
    return digest.hexdigest()


def _played_segments(scene: SceneMedia) -> list[bytes]:
    """A scene's video as the join plays it: its clip, or the fade into it, then its clip from the IDR
    where the fade's segment ends."""
    clip, _ = _verified(scene.file("clip.h264"), scene.file("clip.json"))
    if scene.transition is None:
        return [clip]
    fade, record = _verified(
        transition_file(scene.transition, ".h264"), transition_file(scene.transition, ".json")
    )
    rest = split_frames(clip, record["frames"])[1]
    if rest and record["frames"] not in idr_frames(clip):
        raise RenderError(
            f"{transition_file(scene.transition, '.h264')} does not end where {scene.file('clip.h264')} "
            "has a keyframe; delete it and run again"
        )
    return [fade, rest]


def _verified(segment: Path, record_file: Path) -> tuple[bytes, dict[str, Any]]:
    """A segment's bytes and record, after checking the checksum recorded when it was rendered."""
    data = segment.read_bytes()
    record = json.loads(record_file.read_text())
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise RenderError(
            f"{segment} is damaged (its checksum changed since it was rendered); delete it and run again"
        )
    return data, record
