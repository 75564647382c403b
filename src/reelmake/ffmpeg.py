"""Running the ffmpeg binary that ships in the imageio-ffmpeg wheel (no system ffmpeg needed)."""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

# Every run is given time in proportion to its work, so a stuck one (an input that never ends, a damaged
# file the decoder loops on) is stopped with a clear message instead of holding the render for ever.
# The figures are generous on purpose: x264 veryfast makes 1080p (2 Mpx) at well over 10 fps on a
# loaded laptop core; the limit allows 1 s per megapixel-frame, plus START_S for start-up and probing.
START_S = 30.0
SECONDS_PER_MEGAPIXEL_FRAME = 1.0
SECONDS_PER_SECOND_OF_SOUND = 0.5  # AAC encodes at hundreds of times real time


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


def local_file(path: Path | str) -> str:
    """A file for ffmpeg or PyAV to open as exactly that file, whatever its name.

    A name is otherwise read as an option ('-i.mp4'), as standard input ('-') or as a protocol
    ('pipe:0', 'concat:a|b', 'http:x'); an absolute path behind 'file:' is never any of these.
    """
    return "file:" + os.path.abspath(path)


def video_time_limit(frames: int, megapixels: float) -> float:
    """Seconds allowed for a run that makes ``frames`` frames, each costing ``megapixels`` of work."""
    return START_S + frames * megapixels * SECONDS_PER_MEGAPIXEL_FRAME


def sound_time_limit(seconds: float) -> float:
    """Seconds allowed for a run that encodes ``seconds`` of sound."""
    return START_S + seconds * SECONDS_PER_SECOND_OF_SOUND


def failure(what: str, stderr: bytes, status: int) -> RenderError:
    """The error for a failed run: what failed, and the end of ffmpeg's own reason."""
    reason = stderr.decode(errors="replace").strip().splitlines()[-5:] or [f"exit status {status}"]
    return RenderError(f"{what} failed: " + " | ".join(reason))


def overtime(what: str, limit_s: float) -> RenderError:
    """The error for a run stopped at its time limit."""
    return RenderError(
        f"ffmpeg took longer than {limit_s:.0f} s {what} and was stopped; the input may be damaged "
        "(re-export it), or the machine is far too busy"
    )


def run_ffmpeg(args: Sequence[str], *, what: str, time_limit_s: float, stdin: bytes | None = None) -> None:
    """Run ffmpeg (feeding it ``stdin``); raise RenderError naming ``what`` failed, with ffmpeg's reason,
    or that it ran past ``time_limit_s`` (it is then killed)."""
    try:
        result = subprocess.run(
            ffmpeg_command(args), input=stdin, capture_output=True, check=False, timeout=time_limit_s
        )
    except subprocess.TimeoutExpired:
        raise overtime(what, time_limit_s) from None
    if result.returncode != 0:
        raise failure(what, result.stderr, result.returncode)


def feed_ffmpeg(args: Sequence[str], chunks: Iterable[bytes], *, what: str, time_limit_s: float) -> None:
    """Run ffmpeg, writing ``chunks`` to its stdin as they are produced (no input is held whole).

    An exception from ``chunks`` ends ffmpeg's input and propagates; its output is then incomplete, which
    is why every caller writes to a temporary name. Past ``time_limit_s`` ffmpeg is killed, which also
    ends the feeding (the next write finds the pipe closed).
    """
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(ffmpeg_command(args), stdin=subprocess.PIPE, stderr=errors)
        assert process.stdin is not None
        expired = threading.Event()

        def stop() -> None:
            expired.set()
            process.kill()

        watchdog = threading.Timer(time_limit_s, stop)
        watchdog.daemon = True
        watchdog.start()
        try:
            for chunk in chunks:
                process.stdin.write(chunk)
        except BrokenPipeError:
            pass  # ffmpeg stopped early: its own message (or the time limit's) follows
        finally:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
            status = process.wait()
            watchdog.cancel()
        if status != 0 and expired.is_set():  # killed by the watchdog, not finished just as it fired
            raise overtime(what, time_limit_s)
        if status != 0:
            errors.seek(0)
            raise failure(what, errors.read(), status)
