"""One render per project at a time, with a lock that the kernel releases when its holder dies.

Why not Snakemake's own lock (measured, Snakemake 9.27): its lock files in .snakemake/locks/ outlive a
render killed with SIGKILL (or a power loss), and from then on every run of the project stops with
"Directory cannot be locked ... can be removed with the --unlock argument", for ever, until someone runs
`snakemake --unlock`. A flock(2) on .snakemake/reelmake.lock belongs to the open file, which the kernel
closes when the process ends however it ends, so a killed render leaves nothing to unlock, and a second
render started while one runs is told so in one line. The project profile turns Snakemake's lock off
(``nolock: true``) and `reelmake render` does the same, since this lock replaces it.

Taken by the Snakefile at parse time in the main Snakemake process (before the plan rewrites any spec or
composition file, which a running render is reading) and held for the life of that process; `reelmake
render` and the studio's worker take it before Snakemake starts and release it when their run ends. The
file descriptor is not inherited (Python opens files close-on-exec), so an ffmpeg orphaned by a killed
render does not keep the project locked. On NFS, Linux implements flock with NFS byte-range locks, so a
cluster render's main process holds it there too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from reelmake.diskspace import MIN_FREE_BYTES, full_disk_error, is_disk_full
from reelmake.errors import UserError

LOCK_FILE = Path(".snakemake") / "reelmake.lock"

_held: dict[Path, int] = {}  # project folder -> the open, locked file (one per process and project)


class ProjectBusy(UserError):
    """Another process is rendering this project."""


def acquire(project: Path) -> None:
    """Lock the project for this process (again: a no-op); ProjectBusy if another process holds it."""
    project = project.resolve()
    if project in _held:
        return
    path = project / LOCK_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:  # a disk with no room for the lock file's folder or entry
        if not is_disk_full(error):
            raise
        raise full_disk_error(project, MIN_FREE_BYTES, "starting this render") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip()
        os.close(fd)
        pid = f" (pid {holder})" if holder.isdigit() else ""
        raise ProjectBusy(
            f"this project is being rendered{pid}; wait for it or stop it, then render again."
        ) from None
    os.ftruncate(fd, 0)
    _held[project] = fd
    with contextlib.suppress(OSError):  # the pid only helps a message; a full disk may refuse it
        os.write(fd, f"{os.getpid()}\n".encode())


def release(project: Path) -> None:
    """Unlock the project, if this process holds it."""
    fd = _held.pop(project.resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the file drops the flock


@contextlib.contextmanager
def project_lock(project: Path) -> Iterator[None]:
    """Hold the project's lock for the block (ProjectBusy if another process holds it); a lock this
    process already held stays held."""
    held = project.resolve() in _held
    acquire(project)
    try:
        yield
    finally:
        if not held:
            release(project)


def ensure_free(project: Path) -> None:
    """ProjectBusy if another process is rendering the project; checks without keeping the lock (for a
    caller that starts a `snakemake` process, which then takes it)."""
    with project_lock(project):
        pass
