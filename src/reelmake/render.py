"""`reelmake render`: the same Snakemake build as `snakemake` in the project, with a progress bar.

Runs Snakemake through its Python API and listens to its log events (job info, job finished, progress):
`WorkflowEvents` turns them into calls that the progress bar here and the studio service's worker
(reelmake.service.worker) both implement. Snakemake's own console output is kept to warnings and errors.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class WorkflowEvents(logging.Handler):
    """Snakemake's log records as calls: a job started, a job finished (with the new totals), a job failed."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.jobs: dict[
            int, tuple[str, str | None, str | None]
        ] = {}  # jobid -> (rule, scene hash, benchmark)
        self.last_finished: tuple[str, str | None] = ("", None)

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


def render(
    project: Path, config: dict[str, Any] | None = None, *, cores: int | None = None, dry_run: bool = False
) -> int:
    """Build the project's video (``config`` as `snakemake --config`); returns the exit status, 0 if done."""
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        bar = _ProgressBar(progress)
        try:
            run_workflow(project, bar, config, cores=cores, dry_run=dry_run)
        except Exception as error:  # Snakemake has already printed the failing job and its log
            progress.update(bar.task, description=f"[red]failed: {type(error).__name__}")
            console.print(f"reelmake: the render failed: {error}")
            return 1
        progress.update(bar.task, description="done")
    return 0
