"""`reelmake watch`: render, then render again each time a file of the project changes, in one process.

Why one process: a `snakemake` run spends about 2.5 s before its first job on this kind of machine
(importing Snakemake and its plugin registries, the workflow's imports, building the DAG) and a render
that speaks a narration loads the voice (about 1.5 s more). A one-scene edit is otherwise a fraction of
that. Here they are paid once: each later render re-plans the script (~0.2 s), runs only the jobs the
change needs and the join. It is the same workflow as `reelmake render` (reelmake.render.run_workflow):
the same outputs, and the project's lock is held only while a render runs, so `snakemake` or
`reelmake render` work as usual between saves.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from reelmake.errors import UserError
from reelmake.lock import ProjectBusy, ensure_free
from reelmake.plan import BUILD, plan_project
from reelmake.render import INTERRUPTED, render

POLL_S = 0.05  # how often the project's files are looked at
# What renders write, and hidden files (editors' swap and backup files, .snakemake): never inputs.
NOT_WATCHED = {str(BUILD), "logs"}

BUSY = 75  # render_once's status when another process renders the project (EX_TEMPFAIL)
# A file's modification time (ns) and size, by its path in the project.
Snapshot = dict[str, tuple[int, int]]


def snapshot(project: Path) -> Snapshot:
    """Every watched file of the project, with its modification time and size."""
    files: Snapshot = {}
    for folder, dirs, names in os.walk(project):
        top = folder == str(project)
        dirs[:] = [d for d in dirs if not d.startswith(".") and not (top and d in NOT_WATCHED)]
        for name in names:
            if name.startswith("."):
                continue
            path = os.path.join(folder, name)
            try:
                stat = os.stat(path)
            except OSError:  # removed while looked at: the next snapshot says so
                continue
            files[os.path.relpath(path, project)] = (stat.st_mtime_ns, stat.st_size)
    return files


def changed_files(before: Snapshot, after: Snapshot) -> list[str]:
    """The paths added, removed or modified between two snapshots, sorted."""
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


def wait_for_change(
    project: Path,
    seen: Snapshot,
    sleep: Callable[[float], None] = time.sleep,
    until: Callable[[], bool] = lambda: False,
) -> Snapshot:
    """Block until the project's files differ from ``seen`` and then hold still for one poll (a file still
    being copied in would otherwise be rendered half-written), or until ``until()``; returns the settled
    snapshot (``seen`` if ``until`` ended the wait first)."""
    current = seen
    while current == seen:
        if until():
            return seen
        sleep(POLL_S)
        current = snapshot(project)
    while True:
        sleep(POLL_S)
        settled = snapshot(project)
        if settled == current:
            return settled
        current = settled


def _lock_free(project: Path) -> bool:
    try:
        ensure_free(project)
    except ProjectBusy:
        return False
    return True


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _why(changed: list[str]) -> str:
    shown = ", ".join(changed[:3])
    return f"{shown} and {len(changed) - 3} more changed" if len(changed) > 3 else f"{shown} changed"


def render_once(project: Path, config: dict[str, Any], cores: int | None, out: TextIO, why: str) -> int:
    """One render, reported in one line on ``out``: rendered (and how long it took), up to date, or
    failed (its message is printed above the line). Returns the render's exit status."""
    from reelmake.jobs import preload_voices

    started = time.perf_counter()
    stamp = datetime.now().strftime("%H:%M:%S")
    try:
        plan = plan_project(project, config)
        video = project / plan.output_dir / "final.mp4"
        before = _mtime(video)
        status = render(project, config, cores=cores, transient=True)
        preload_voices(plan, due_only=False)  # loaded while the user edits, not in the next render
    except ProjectBusy as error:  # rendered by another process: this one renders when it has finished
        print(f"reelmake: {error}", file=sys.stderr)
        status, before, video = BUSY, None, None
    except UserError as error:  # a mistake in the script or an asset: say it, and wait for the fix
        print(f"reelmake: error: {error}", file=sys.stderr)
        status, before, video = 1, None, None
    except SystemExit as stop:  # the Snakefile's own one-line stop (the script changed since it was checked)
        print(stop.code, file=sys.stderr)
        status, before, video = 1, None, None
    seconds = time.perf_counter() - started
    if status == 0 and video is not None and _mtime(video) != before:
        outcome = f"{video.relative_to(project)} rendered in {seconds:.2f} s"
    elif status == 0:
        outcome = f"up to date ({seconds:.2f} s)"
    elif status == BUSY:
        outcome = "not rendered: another process is rendering the project; rendering again when it ends"
    else:
        outcome = "not rendered (see above)"
    if status != INTERRUPTED:
        print(f"[{stamp}] {outcome} ({why}); watching for changes", file=out, flush=True)
    return status


def watch(
    project: Path, config: dict[str, Any], *, cores: int | None = None, out: TextIO = sys.stdout
) -> int:
    """Render now and after every change until Ctrl-C; returns 130 (stopped by Ctrl-C, as shells report)."""
    print(f"watching {project} (Ctrl-C to stop)", file=out, flush=True)
    seen = snapshot(project)
    why = "first render"
    try:
        while True:
            status = render_once(project, config, cores, out, why)
            if status == INTERRUPTED:
                return status
            # A change saved during the render renders again at once; otherwise wait for one (or, while
            # another process renders the project, for that render to end).
            current = snapshot(project)
            if current == seen:
                until = (lambda: _lock_free(project)) if status == BUSY else (lambda: False)
                current = wait_for_change(project, seen, until=until)
            changed = changed_files(seen, current)
            why = _why(changed) if changed else "the other render has ended"
            seen = current
    except KeyboardInterrupt:
        print("reelmake: stopped watching", file=sys.stderr)
        return INTERRUPTED


class WatchProcess:
    """`reelmake watch` as a child process whose render lines are read as they come: how the benchmark
    and the tests drive it, as a user's terminal would."""

    def __init__(self, project: Path, stderr: Path, *, cores: int = 2) -> None:
        command = [sys.executable, "-m", "reelmake.cli", "watch", "--cores", str(cores), str(project)]
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        self.stderr = stderr
        with stderr.open("w") as errors:
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env
            )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))

    def next_render(self, timeout: float = 300) -> str:
        """The next line that reports a render: rendered, up to date, or not rendered (queue.Empty if none
        comes within ``timeout`` seconds)."""
        while True:
            line = self._lines.get(timeout=timeout)
            if line.startswith("["):
                return line

    def stop(self) -> None:
        """End it (SIGTERM) and wait."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
