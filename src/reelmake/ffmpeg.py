"""Running the ffmpeg binary that ships in the imageio-ffmpeg wheel (no system ffmpeg needed)."""

from __future__ import annotations

import functools
import subprocess
import tempfile
from collections.abc import Iterable, Sequence


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


def stream_to_ffmpeg(args: Sequence[str], chunks: Iterable[bytes], *, what: str) -> None:
    """Run ffmpeg reading ``pipe:0`` from ``chunks`` as they are made (never all of them in memory).

    If making a chunk raises, ffmpeg is still waited for (its output is then incomplete: callers write to
    a temporary name) and the exception propagates.
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
