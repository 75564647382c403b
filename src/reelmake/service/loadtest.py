"""A bounded load test of a real `reelmake serve`: shared by tests/fault/test_load.py and `make bench`.

Against one server (normally `--workers 1`) it runs, all at once: ``range_clients`` clients each doing
``reads_per_client`` Range reads of a finished video (every answer compared with the file's bytes),
``renders`` small projects uploaded and queued for rendering, and ``watchers`` WebSocket clients following
those jobs. Every wait has a deadline, so it stops by itself. It reports what went wrong (never raises for
a wrong answer), the latencies and the server's memory (VmHWM, the peak resident size, from /proc).

Needs the dev extra (httpx, websockets), like the tests and the benchmark that use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

from reelmake.service.runner import render_folder

FINAL_STATES = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class LoadPlan:
    """How much load: counts, and the deadline of the whole run."""

    range_clients: int = 50
    reads_per_client: int = 20
    watchers: int = 20
    renders: int = 10
    time_limit_s: float = 240.0
    seed: int = 8


@dataclass
class LoadReport:
    """What a load run measured; ``failures`` lists every wrong or missing answer (empty when all is well)."""

    failures: list[str] = field(default_factory=list)
    range_reads: int = 0
    range_seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    watchers_complete: int = 0
    jobs: dict[str, str] = field(default_factory=dict)  # job id -> final state
    rss_before_kb: int = 0  # VmHWM once the first video is rendered, before the load
    rss_peak_kb: int = 0  # VmHWM after the load
    seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        """The figures for a report or a JSON file."""
        ordered = sorted(self.latencies_ms) or [float("nan")]
        rate = self.range_reads / self.range_seconds if self.range_seconds else float("nan")
        return {
            "range_reads": self.range_reads,
            "range_reads_per_s": round(rate, 1),
            "p50_ms": round(statistics.median(ordered), 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
            "watchers_complete": self.watchers_complete,
            "renders": len(self.jobs),
            "renders_succeeded": sum(state == "succeeded" for state in self.jobs.values()),
            "server_rss_before_mb": round(self.rss_before_kb / 1024, 1),
            "server_peak_rss_mb": round(self.rss_peak_kb / 1024, 1),
            "seconds": round(self.seconds, 1),
            "failures": self.failures[:20],
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_server(
    data: Path, *args: str, log: Path, token: str | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `reelmake serve --data DATA` on a free loopback port and wait until it answers /api/health."""
    port = free_port()
    command = [sys.executable, "-m", "reelmake.cli", "serve", "--data", str(data), "--port", str(port), *args]
    command += ["--token", token] if token else []
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped at start:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            health = httpx.get(f"http://127.0.0.1:{port}/api/health", headers=headers, timeout=5)
            if health.status_code == 200:
                return process, port
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start within 60 s")


def memory_kb(pid: int, name: str = "VmHWM") -> int:
    """A memory figure of a process from /proc/<pid>/status, in kB (VmHWM: its peak resident size)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise ValueError(f"no {name} in /proc/{pid}/status")


def load_script(index: int) -> str:
    """A small project of its own (320x180, one short scene), so every render has real work to do."""
    return f"---\ntitle: Load {index}\nwidth: 320\nheight: 180\n---\n## Load {index}\n<!-- duration: 1 -->\n"


def run_load(url: str, data: Path, pid: int, plan: LoadPlan) -> LoadReport:
    """Run the plan against the server at ``url`` (data folder ``data``, process ``pid``; no token)."""
    report = LoadReport()
    started = time.monotonic()
    deadline = started + plan.time_limit_s
    with httpx.Client(base_url=url, timeout=60) as client:
        first = _upload_and_render(client, load_script(0), report)
        if first is None:
            return report
        finished = _wait_for_jobs(client, [first["job_id"]], deadline, report)
        video_url = finished[first["job_id"]].get("video_url")
        if not video_url:
            report.failures.append("the first render did not succeed; no video to read")
            return report
        video = _kept_video(data, first).read_bytes()
        report.rss_before_kb = memory_kb(pid)
        report.jobs.clear()  # the setup render is not one of the plan's

        lock = threading.Lock()
        with ThreadPoolExecutor(max_workers=plan.range_clients + plan.watchers + plan.renders) as pool:
            uploads = pool.map(
                lambda i: _upload_and_render(client, load_script(i), report), range(1, plan.renders + 1)
            )
            job_ids = [job["job_id"] for job in uploads if job]
            watching = [
                pool.submit(_watch, url, job_ids[i % len(job_ids)], deadline, report, lock)
                for i in range(plan.watchers if job_ids else 0)
            ]
            range_start = time.monotonic()
            reads = [
                pool.submit(
                    _read_ranges, client.base_url, video_url, video, plan, seed, deadline, report, lock
                )
                for seed in range(plan.range_clients)
            ]
            for future in reads:
                future.result()
            report.range_seconds = time.monotonic() - range_start
            for future in watching:
                future.result()
        states = _wait_for_jobs(client, job_ids, deadline, report)
        for job_id in job_ids:
            _check_finished(client, data, states.get(job_id), report)
    report.rss_peak_kb = memory_kb(pid)
    report.seconds = time.monotonic() - started
    return report


def _upload_and_render(client: httpx.Client, script: str, report: LoadReport) -> dict[str, Any] | None:
    """Upload a project and ask for its render: the job (with project_id), or None (a failure noted)."""
    created = client.post("/api/projects", files={"script": ("script.md", script.encode())})
    if created.status_code != 201:
        report.failures.append(f"upload: {created.status_code} {created.text[:200]}")
        return None
    started = client.post(f"/api/projects/{created.json()['id']}/renders")
    if started.status_code != 202:
        report.failures.append(f"render request: {started.status_code} {started.text[:200]}")
        return None
    job: dict[str, Any] = started.json()
    report.jobs[job["job_id"]] = job["state"]
    return job


def _wait_for_jobs(
    client: httpx.Client, job_ids: list[str], deadline: float, report: LoadReport
) -> dict[str, dict[str, Any]]:
    """Poll until every job is finished or the deadline passes; the jobs as last seen."""
    seen: dict[str, dict[str, Any]] = {}
    while True:
        for job_id in job_ids:
            if seen.get(job_id, {}).get("state") not in FINAL_STATES:
                seen[job_id] = client.get(f"/api/jobs/{job_id}").json()
                report.jobs[job_id] = seen[job_id]["state"]
        waiting = [job_id for job_id, job in seen.items() if job["state"] not in FINAL_STATES]
        if not waiting:
            return seen
        if time.monotonic() > deadline:
            report.failures += [
                f"job {job_id} still {seen[job_id]['state']} at the deadline" for job_id in waiting
            ]
            return seen
        time.sleep(0.3)


def _check_finished(client: httpx.Client, data: Path, job: dict[str, Any] | None, report: LoadReport) -> None:
    """A succeeded job's video is served whole and equals the kept file; a failed one is a finding."""
    if job is None or job["state"] not in FINAL_STATES:
        return  # already reported by _wait_for_jobs
    if job["state"] != "succeeded":
        report.failures.append(
            f"job {job['job_id']} {job['state']}: {job.get('error') or 'no error message'}"
        )
        return
    kept = _kept_video(data, job)
    served = client.get(job["video_url"])
    if served.status_code != 200 or not kept.is_file() or served.content != kept.read_bytes():
        report.failures.append(f"job {job['job_id']}: its video is missing or differs from the kept file")


def _kept_video(data: Path, job: dict[str, Any]) -> Path:
    """Where the service keeps a succeeded job's video (runner.render_folder) in its data folder."""
    return render_folder(data / "projects" / job["project_id"], job["job_id"]) / "final.mp4"


def _read_ranges(
    url: httpx.URL,
    video_url: str,
    video: bytes,
    plan: LoadPlan,
    seed: int,
    deadline: float,
    report: LoadReport,
    lock: threading.Lock,
) -> None:
    """One client's Range reads (seeded: closed, open and suffix ranges), each compared with the file."""
    rng = random.Random(plan.seed * 1000 + seed)
    size = len(video)
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(plan.reads_per_client):
            if time.monotonic() > deadline:
                with lock:
                    report.failures.append(f"range client {seed} stopped at the deadline")
                return
            start = rng.randrange(size)
            kind = rng.choice(("closed", "open", "suffix"))
            if kind == "closed":
                end = min(size - 1, start + rng.randrange(1, 65536))
                header, expected = f"bytes={start}-{end}", video[start : end + 1]
            elif kind == "open":
                header, expected = f"bytes={start}-", video[start:]
            else:
                length = rng.randrange(1, size + 1)
                header, expected = f"bytes=-{length}", video[-length:]
            sent = time.perf_counter()
            try:
                response = client.get(video_url, headers={"Range": header})
                problem = None
                if response.status_code != 206 or response.content != expected:
                    problem = f"{header}: {response.status_code}, {len(response.content)} bytes"
            except httpx.HTTPError as error:
                problem = f"{header}: {type(error).__name__}"
            elapsed = (time.perf_counter() - sent) * 1000
            with lock:
                report.range_reads += 1
                report.latencies_ms.append(elapsed)
                if problem:
                    report.failures.append(f"range read {problem}")


def _watch(url: str, job_id: str, deadline: float, report: LoadReport, lock: threading.Lock) -> None:
    """Follow a job's events to the end: a snapshot first, `done` never going back, then the final message."""
    messages: list[dict[str, Any]] = []
    problem = None
    events = f"{url.replace('http', 'ws', 1)}/api/jobs/{job_id}/events"
    try:
        # The server closes the socket after the final message.
        with connect(events, open_timeout=30) as ws, contextlib.suppress(ConnectionClosedOK):
            while True:
                messages.append(json.loads(ws.recv(timeout=max(1.0, deadline - time.monotonic()))))
    except Exception as error:  # whatever stops a watcher early is a finding, reported
        problem = f"watcher of {job_id}: {type(error).__name__}: {error}"
    if problem is None:
        done = [m["done"] for m in messages if m.get("type") == "progress"]
        if not messages or messages[0].get("type") != "snapshot":
            problem = f"watcher of {job_id}: no snapshot first"
        elif messages[-1].get("type") not in FINAL_STATES:
            problem = f"watcher of {job_id}: ended without its final message ({messages[-1].get('type')})"
        elif done != sorted(done):
            problem = f"watcher of {job_id}: progress went backwards {done}"
    with lock:
        if problem:
            report.failures.append(problem)
        else:
            report.watchers_complete += 1
