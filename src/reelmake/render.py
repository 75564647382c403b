"""`reelmake render`: the same Snakemake build as `snakemake` in the project, with a progress bar.

Runs Snakemake through its Python API and listens to its log events (job info, job finished, progress):
`WorkflowEvents` turns them into calls that the progress bar here and the studio service's worker
(reelmake.service.worker) both implement. Snakemake's own console output is kept to warnings and errors.
With a profile (a cluster, say), it runs the `snakemake` command with that profile instead, as a user
would, and reads its progress from the output: the profile can name any executor and option, which only
Snakemake's own command line turns into API settings.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from reelmake.diskspace import MIN_FREE_BYTES, disk_full_line, full_disk_error, mentions_no_space
from reelmake.errors import UserError
from reelmake.plan import BUILD, scene_named
from reelmake.processes import signal_children

if TYPE_CHECKING:
    from reelmake.plan import Plan


INTERRUPTED = 128 + signal.SIGINT  # the exit status of a render stopped by Ctrl-C, as shells report it
# As the project profile's max-checksum-file-size (see its comment): Snakemake hashes every input of a
# finished job once per output, 1,300 hashes of the scenes' segments and sound after each join.
CHECKSUM_MAX_BYTES = 64_000


class WorkflowEvents(logging.Handler):
    """Snakemake's log records as calls: a job started, a job finished (with the new totals), a job failed."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.jobs: dict[
            int, tuple[str, str | None, str | None]
        ] = {}  # jobid -> (rule, scene hash, benchmark)
        self.last_finished: tuple[str, str | None] = ("", None)
        self.disk_full: str | None = None  # a job's full-disk message (reelmake.diskspace), if one failed so
        self.first_failed: tuple[str, str | None] | None = None  # (rule, scene hash) of the first failed job
        self.no_space = False  # Snakemake's own writes (its metadata, logs, benchmarks) found the disk full

    def emit(self, record: logging.LogRecord) -> None:
        event = str(getattr(record, "event", ""))
        if event == "job_info":
            wildcards = getattr(record, "wildcards", {}) or {}
            benchmark = getattr(record, "benchmark", None) or None
            self.job_info(int(record.jobid), str(record.rule_name), wildcards.get("hash"), benchmark)
        elif event == "job_finished":
            rule, scene, _ = self.jobs.get(int(record.job_id), ("", None, None))
            self.last_finished = (rule, scene)
        elif event == "progress":  # logged right after each job_finished, with the new counts
            self.job_finished(*self.last_finished, done=int(record.done), total=int(record.total))
        elif event == "error":
            self.error_reported(record.getMessage())
        elif event == "job_error":
            rule, scene, _ = self.jobs.get(int(getattr(record, "jobid", -1)), ("", None, None))
            self.failed_job(rule, scene)

    def error_reported(self, text: str) -> None:
        """Snakemake reported an error (a log record, or its console output line by line): keep the first
        full-disk message in it, and note whether it says the disk was full at all."""
        if self.disk_full is None:
            self.disk_full = disk_full_line(text)
            self.no_space = self.no_space or mentions_no_space(text)

    def failed_job(self, rule: str, scene: str | None) -> None:
        self.first_failed = self.first_failed or (rule, scene)
        self.job_failed(rule, scene)

    def full_disk_message(self, project: Path) -> str | None:
        """The full-disk message of a failed render: a job's own, or, where Snakemake itself could not
        write on the full disk, one naming the step it was finishing."""
        if self.disk_full or not self.no_space:
            return self.disk_full
        rule, scene = self.first_failed or ("", None)
        what = scene_named(project, scene) if scene else (f"the step {rule}" if rule else "the render")
        return str(full_disk_error(project / BUILD, MIN_FREE_BYTES, what))

    def job_started(self, rule: str, scene: str | None) -> None:
        """A Snakemake job (rule, for a scene's hash or for the whole video) was scheduled."""

    def job_finished(self, rule: str, scene: str | None, *, done: int, total: int) -> None:
        """A job finished; ``done`` of ``total`` jobs are finished."""

    def job_failed(self, rule: str, scene: str | None) -> None:
        """A job failed (Snakemake prints its log)."""

    def job_submitted(self, cluster_job: str) -> None:
        """A job (or group of jobs) was submitted to a cluster under this job id."""

    def job_info(self, jobid: int, rule: str, scene: str | None, benchmark: str | None) -> None:
        """A job was scheduled: remember it, then report that it started."""
        self.jobs[jobid] = (rule, scene, benchmark)
        self.job_started(rule, scene)


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

    def job_submitted(self, cluster_job: str) -> None:
        self.progress.update(self.task, description=f"submitted SLURM job {cluster_job}")


def run_workflow(
    project: Path,
    events: WorkflowEvents,
    config: dict[str, Any] | None = None,
    *,
    cores: int | None = None,
    dry_run: bool = False,
) -> None:
    """Build the project as `snakemake` would with its profile, reporting to ``events``; raises on failure.

    A render holds the project's lock (reelmake.lock) while it runs: lock.ProjectBusy, a UserError, if
    another render holds it. Snakemake's own lock is off, as in the profile (a killed run would leave it).
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

    from reelmake.lock import project_lock

    locked = contextlib.nullcontext() if dry_run else project_lock(project)
    with locked, _sigterm_kept(), SnakemakeApi(OutputSettings(show_failed_logs=True, dryrun=dry_run)) as api:
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
            dag = workflow.dag(
                dag_settings=DAGSettings(force_incomplete=True, max_checksum_file_size=CHECKSUM_MAX_BYTES)
            )
            # As the project profile: jobs in this process's threads, the greedy scheduler, no Snakemake lock.
            dag.execute_workflow(
                pseudo_executor="dryrun" if dry_run else None,
                execution_settings=ExecutionSettings(use_threads=True, lock=False),
                scheduling_settings=SchedulingSettings(scheduler="greedy"),
                scheduler_settings=GreedySettings(),
            )
        finally:
            snakemake_log.removeHandler(events)


@contextlib.contextmanager
def _sigterm_kept() -> Iterator[None]:
    """Snakemake's scheduler sets its own SIGTERM handler (finish the running jobs, then stop) and leaves
    it set after the run: a process that goes on (`reelmake watch`) would then ignore SIGTERM for good."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread sets handlers (Snakemake then leaves SIGTERM alone too)
        return
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _progress(console: Console, *, transient: bool = False) -> Progress:
    """The bar both ways of rendering show: the current step, the bar, done/total, elapsed time
    (``transient``: cleared when the render ends, as `reelmake watch` reports each render in a line)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console, transient=transient)


@contextlib.contextmanager
def _stop_on_interrupt(*, here: bool) -> Iterator[threading.Event]:
    """Ctrl-C stops the render at once: the event is set and this process's children get the SIGINT too
    (a `kill -INT` reaches only this process, where a terminal's Ctrl-C reaches them all), so ffmpeg
    encoders, or the `snakemake` of a profile render, stop. With ``here``, KeyboardInterrupt also stops the
    Snakemake scheduler running in this process. A second Ctrl-C is only passed on again, so the clean stop
    is not cut short by a traceback.
    """
    interrupted = threading.Event()

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        signal_children(signal.SIGINT)
        if here and not interrupted.is_set():
            interrupted.set()
            raise KeyboardInterrupt
        interrupted.set()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def _stopped(console: Console, progress: Progress, task: TaskID) -> int:
    """The one line a render stopped by Ctrl-C ends with, and its exit status (130, as shells report)."""
    progress.update(task, description="[yellow]stopped")
    console.print("reelmake: stopped (Ctrl-C); finished scenes are kept: render again to go on")
    return INTERRUPTED


def render(
    project: Path,
    config: dict[str, Any] | None = None,
    *,
    cores: int | None = None,
    dry_run: bool = False,
    transient: bool = False,
) -> int:
    """Build the project's video (``config`` as `snakemake --config`); returns the exit status, 0 if done.

    Ctrl-C stops it within seconds with one line and status 130; the scenes already rendered are kept.
    """
    console = Console(stderr=True)
    with _progress(console, transient=transient) as progress, _stop_on_interrupt(here=True) as interrupted:
        bar = _ProgressBar(progress)
        try:
            run_workflow(project, bar, config, cores=cores, dry_run=dry_run)
        except UserError:
            raise  # its own clear message (another render holds the project, say)
        except (Exception, KeyboardInterrupt) as error:
            if interrupted.is_set():  # Snakemake turns the interrupt into "a job did not complete"
                return _stopped(console, progress, bar.task)
            # Snakemake has already printed the failing job and its log
            progress.update(bar.task, description=f"[red]failed: {type(error).__name__}")
            full = bar.full_disk_message(project)
            console.print(f"reelmake: {full or f'the render failed: {error}'}", markup=False)
            return 1
        progress.update(bar.task, description="done")
    return 0


_STEPS = re.compile(r"^(\d+) of (\d+) steps")
_SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+)")
_HASH = re.compile(r"\b[0-9a-f]{16}\b")
_SLURM_LOG = re.compile(r"log: (\S*slurm_logs\S*\.log)")
_JOB_HEADER = re.compile(r"^\s*(?:local)?rule (\w+):$")
_JOB_FIELD = re.compile(r"^\s+(\w+): (.*)$")
_FINISHED = re.compile(r"^Finished jobid: (\d+)")
_ERROR = re.compile(r"^\s*Error in (?:rule (\w+)|group \w+):$")


class OutputReader:
    """Reads `snakemake`'s console output line by line and calls ``events`` as its log records would.

    A job is printed as a `rule NAME:` line, then indented fields (its jobid, wildcards, benchmark); a
    finished job as `Finished jobid: N`, followed by the `N of M steps` count; a failed one as
    `Error in rule NAME:` with its jobid among the fields.
    """

    def __init__(self, events: WorkflowEvents) -> None:
        self.events = events
        self.block: dict[str, str] = {}
        self.failing = False
        self.report: list[str] = []  # Snakemake's error report, from the first error on
        self.tail: deque[str] = deque(maxlen=40)  # the end of the output, if it failed before any job did

    def feed(self, line: str) -> None:
        self.tail.append(line)
        self.events.error_reported(line)
        if self.report or "Error in " in line or line.startswith("Error executing "):
            self.report.append(line)
        if field := _JOB_FIELD.match(line.rstrip("\n")):
            if field[1] == "message" and field[2].startswith("Error in group"):
                self.failing = True  # a cluster job of grouped rules: the rules it lists next failed with it
            self.block[field[1]] = field[2].strip()
            return
        self._end_block()
        if header := _JOB_HEADER.match(line.rstrip("\n")):
            # An indented header is one job of a failed group job's report: it failed with the group.
            self.block, self.failing = {"rule": header[1]}, self.failing and line[:1].isspace()
        elif error := _ERROR.match(line):
            self.block, self.failing = ({"rule": error[1]} if error[1] else {}), True
        elif finished := _FINISHED.match(line):
            rule, scene, _ = self.events.jobs.get(int(finished[1]), ("", None, None))
            self.events.last_finished = (rule, scene)
        elif steps := _STEPS.match(line):
            self.events.job_finished(*self.events.last_finished, done=int(steps[1]), total=int(steps[2]))
        elif job := _SUBMITTED.search(line):
            self.events.job_submitted(job[1])

    def _end_block(self) -> None:
        """A job's fields are complete: report the job it describes."""
        block, self.block = self.block, {}
        if "rule" not in block or not block.get("jobid", "").isdigit():
            return
        jobid, rule = int(block["jobid"]), block["rule"]
        if self.failing:
            rule, scene, _ = self.events.jobs.get(jobid, (rule, None, None))
            self.events.failed_job(rule, scene)
            return
        scene = found[1] if (found := re.search(r"hash=([0-9a-f]{16})", block.get("wildcards", ""))) else None
        self.events.job_info(jobid, rule, scene, block.get("benchmark"))

    def error_report(self) -> str:
        self._end_block()
        return "".join(self.report or self.tail)


def run_with_profile(
    project: Path,
    profile: Path,
    events: WorkflowEvents,
    config: dict[str, Any] | None = None,
    *,
    dry_run: bool = False,
) -> tuple[int, str]:
    """Run ``snakemake --profile`` in the project, reporting to ``events`` from its output.

    Returns its exit status and, if it failed, Snakemake's error report.
    """
    command = [sys.executable, "-m", "snakemake", "--profile", str(profile)]
    command += [f"--config={key}={str(value).lower()}" for key, value in (config or {}).items()]
    command += ["--dry-run"] if dry_run else []
    reader = OutputReader(events)
    process = subprocess.Popen(
        command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        start_new_session=True,  # a Ctrl-C reaches it once, passed on by the caller (_stop_on_interrupt)
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        reader.feed(line)
    status = process.wait()
    return status, (reader.error_report() if status else "")


def failed_scenes(report: str, plan: Plan) -> list[str]:
    """One line per scene named in Snakemake's error report, with the SLURM log of its failed job
    (relative to the project, where it lies inside it).

    In the report, a cluster job's block gives its SLURM log first, then its rules and their scene hashes
    (in their outputs or wildcards: a join's inputs name every scene, but only the join failed).
    """
    slurm_log_of: dict[str, str | None] = {}
    slurm_log = None
    for line in report.splitlines():
        if found := _SLURM_LOG.search(line):
            slurm_log = _inside(found[1], plan.project)
        if not line.lstrip().startswith(("output:", "wildcards:")):
            continue
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


def _inside(path: str, project: Path) -> str:
    """``path`` relative to the project when it lies in it (as Snakemake's own logs do), else as given."""
    try:
        return str(Path(path).resolve().relative_to(project.resolve()))
    except ValueError:
        return path


def render_with_profile(
    project: Path, profile: Path, config: dict[str, Any] | None = None, *, dry_run: bool = False
) -> int:
    """Build with ``snakemake --profile`` in the project; returns its exit status, 0 if done.

    When it fails, Snakemake's error report is printed, followed by the scenes that failed (found by
    their hashes in it), so a cluster failure names the scene as well as the job's SLURM log.
    """
    from reelmake.lock import ensure_free
    from reelmake.plan import plan_project

    if not dry_run:
        ensure_free(project)  # one clear line now, rather than in snakemake's output (which then locks it)
    console = Console(stderr=True)
    with _progress(console) as progress, _stop_on_interrupt(here=False) as interrupted:
        bar = _ProgressBar(progress)
        status, report = run_with_profile(project, profile, bar, config, dry_run=dry_run)
        if interrupted.is_set():  # snakemake got the SIGINT too, and has cancelled its cluster jobs
            return _stopped(console, progress, bar.task)
        progress.update(bar.task, description="done" if status == 0 else "[red]failed")
    if status != 0:
        console.print(report, markup=False, highlight=False, soft_wrap=True)
        for line in failed_scenes(report, plan_project(project, config)):
            console.print(f"reelmake: {line}", markup=False, soft_wrap=True)
        console.print(f"reelmake: the render failed (snakemake --profile {profile} exited with {status})")
    return status
