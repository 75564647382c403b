"""`reelmake render`: the same Snakemake build as `snakemake` in the project, with a progress bar.

Runs Snakemake through its Python API and listens to its log events (job info, job finished, progress):
`WorkflowEvents` turns them into calls that the progress bar here and the studio service's worker
(reelmake.service.worker) both implement. Snakemake's own console output is kept to warnings and errors.
With a profile (a cluster, say), it runs the `snakemake` command with that profile instead, as a user
would, and reads its progress from the output: the profile can name any executor and option, which only
Snakemake's own command line turns into API settings.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from reelmake.diskspace import disk_full_line

if TYPE_CHECKING:
    from reelmake.plan import Plan


class WorkflowEvents(logging.Handler):
    """Snakemake's log records as calls: a job started, a job finished (with the new totals), a job failed."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.jobs: dict[
            int, tuple[str, str | None, str | None]
        ] = {}  # jobid -> (rule, scene hash, benchmark)
        self.last_finished: tuple[str, str | None] = ("", None)
        self.disk_full: str | None = None  # a job's full-disk message (reelmake.diskspace), if one failed so

    def emit(self, record: logging.LogRecord) -> None:
        event = str(getattr(record, "event", ""))
        if event == "job_info":
            wildcards = getattr(record, "wildcards", {}) or {}
            rule, scene = str(record.rule_name), wildcards.get("hash")
            self.jobs[int(record.jobid)] = (rule, scene, getattr(record, "benchmark", None) or None)
            self.job_started(rule, scene)
        elif event == "job_finished":
            rule, scene, _ = self.jobs.get(int(record.job_id), ("", None, None))
            self.last_finished = (rule, scene)
        elif event == "progress":  # logged right after each job_finished, with the new counts
            self.job_finished(*self.last_finished, done=int(record.done), total=int(record.total))
        elif event == "error" and self.disk_full is None:
            self.disk_full = disk_full_line(record.getMessage())
        elif event == "job_error":
            rule, scene, _ = self.jobs.get(int(getattr(record, "jobid", -1)), ("", None, None))
            self.job_failed(rule, scene)

    def job_started(self, rule: str, scene: str | None) -> None:
        """A Snakemake job (rule, for a scene's hash or for the whole video) was scheduled."""

    def job_finished(self, rule: str, scene: str | None, *, done: int, total: int) -> None:
        """A job finished; ``done`` of ``total`` jobs are finished."""

    def job_failed(self, rule: str, scene: str | None) -> None:
        """A job failed (Snakemake prints its log)."""


class _ProgressBar(WorkflowEvents):
    """Drives a rich progress bar from the workflow's events."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress
        self.task = progress.add_task("planning", total=None)

    def job_started(self, rule: str, scene: str | None) -> None:
        self.progress.update(self.task, description=f"{rule} {scene[:8]}" if scene else rule)

    def job_finished(self, rule: str, scene: str | None, *, done: int, total: int) -> None:
        self.progress.update(self.task, completed=done, total=total)


def run_workflow(
    project: Path,
    events: WorkflowEvents,
    config: dict[str, Any] | None = None,
    *,
    cores: int | None = None,
    dry_run: bool = False,
    unlock: bool = False,
) -> None:
    """Build the project as `snakemake` would with its profile, reporting to ``events``; raises on failure.

    ``unlock`` first removes the lock a killed Snakemake left behind (only for a caller that knows no other
    Snakemake works in this folder).
    """
    from snakemake.api import SnakemakeApi
    from snakemake.scheduling.greedy import SchedulerSettings as GreedySettings
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        ExecutionSettings,
        OutputSettings,
        ResourceSettings,
        SchedulingSettings,
    )

    with SnakemakeApi(OutputSettings(show_failed_logs=True)) as api:
        snakemake_log = logging.getLogger("snakemake.logging")
        for console_handler in snakemake_log.handlers:
            # The caller's progress display replaces Snakemake's per-job chatter; warnings and errors print.
            if isinstance(console_handler, logging.StreamHandler) and not isinstance(
                console_handler, logging.FileHandler
            ):
                console_handler.setLevel(logging.WARNING)
        snakemake_log.addHandler(events)
        try:
            workflow = api.workflow(
                resource_settings=ResourceSettings(cores=cores or os.cpu_count() or 1),
                config_settings=ConfigSettings(config=config or {}),
                snakefile=project / "Snakefile",
                workdir=project,
            )
            dag = workflow.dag(dag_settings=DAGSettings(force_incomplete=True))
            if unlock:
                dag.unlock()
            # As the project profile: jobs in this process's threads, the greedy scheduler.
            dag.execute_workflow(
                pseudo_executor="dryrun" if dry_run else None,
                execution_settings=ExecutionSettings(use_threads=True),
                scheduling_settings=SchedulingSettings(scheduler="greedy"),
                scheduler_settings=GreedySettings(),
            )
        finally:
            snakemake_log.removeHandler(events)


def _progress(console: Console) -> Progress:
    """The bar both ways of rendering show: the current step, the bar, done/total, elapsed time."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console, transient=False)


def render(
    project: Path, config: dict[str, Any] | None = None, *, cores: int | None = None, dry_run: bool = False
) -> int:
    """Build the project's video (``config`` as `snakemake --config`); returns the exit status, 0 if done."""
    console = Console(stderr=True)
    with _progress(console) as progress:
        bar = _ProgressBar(progress)
        try:
            run_workflow(project, bar, config, cores=cores, dry_run=dry_run)
        except Exception as error:  # Snakemake has already printed the failing job and its log
            progress.update(bar.task, description=f"[red]failed: {type(error).__name__}")
            console.print(f"reelmake: {bar.disk_full or f'the render failed: {error}'}", markup=False)
            return 1
        progress.update(bar.task, description="done")
    return 0


_STEPS = re.compile(r"^(\d+) of (\d+) steps")
_SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+)")
_HASH = re.compile(r"\b[0-9a-f]{16}\b")
_SLURM_LOG = re.compile(r"log: (\S*slurm_logs\S*\.log)")


def _failed_scenes(report: str, plan: Plan) -> list[str]:
    """One line per scene named in Snakemake's error report, with the SLURM log of its failed job.

    In the report, a cluster job's block gives its SLURM log first, then its rules and their scene hashes.
    """
    slurm_log_of: dict[str, str | None] = {}
    slurm_log = None
    for line in report.splitlines():
        if found := _SLURM_LOG.search(line):
            slurm_log = found[1]
        for scene_hash in _HASH.findall(line):
            slurm_log_of[scene_hash] = slurm_log or slurm_log_of.get(scene_hash)
    lines = []
    for scene in plan.scenes:
        if scene.hash in slurm_log_of:
            log = slurm_log_of[scene.hash]
            where = f"; SLURM log: {log}" if log else ""
            lines.append(f"scene {scene.index} {scene.title!r} failed ({scene.hash}){where}")
    if not lines and slurm_log:  # the composition, or a job with no scene
        lines.append(f"SLURM log: {slurm_log}")
    return lines


def render_with_profile(
    project: Path, profile: Path, config: dict[str, Any] | None = None, *, dry_run: bool = False
) -> int:
    """Build with ``snakemake --profile`` in the project; returns its exit status, 0 if done.

    When it fails, Snakemake's error report is printed, followed by the scenes that failed (found by
    their hashes in it), so a cluster failure names the scene as well as the job's SLURM log.
    """
    from reelmake.plan import plan_project

    command = [sys.executable, "-m", "snakemake", "--profile", str(profile)]
    command += [f"--config={key}={str(value).lower()}" for key, value in (config or {}).items()]
    command += ["--dry-run"] if dry_run else []
    console = Console(stderr=True)
    errors: list[str] = []
    tail: deque[str] = deque(maxlen=40)  # the end of the output, if it failed before any job did
    with _progress(console) as progress:
        task = progress.add_task("planning", total=None)
        process = subprocess.Popen(
            command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line)
            if errors or "Error in " in line or line.startswith("Error executing "):
                errors.append(line)
            elif steps := _STEPS.match(line):
                progress.update(task, completed=int(steps[1]), total=int(steps[2]))
            elif job := _SUBMITTED.search(line):
                progress.update(task, description=f"submitted SLURM job {job[1]}")
        status = process.wait()
        progress.update(task, description="done" if status == 0 else "[red]failed")
    if status != 0:
        report = "".join(errors or tail)
        console.print(report, markup=False, highlight=False, soft_wrap=True)
        for line in _failed_scenes(report, plan_project(project, config)):
            console.print(f"reelmake: {line}", markup=False, soft_wrap=True)
        console.print(f"reelmake: the render failed (snakemake --profile {profile} exited with {status})")
    return status
