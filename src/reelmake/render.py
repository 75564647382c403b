"""`reelmake render`: the same Snakemake build as `snakemake` in the project, with a progress bar.

Runs Snakemake through its Python API and listens to its log events (progress, job info) to drive a
rich progress bar; Snakemake's own console output is kept to warnings and errors.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class _ProgressHandler(logging.Handler):
    """Turns Snakemake's PROGRESS and JOB_INFO log events into progress-bar updates."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(level=logging.INFO)
        self.progress = progress
        self.task = progress.add_task("planning", total=None)

    def emit(self, record: logging.LogRecord) -> None:
        event = str(getattr(record, "event", ""))
        if event == "progress":
            self.progress.update(self.task, completed=record.done, total=record.total)
        elif event == "job_info":
            wildcards = getattr(record, "wildcards", {}) or {}
            scene = f" {wildcards['hash'][:8]}" if "hash" in wildcards else ""
            self.progress.update(self.task, description=f"{record.rule_name}{scene}")


def render(
    project: Path, config: dict[str, Any] | None = None, *, cores: int | None = None, dry_run: bool = False
) -> int:
    """Build the project's video (``config`` as `snakemake --config`); returns the exit status, 0 if done."""
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

    console = Console(stderr=True)
    settings = OutputSettings(show_failed_logs=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress, SnakemakeApi(settings) as api:
        handler = _ProgressHandler(progress)
        snakemake_log = logging.getLogger("snakemake.logging")
        for console_handler in snakemake_log.handlers:
            # The bar replaces Snakemake's per-job chatter; its warnings and errors still print.
            if isinstance(console_handler, logging.StreamHandler) and not isinstance(
                console_handler, logging.FileHandler
            ):
                console_handler.setLevel(logging.WARNING)
        snakemake_log.addHandler(handler)
        try:
            workflow = api.workflow(
                resource_settings=ResourceSettings(cores=cores or os.cpu_count() or 1),
                config_settings=ConfigSettings(config=config or {}),
                snakefile=project / "Snakefile",
                workdir=project,
            )
            dag = workflow.dag(dag_settings=DAGSettings(force_incomplete=True))
            # As the project profile: jobs in this process's threads, the greedy scheduler.
            dag.execute_workflow(
                pseudo_executor="dryrun" if dry_run else None,
                execution_settings=ExecutionSettings(use_threads=True),
                scheduling_settings=SchedulingSettings(scheduler="greedy"),
                scheduler_settings=GreedySettings(),
            )
        except Exception as error:  # Snakemake has already printed the failing job and its log
            progress.update(handler.task, description=f"[red]failed: {type(error).__name__}")
            console.print(f"reelmake: the render failed: {error}")
            return 1
        finally:
            snakemake_log.removeHandler(handler)
        progress.update(handler.task, description="done")
    return 0
