"""Checking a scene's visual: a safe path inside the project, a readable image or video, sane sizes."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reelmake.errors import UserError
from reelmake.ffmpeg import local_file
from reelmake.fsutil import write_if_changed

MAX_IMAGE_PIXELS = 50_000_000  # ~8K x 6K; larger is almost surely a decompression bomb
MAX_VIDEO_SIDE = 4096
MAX_VIDEO_SECONDS = 3600


@dataclass(frozen=True)
class AssetInfo:
    """What the pipeline needs to know about an asset file."""

    kind: str  # "image" | "video" | "audio" (no width or height: 0)
    sha256: str
    width: int
    height: int
    duration_s: float | None = None


def resolve_asset(project: Path, ref: str, *, shown_as: str) -> Path:
    """The asset's real path; refuse absolute paths and anything that resolves outside the project."""
    if not ref or ref.startswith(("/", "\\")) or os.path.isabs(ref) or "://" in ref:
        raise UserError(
            f"'{ref}' is not a path relative to the project folder; put the file in assets/ and write "
            "assets/<name>.",
            file=shown_as,
        )
    root = project.resolve()
    try:
        path = (root / ref).resolve()
        if not path.is_relative_to(root):
            raise UserError(
                f"'{ref}' points outside the project folder; copy the file into assets/ instead.",
                file=shown_as,
            )
        if not path.exists():
            raise UserError(f"'{ref}' does not exist; add the file or fix the path.", file=shown_as)
        if not path.is_file():  # a folder, or a device or pipe that could be read for ever
            raise UserError(f"'{ref}' is not a file: a folder, device or pipe cannot be used.", file=shown_as)
    except OSError as exc:  # a name too long for the file system, a folder we may not enter
        raise UserError(f"'{ref}' cannot be opened ({exc.strerror}).", file=shown_as) from None
    except RuntimeError:  # pathlib's report of a loop of symbolic links (an OSError from Python 3.13)
        raise UserError(
            f"'{ref}' is a loop of symbolic links; point it at a real file.", file=shown_as
        ) from None
    return path


class AssetCache:
    """Remembers each asset's inspection by (size, mtime) so an unchanged file is read only once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.entries: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.entries = {}
        self.dirty = False

    def inspect(self, path: Path, *, shown_as: str, max_bytes: int) -> AssetInfo:
        """An image or video (a scene's visual)."""
        return self._cached(path, str(path), inspect_asset, shown_as=shown_as, max_bytes=max_bytes)

    def inspect_audio(self, path: Path, *, shown_as: str, max_bytes: int) -> AssetInfo:
        """A sound file (music or recorded narration)."""
        return self._cached(path, f"audio:{path}", inspect_audio, shown_as=shown_as, max_bytes=max_bytes)

    def _cached(
        self, path: Path, key: str, inspector: Callable[..., AssetInfo], *, shown_as: str, max_bytes: int
    ) -> AssetInfo:
        stat = path.stat()
        if stat.st_size == 0:
            raise UserError(f"'{shown_as}' is empty (0 bytes); replace it with a real file.")
        if stat.st_size > max_bytes:
            raise UserError(
                f"'{shown_as}' is {stat.st_size / 1e6:,.0f} MB; the limit is {max_bytes / 1e6:,.0f} MB "
                "(setting max_asset_mb)."
            )
        stamp = [stat.st_size, stat.st_mtime_ns]
        entry = self.entries.get(key)
        if entry and entry["stamp"] == stamp:
            return AssetInfo(**entry["info"])
        info = inspector(path, shown_as=shown_as)
        self.entries[key] = {"stamp": stamp, "info": asdict(info)}
        self.dirty = True
        return info

    def save(self) -> None:
        if self.dirty:
            write_if_changed(self.path, json.dumps(self.entries, indent=1, sort_keys=True).encode())


def inspect_asset(path: Path, *, shown_as: str) -> AssetInfo:
    """Fully decode an image (or the first frame of a video) so a broken file is caught before rendering."""
    digest = _sha256(path)
    image_size = _open_image(path, shown_as)
    if image_size is not None:
        return AssetInfo("image", digest, *image_size)
    video = _open_video(path, shown_as)
    if video is not None:
        return AssetInfo("video", digest, *video)
    raise UserError(
        f"'{shown_as}' is neither an image nor a video that can be read (corrupt, truncated, or not a "
        "media file); re-export it as JPEG, PNG or MP4."
    )


def inspect_audio(path: Path, *, shown_as: str) -> AssetInfo:
    """Decode a whole sound file (so a damaged one is caught before rendering); its duration."""
    from reelmake.audiofile import ADVICE, AudioFileError, audio_duration

    try:
        duration = audio_duration(path, MAX_VIDEO_SECONDS)
    except AudioFileError as error:
        raise UserError(f"'{shown_as}' {error}; {ADVICE}") from None
    if duration > MAX_VIDEO_SECONDS:
        raise UserError(
            f"'{shown_as}' lasts over {MAX_VIDEO_SECONDS} s; sound up to {MAX_VIDEO_SECONDS} s is accepted."
        )
    return AssetInfo("audio", _sha256(path), 0, 0, duration)


def _open_image(path: Path, shown_as: str) -> tuple[int, int] | None:
    """(width, height) of a good image; None if the file is not an image; UserError if it is a bad one."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                size = img.size
                img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(
            f"'{shown_as}' is an image of absurd size (over {MAX_IMAGE_PIXELS:,} pixels, a possible "
            "decompression bomb); scale it down to at most 8000x6000."
        ) from None
    except UnidentifiedImageError:
        return None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"'{shown_as}' is a broken image ({exc}); re-export or replace it.") from None
    return size


def _open_video(path: Path, shown_as: str) -> tuple[int, int, float] | None:
    import av

    try:
        with av.open(local_file(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            frame = next(container.decode(stream), None)
            if frame is None:
                raise UserError(f"'{shown_as}' is a video with no decodable frames; re-export it.")
            width, height = frame.width, frame.height
            if container.duration is not None:
                duration = container.duration / 1_000_000
            elif stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = 0.0
    except (av.error.FFmpegError, StopIteration, UnicodeDecodeError):
        return None
    if max(width, height) > MAX_VIDEO_SIDE:
        raise UserError(
            f"'{shown_as}' is {width}x{height}; videos up to {MAX_VIDEO_SIDE} px a side are accepted."
        )
    if duration > MAX_VIDEO_SECONDS:
        raise UserError(
            f"'{shown_as}' lasts {duration:.0f} s; clips up to {MAX_VIDEO_SECONDS} s are accepted."
        )
    if duration <= 0:
        raise UserError(f"'{shown_as}' is a video of no duration; re-export it.")
    return width, height, duration


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
