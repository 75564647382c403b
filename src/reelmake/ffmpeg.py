"""Running the ffmpeg binary that ships in the imageio-ffmpeg wheel (no system ffmpeg needed)."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Sequence


class RenderError(Exception):
    """ffmpeg failed; the message carries the end of its error output."""


@functools.cache
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_command(args: Sequence[str]) -> list[str]:
    """The full command line: quiet, non-interactive, overwriting its (temporary) output."""
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]


def failure(what: str, stderr: bytes, status: int) -> RenderError:
    """The error for a failed run: what failed, and the end of ffmpeg's own reason."""
    reason = stderr.decode(errors="replace").strip().splitlines()[-5:] or [f"exit status {status}"]
    return RenderError(f"{what} failed: " + " | ".join(reason))


def run_ffmpeg(args: Sequence[str], *, what: str, stdin: bytes | None = None) -> None:
    """Run ffmpeg (feeding it ``stdin``); raise RenderError naming ``what`` failed, with ffmpeg's reason."""
    result = subprocess.run(ffmpeg_command(args), input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        raise failure(what, result.stderr, result.returncode)
