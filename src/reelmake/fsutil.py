"""Files appear complete or not at all: write to a temporary name beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path


def scratch_path(path: str | os.PathLike[str], label: str = "") -> Path:
    """A hidden scratch file beside ``path``, for this thread, with its suffix (which ffmpeg reads).

    Jobs run as threads of one process: two may write the same file (e.g. one cached narration). Every
    such name matches ``.*.tmp-*``, so what a killed render left half-written is found and removed by the
    next render (remove_partial_files).
    """
    target = Path(path)
    middle = f".{label}" if label else ""
    return target.with_name(
        f".{target.stem}{middle}.tmp-{os.getpid()}-{threading.get_ident()}{target.suffix}"
    )


def remove_partial_files(folder: Path) -> None:
    """Remove every scratch file under ``folder``: only for a caller that knows no render is writing there
    (it holds the project's lock, or it has just stopped the render). A file an orphaned ffmpeg of a
    killed render still writes is unlinked all the same; the process writes on into nothing."""
    for partial in folder.rglob(".*.tmp-*"):
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = scratch_path(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def link_all(pairs: Sequence[tuple[str | os.PathLike[str], str | os.PathLike[str]]]) -> None:
    """Give each target the content of its source, all or none: a hard link where the filesystem allows
    (a video is not stored twice), else a copy, each made under a temporary name first, so a failure (a
    full disk) leaves every target as it was; then they are renamed into place in the given order
    (renames need no space)."""
    with contextlib.ExitStack() as stack:
        # Exits run last-in first-out: entered in reverse, the renames happen in the given order.
        temps = [(source, stack.enter_context(atomic_output(target))) for source, target in reversed(pairs)]
        for source, tmp in temps:
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)


def write_if_changed(path: str | os.PathLike[str], content: bytes) -> bool:
    """Write ``content`` atomically unless the file already holds exactly it (keeps its mtime)."""
    target = Path(path)
    with contextlib.suppress(OSError):
        if target.read_bytes() == content:
            return False
    with atomic_output(target) as tmp:
        tmp.write_bytes(content)
    return True
