"""One render of one project, as its own process: `python -m reelmake.service.worker PROJECT`.

The server starts this in a new process group (so cancelling stops Snakemake and every ffmpeg it runs)
and reads one JSON object per line from its stdout: `progress` each time a Snakemake job finishes,
`started`/`scene_failed` for per-scene status, then `resources` (exit status 0) or `failed` (1).
Snakemake is driven exactly as `reelmake render` drives it (reelmake.render.run_workflow).
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from reelmake.errors import UserError
from reelmake.lock import project_lock
from reelmake.plan import Plan, plan_project
from reelmake.render import WorkflowEvents, failed_scenes, run_with_profile, run_workflow

PR_SET_PDEATHSIG = 1


class JsonEvents(WorkflowEvents):
    """Writes the workflow's events as JSON lines for the server."""

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self.out = out

    def failure(self, project: Path) -> str:
        """Which step failed, in words (a full disk's own message), naming no server path."""
        if full := self.full_disk_message(project):
            return without_folder(full, project)
        if self.first_failed is None:
            return "the render failed before any step ran (see the job log)"
        rule, scene = self.first_failed
        return f"step '{rule}'" + (f" of scene {scene[:8]}" if scene else "") + " failed (see the job log)"

    def send(self, message: dict[str, Any]) -> None:
        self.out.write(json.dumps(message) + "\n")
        self.out.flush()

    def job_started(self, rule: str, scene: str | None) -> None:
        self.send({"type": "started", "stage": rule, "scene": scene})

    def job_finished(self, rule: str, scene: str | None, *, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        self.send(
            {
                "type": "progress",
                "done": done,
                "total": total,
                "fraction": fraction,
                "stage": rule,
                "scene": scene,
            }
        )

    def job_failed(self, rule: str, scene: str | None) -> None:
        self.send({"type": "scene_failed", "stage": rule, "scene": scene})

    def resources(self, project: Path) -> dict[str, float]:
        """Wall and CPU seconds summed, and the peak memory, over the benchmark files of the jobs that ran."""
        wall = cpu = peak = 0.0
        for _, _, benchmark in self.jobs.values():
            path = project / benchmark if benchmark else None
            if path is None or not path.is_file():
                continue
            with path.open(newline="") as table:
                for row in csv.DictReader(table, delimiter="\t"):
                    wall += _number(row.get("s"))
                    cpu += _number(row.get("cpu_time"))
                    peak = max(peak, _number(row.get("max_rss")))
        return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "peak_memory_mb": round(peak, 1)}


def without_folder(message: str, project: Path) -> str:
    """A message with the project's paths made relative to it: a job's error names no server path."""
    return message.replace(f"{project}{os.sep}", "")


def _number(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:  # Snakemake writes "NA" where it could not measure
        return 0.0


def _die_with_parent() -> None:
    """A server killed with SIGKILL must not leave this render running (its restart renders again)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _render_with_profile(
    project: Path, profile: Path, events: JsonEvents, config: dict[str, Any], plan: Plan
) -> str | None:
    """Render with `snakemake --profile` (a cluster's jobs cannot report to this process); the failure in
    words (the failed scenes and their SLURM logs, relative to the project), or None."""
    status, report = run_with_profile(project, profile, events, config)
    if status == 0:
        return None
    sys.stderr.write(report)  # the job log keeps Snakemake's own report
    if events.full_disk_message(project):
        return events.failure(project)
    return "; ".join(failed_scenes(report, plan)) or events.failure(project)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reelmake.service.worker")
    parser.add_argument("project", type=Path)
    parser.add_argument("--cores", type=int, default=0)
    parser.add_argument("--preview", action="store_true")
    parser.add_argument("--profile", type=Path, help="run `snakemake --profile` (e.g. profiles/slurm)")
    args = parser.parse_args(argv)
    _die_with_parent()
    # Our stdout carries only the JSON lines; anything else that prints goes to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    events = JsonEvents(out)
    project: Path = args.project.resolve()
    config = {"preview": True} if args.preview else {}
    try:
        # A clear message before Snakemake starts (the script, a disk too full to start on, a shell render
        # of the project), the plan written under the project's lock.
        if args.profile is None:
            with project_lock(project):
                plan_project(project, config, write=True)
                run_workflow(project, events, config, cores=args.cores or None)
        else:
            with project_lock(project):
                plan = plan_project(project, config, write=True)
            if error := _render_with_profile(project, args.profile, events, config, plan):
                events.send({"type": "failed", "error": without_folder(error, project)})
                return 1
    except UserError as error:
        events.send({"type": "failed", "error": without_folder(str(error), project)})
        return 1
    except Exception:  # Snakemake printed the failing job's log to stderr, which the server keeps
        events.send({"type": "failed", "error": events.failure(project)})
        return 1
    events.send({"type": "resources", **events.resources(project)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
