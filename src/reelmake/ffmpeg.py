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


def run_ffmpeg(args: Sequence[str], *, what: str) -> None:
    """Run ffmpeg quietly; raise RenderError naming ``what`` failed, with ffmpeg's own reason."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, errors="replace", check=False)
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-5:] or [f"exit status {result.returncode}"]
        raise RenderError(f"{what} failed: " + " | ".join(reason))
