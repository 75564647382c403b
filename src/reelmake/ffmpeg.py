"""Running the ffmpeg binary that ships in the imageio-ffmpeg wheel (no system ffmpeg needed)."""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path


class RenderError(Exception):
    """ffmpeg failed; the message carries the end of its error output."""


@functools.cache
def ffmpeg_exe() -> str:
    """The ffmpeg binary in the imageio-ffmpeg wheel, found by its path (or IMAGEIO_FFMPEG_EXE's, as in
    imageio).

    Not imageio_ffmpeg.get_ffmpeg_exe() alone: it checks the bundled binary by running `ffmpeg -version`
    and, if that one run fails (killed, or no memory to start it), silently takes the system's ffmpeg, a
    different version with different output, or raises. The fault suite killed that check mid-render and
    got a video made by /usr/bin/ffmpeg. An install without the bundled binary (conda) still uses imageio's
    search.
    """
    import imageio_ffmpeg

    if not os.environ.get("IMAGEIO_FFMPEG_EXE"):
        binaries = Path(str(resources.files("imageio_ffmpeg.binaries")))
        bundled = sorted(p for p in binaries.glob("ffmpeg*") if p.is_file() and os.access(p, os.X_OK))
        if bundled:
            return str(bundled[0])
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


def feed_ffmpeg(args: Sequence[str], chunks: Iterable[bytes], *, what: str) -> None:
    """Run ffmpeg, writing ``chunks`` to its stdin as they are produced (no input is held whole).

    An exception from ``chunks`` ends ffmpeg's input and propagates; its output is then incomplete, which
    is why every caller writes to a temporary name.
    """
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(ffmpeg_command(args), stdin=subprocess.PIPE, stderr=errors)
        assert process.stdin is not None
        try:
            for chunk in chunks:
                process.stdin.write(chunk)
        except BrokenPipeError:
            pass  # ffmpeg stopped early: its own message follows
        finally:
            process.stdin.close()
            status = process.wait()
        if status != 0:
            errors.seek(0)
            raise failure(what, errors.read(), status)
