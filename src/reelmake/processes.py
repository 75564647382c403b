"""The child processes of a process, read from Linux's /proc (no psutil)."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (started by any of its threads); empty once it is gone."""
    found: list[int] = []
    with contextlib.suppress(OSError):  # the process, or one of its threads, ended meanwhile
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(child) for child in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    """The children of ``pid``, their children, and so on."""
    found = children(pid)
    for child in list(found):
        found += descendants(child)
    return found


def signal_children(sig: signal.Signals) -> None:
    """Send ``sig`` to every child of this process (the ffmpeg encoders its job threads wait on, or the
    `snakemake` a profile render runs)."""
    for child in children(os.getpid()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, sig)
