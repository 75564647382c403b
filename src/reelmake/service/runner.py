"""The render queue: at most ``workers`` renders at once, each a worker process in its own process group.

Each render is `python -m reelmake.service.worker <project>` (Snakemake through its API, in the project
folder, as in a shell). Its JSON lines update the job in the store and go to the job's WebSocket listeners.
On start, jobs left `running` by a dead server become `interrupted` and are queued again; Snakemake then
resumes from the scenes already rendered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

from reelmake.diskspace import MIN_FREE_BYTES, full_disk_error, human_size, is_disk_full, render_bytes
from reelmake.errors import UserError
from reelmake.fsutil import link_all, remove_partial_files
from reelmake.plan import BUILD, PREVIEW, PUBLISHED_FILES
from reelmake.service.projects import ProjectStore
from reelmake.service.store import ACTIVE, Job, JobStore, now
from reelmake.service.worker import without_folder

KILL_GRACE_S = 5.0
log = logging.getLogger("reelmake.service")
FINAL_TYPES = ("succeeded", "failed", "cancelled")


def render_folder(project: Path, job_id: str) -> Path:
    """Where a succeeded render's video and companions are kept (hard links to build/'s files)."""
    return project / "renders" / job_id


def needed_bytes(project: Path) -> int:
    """An upper bound of the disk a full render of the project writes (reelmake.diskspace.render_bytes,
    whose comment has the measured figures), plus the room Snakemake's own records need; 0 for a project
    that does not plan (the render then fails with the plan's own message)."""
    from reelmake.plan import plan_project

    try:
        plan = plan_project(project)
    except UserError:
        return 0
    return render_bytes((scene.spec, scene.seconds) for scene in plan.scenes) + MIN_FREE_BYTES


class Runner:
    """Queue, processes and listeners of the service's renders."""

    def __init__(
        self, jobs: JobStore, projects: ProjectStore, *, workers: int, profile: Path | None = None
    ) -> None:
        self.jobs = jobs
        self.profile = profile
        self.projects = projects
        self.workers = max(1, workers)
        self.cores = max(1, (os.cpu_count() or 1) // self.workers)
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.listeners: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.running: dict[str, Job] = {}  # the one in-memory record of each running job
        self.unsaved: dict[str, Job] = {}  # jobs whose last state the job table had no room for
        self.tasks: list[asyncio.Task[None]] = []
        self.may_start = asyncio.Event()  # cleared while gc runs: no render starts meanwhile
        self.may_start.set()
        self.active = 0  # renders between leaving the queue and finishing

    async def start(self) -> None:
        for job in self.jobs.in_states(("running",)):
            job.state, job.stage = "interrupted", "interrupted by a server restart; queued again"
            self._save(job)
        for job in self.jobs.in_states(("queued", "interrupted")):
            self.queue.put_nowait(job.job_id)
        self.tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for job_id in list(self.processes):
            self._signal(job_id, signal.SIGKILL)

    def submit(self, project_id: str, *, preview: bool) -> tuple[Job, bool]:
        """The project's active job if any (never two Snakemakes on a folder), else a new queued job."""
        self._save_unsaved()
        for stored in self.jobs.for_project(project_id):
            if (job := self.job(stored.job_id, stored)).state in ACTIVE:
                return job, False
        job = self.jobs.add(project_id, preview=preview)
        self.queue.put_nowait(job.job_id)
        return job, True

    def queue_position(self, job: Job) -> int | None:
        """1 for the next job to start, None once started or finished."""
        if job.state not in ("queued", "interrupted") or job.job_id in self.processes:
            return None
        waiting = [j.job_id for j in self.jobs.in_states(("queued", "interrupted"))]
        return waiting.index(job.job_id) + 1 if job.job_id in waiting else None

    def _save(self, job: Job) -> None:
        """Record the job in the job table. On a disk too full for it (the data folder filled during a
        render), the job lives on in memory (the API reads it from there) and is written with the next
        save that fits; the render's outcome still reaches its watchers, and the queue goes on."""
        try:
            self.jobs.save(job)
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorname", "") != "SQLITE_FULL":
                raise
            self.unsaved[job.job_id] = job
            log.warning("the job table is full (disk full): job %s is kept in memory", job.job_id)
            return
        self.unsaved.pop(job.job_id, None)
        self._save_unsaved()

    def _save_unsaved(self) -> None:
        """Write the jobs the job table had no room for, if it has room now."""
        for waiting in list(self.unsaved.values()):
            self.unsaved.pop(waiting.job_id)
            self._save(waiting)

    def job(self, job_id: str, stored: Job) -> Job:
        """The latest record of a job: a running job's live one, or one the job table had no room for."""
        return self.running.get(job_id) or self.unsaved.get(job_id) or stored

    def subscribe(self, job_id: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.listeners.setdefault(job_id, set()).add(queue)
        return queue

    def unsubscribe(self, job_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        listeners = self.listeners.get(job_id, set())
        listeners.discard(queue)
        if not listeners:  # else every job ever watched would keep an entry for the server's life
            self.listeners.pop(job_id, None)

    def _publish(self, job_id: str, message: dict[str, Any]) -> None:
        for queue in self.listeners.get(job_id, ()):
            queue.put_nowait(message)

    async def cancel(self, job: Job) -> Job:
        """Stop the job: a queued one never starts, a running one's whole process group is killed."""
        job = self.running.get(job.job_id, job)
        if job.state not in ACTIVE:
            return job
        job.state, job.stage, job.finished_at = "cancelled", "cancelled", now()
        self._save(job)
        process = self.processes.get(job.job_id)
        if process is not None:
            self._signal(job.job_id, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), KILL_GRACE_S)
            except TimeoutError:
                self._signal(job.job_id, signal.SIGKILL)
                await process.wait()
        else:
            self._publish(job.job_id, {"type": "cancelled"})
        return job

    def _signal(self, job_id: str, sig: signal.Signals) -> None:
        process = self.processes.get(job_id)
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)  # the worker leads its own group: Snakemake and every ffmpeg

    async def _work(self) -> None:
        while True:
            job_id = await self.queue.get()
            job = self.jobs.get(job_id)
            if job is None or job.state not in ("queued", "interrupted"):
                continue  # cancelled while it waited
            while not self.may_start.is_set():
                await self.may_start.wait()
            self.active += 1  # no await since the check: gc sees this render
            try:
                await self._run(job)
            except Exception as error:  # never let one render stop the queue
                job.state, job.error, job.finished_at = (
                    "failed",
                    f"internal error: {type(error).__name__}",
                    now(),
                )
                self._save(job)
                self._publish(job.job_id, {"type": "failed", "error": job.error})
            finally:
                self.active -= 1

    async def collect_garbage_every(
        self, hours: float, *, keep: int | None, older_than_days: float | None
    ) -> None:
        """`reelmake gc --data` on a schedule, run while no render runs (renders wait for it)."""
        from reelmake.service.gc import data_removals

        while True:
            await asyncio.sleep(hours * 3600)
            self.may_start.clear()
            try:
                while self.active:
                    await asyncio.sleep(0.5)
                removals, _ = await asyncio.to_thread(
                    data_removals, self.projects.root.parent, keep=keep, older_than_days=older_than_days
                )
                for removal in removals:
                    await asyncio.to_thread(removal.remove)
            except Exception as error:  # a failed collection must not stop renders or later collections
                print(f"reelmake serve: gc failed: {error}", file=sys.stderr)
            finally:
                self.may_start.set()

    async def _run(self, job: Job) -> None:
        project = self.projects.folder(job.project_id)
        if project is None:
            raise RuntimeError("project folder missing")
        job.state, job.stage, job.started_at, job.error = "running", "planning", now(), None
        self._save(job)
        free = shutil.disk_usage(project).free
        need = await asyncio.to_thread(needed_bytes, project)
        if free < need:
            self._finish(
                job,
                "failed",
                error=f"not enough free disk space: {human_size(free)} free, this render may need about "
                f"{human_size(need)}. Free some space (reelmake gc) and render again.",
            )
            return
        log_file = project / "logs" / "service" / f"{job.job_id}.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "reelmake.service.worker", str(project), "--cores", str(self.cores)]
        command += ["--preview"] * job.preview
        command += ["--profile", str(self.profile)] if self.profile else []
        with log_file.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                *command, stdout=asyncio.subprocess.PIPE, stderr=log, start_new_session=True
            )
            self.processes[job.job_id], self.running[job.job_id] = process, job
            failure = None
            try:
                assert process.stdout is not None
                async for line in process.stdout:
                    failure = self._on_event(job, json.loads(line)) or failure
                status = await process.wait()
            finally:
                del self.processes[job.job_id], self.running[job.job_id]
        if job.state == "cancelled":
            remove_partial_files(project / BUILD)  # no partial file of the killed render
            self._publish(job.job_id, {"type": "cancelled"})
        elif status == 0:
            try:
                self._keep_render(project, job)
            except OSError as error:  # the links of renders/<job>/ need file entries too
                if not is_disk_full(error):
                    raise
                kept = render_folder(project, job.job_id).parent
                full = full_disk_error(kept, 0, "keeping this render")  # links: no bytes, file entries
                self._finish(job, "failed", error=without_folder(str(full), project))
                return
            self._finish(job, "succeeded")
        else:
            self._finish(job, "failed", error=failure or "the render stopped unexpectedly (see the job log)")

    def _on_event(self, job: Job, event: dict[str, Any]) -> str | None:
        """Apply one worker event to the job; returns the error message of a `failed` event."""
        if job.state == "cancelled":
            return None
        kind, scene = event.get("type"), event.get("scene")
        if kind == "started":
            job.stage = event["stage"]
            if scene:
                job.scenes.setdefault(scene, "rendering")
        elif kind == "progress":
            job.done, job.total, job.stage = event["done"], event["total"], event["stage"]
            if scene and event["stage"] == "scene_clip":  # a scene's last step
                job.scenes[scene] = "done"
            self._publish(job.job_id, event)
        elif kind == "scene_failed" and scene:
            job.scenes[scene] = "failed"
        elif kind == "resources":
            job.resources = {k: v for k, v in event.items() if k != "type"}
        elif kind == "failed":
            return str(event["error"])
        self._save(job)
        return None

    def _finish(self, job: Job, state: str, *, error: str | None = None) -> None:
        job.state, job.stage, job.error, job.finished_at = state, state, error, now()
        self._save(job)
        message: dict[str, Any] = {"type": state}
        if state == "succeeded":
            message.update(urls(job))
        else:
            message["error"] = error
        self._publish(job.job_id, message)

    def _keep_render(self, project: Path, job: Job) -> None:
        """Link the outputs into renders/<job>/: the next render replaces build/'s files, not these."""
        source = project / (PREVIEW if job.preview else BUILD)
        target = render_folder(project, job.job_id)
        target.mkdir(parents=True, exist_ok=True)
        names = [name for name in PUBLISHED_FILES.values() if (source / name).is_file()]
        try:
            link_all([(source / name, target / name) for name in names])  # all or none
        except OSError:
            target.rmdir()  # the failed render keeps no empty folder
            raise


def urls(job: Job) -> dict[str, str]:
    base = f"/videos/{job.project_id}/{job.job_id}"
    return {"video_url": f"{base}/final.mp4", "download_url": f"{base}/download"}
