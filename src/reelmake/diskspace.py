"""Disk space: how much a render writes, and a full disk told in one clear message wherever it happens.

A full disk surfaces as whatever wrote last raises: ffmpeg says "No space left on device" on stderr (a
RenderError), Python, Pillow and PyAV raise OSError with errno ENOSPC (EDQUOT over a quota). Every job
(``jobs.run_job``) and the plan's own writes pass their failure through ``full_disk_error``, so the user
reads which disk is full, about how much more was needed, and what to do, never a traceback.

The estimates are upper bounds, set for noisy photos and busy clips (synthetic pictures compress far
better). Rates: narration 96,000 bytes/s of WAV (48 kHz mono 16-bit, exact) + 16,000 bytes/s of AAC
(measured 15,700); at most 3 bytes per pixel per PNG (a picture of noise: 3.0); H.264 at crf 20 at most
0.03 bytes per pixel per frame (busy 1080p30, about 15 Mbit/s). The join copies the segments and audio
once more (build/final.mp4 is a hard link of build/compose/final.mp4), the joined narration track twice.
Measured, build/ after a first render, against ``render_bytes``:
- 320x180, 3 scenes, 7.2 s (TTS slide, moving photo, silent slide): 1.1 MB written, 4.1 MB estimated;
- the same at 1920x1080: 1.5 MB written, 106 MB estimated (flat pictures: a tenth of a real photo's PNG);
- 1920x1080, a picture of noise (4 s still) and a 31 s recording (tests/fault/disk_support.py's project):
  19.8 MB written (PNG 6.2, GOP 1.6 (since gone), clip 3.1, WAV 3.0, video 4.0, AAC 0.6), 232 MB estimated;
- the same at 640x360 (the fault tests): 6.5 MB written, 30 MB estimated.
The service's old estimate (50 MB a scene + 200 MB + the assets twice) asked 250 MB for any one-scene
render and did not grow with a scene's length or frame size.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reelmake.errors import UserError
from reelmake.ffmpeg import RenderError

NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# What ffmpeg prints for them (its av_err2str is strerror): "No space left on device", "Disk quota exceeded".
NO_SPACE_TEXTS = tuple(os.strerror(code) for code in NO_SPACE_ERRNOS)
# The message as it reaches Snakemake's error report, for `reelmake render` and the service to show it.
MESSAGE = re.compile(r"the disk holding .+? is full \(.+?\): free space and run again[^\n]*")

# What Snakemake writes besides the media (locks, job markers, metadata, logs) takes under this (measured
# about 100 kB for the fault suite's render on tmpfs, where every file takes at least a 4 kB page).
MIN_FREE_BYTES = 256_000
MIN_FREE_FILES = 100
WAV_BYTES_PER_S = 96_000
AAC_BYTES_PER_S = 16_000
PNG_BYTES_PER_PIXEL = 3
H264_BYTES_PER_PIXEL_FRAME = 0.03
SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
SPOKEN_WORDS_PER_S = 2.0  # slower than the voice speaks (about 2.7 measured), so the estimate is generous


class DiskFull(UserError):
    """The disk filled up while a render wrote to it."""


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or what it was raised from) is a full disk, as Python, PyAV or ffmpeg report it."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in NO_SPACE_ERRNOS:
            return True
        if isinstance(seen, RenderError) and any(text in str(seen) for text in NO_SPACE_TEXTS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def full_disk_error(folder: Path, needed: int, what: str) -> DiskFull:
    """The one message for a full disk: which folder's disk, about how much more ``what`` needed."""
    usage = os.statvfs(folder)
    if usage.f_files and usage.f_favail == 0:  # bytes may be free, but no file can be made (tmpfs inodes)
        detail = "no free file entries (inodes) left"
    else:
        short = needed - usage.f_bavail * usage.f_frsize
        detail = f"needed about {human_size(short if short > 0 else needed)} more"
    return DiskFull(
        f"the disk holding {folder} is full ({detail} for {what}): free space and run again "
        "(`reelmake gc` lists rendered files the script no longer uses)"
    )


def ensure_room(folder: Path, needed: int, what: str) -> None:
    """Refuse to start on a disk with no room even for Snakemake's own records (its locks and job
    markers, which it cannot write on a full disk without a traceback): the full-disk message instead."""
    usage = os.statvfs(folder)
    if usage.f_bavail * usage.f_frsize < MIN_FREE_BYTES or (
        usage.f_files and usage.f_favail < MIN_FREE_FILES
    ):
        raise full_disk_error(folder, needed, what)


def mentions_no_space(text: str) -> bool:
    """Whether an error report says a write found the disk full (in any writer's words)."""
    return any(words in text for words in NO_SPACE_TEXTS)


def disk_full_line(text: str) -> str | None:
    """The full-disk message in a failure report (Snakemake's, a worker's log), if there is one."""
    found = MESSAGE.search(text)
    return found[0] if found else None


def human_size(count: int) -> str:
    """A byte count for people: "3.2 MB", "480 kB"."""
    if count >= 1_000_000:
        return f"{count / 1_000_000:,.1f} MB"
    return f"{max(count, 1000) / 1000:,.0f} kB"


def scene_seconds(
    spec: Mapping[str, Any], timing: Path | None = None, recording_s: float | None = None
) -> float:
    """How long a scene lasts: its timing once narrated, else an estimate from its words (or the length
    of its recorded narration)."""
    if timing is not None and timing.is_file():
        return float(json.loads(timing.read_text())["frames"]) / spec["fps"]
    words = len(str(spec.get("narration", "")).split())
    return max(float(spec.get("min_duration_s", 0.0)), words / SPOKEN_WORDS_PER_S, recording_s or 0.0, 1.0)


def scene_bytes(spec: Mapping[str, Any], seconds: float) -> int:
    """An upper bound of what one scene writes: its pictures, narration and clip (counted twice: the
    encoder's scratch file is beside it while it is written)."""
    pixels = spec["width"] * spec["height"]
    zoom = float(spec.get("motion", {}).get("zoom", 1.0))
    cues = len(SENTENCE_END.findall(str(spec.get("narration", ""))))
    pictures = PNG_BYTES_PER_PIXEL * pixels * (zoom * zoom + 1 + cues)  # picture (canvas), title, cues
    narration = (WAV_BYTES_PER_S + AAC_BYTES_PER_S) * seconds if spec.get("narration") else 0
    return int(pictures + narration + 2 * _video_bytes(spec, seconds))


def join_bytes(segments: Iterable[Path], audio: Iterable[Path], width: int, height: int) -> int:
    """What the join writes, from the finished segments and AAC windows it copies: the video, the joined
    narration track twice (on its own, then in the video), a poster and the small companions."""
    video = sum(p.stat().st_size for p in segments if p.is_file())
    sound = sum(p.stat().st_size for p in audio if p.is_file())
    return video + 2 * sound + PNG_BYTES_PER_PIXEL * width * height + 100_000


def render_bytes(scenes: Iterable[tuple[Mapping[str, Any], float]]) -> int:
    """An upper bound of what rendering these scenes (spec, seconds) and joining them writes into an empty
    build folder."""
    total = 0
    for spec, seconds in scenes:
        joined = _video_bytes(spec, seconds) + (2 * AAC_BYTES_PER_S * seconds if spec.get("narration") else 0)
        total += scene_bytes(spec, seconds) + int(joined)
    return total + 100_000


def _video_bytes(spec: Mapping[str, Any], seconds: float) -> float:
    return H264_BYTES_PER_PIXEL_FRAME * spec["width"] * spec["height"] * spec["fps"] * seconds
