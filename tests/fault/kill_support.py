"""Helpers of the crash tests: a render as its own process group, killed at a chosen moment, and what
was running then (read from the job logs and the processes, as a person would find out)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from conftest import Project
from helpers import make_image, make_video

from reelmake.plan import plan_project
from reelmake.probe import Expectation, validate
from reelmake.processes import descendants

# Five small scenes: slides (one silent), a photo, a video clip; every one but the last is narrated.
SCRIPT = """\
---
title: Kills
---

## Opening
{opening}

## A photo
![Photo](assets/photo.png)
{photo}

## A clip
![Clip](assets/clip.mp4)
{clip}

## Numbers
Two slides make a list of facts, and this one is the second.

## The end
<!-- duration: 1 -->
"""


def kill_project(project: Project, edit: int) -> None:
    """Write the project's assets (once) and its script; ``edit`` changes three scenes' narration, so a
    render after it speaks, draws and encodes a slide, a photo and a clip, then joins."""
    assets = project.path / "assets"
    if not (assets / "clip.mp4").exists():
        make_image(assets / "photo.png", (240, 160), (40, 120, 200))
        make_video(assets / "clip.mp4", 2.0)
    project.write_script(
        SCRIPT.format(
            opening=f"Welcome to take {edit}.",
            photo=f"The photo, seen for time {edit}.",
            clip=f"And the clip, played for round {edit}.",
        )
    )


def start_render(project: Project, log: Path) -> subprocess.Popen[bytes]:
    """A plain `snakemake --cores 2` in the project, leading its own process group (as in a terminal)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "snakemake", "--cores", "2"],
            cwd=project.path, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip


def running_steps(project: Project, since: float, render: int) -> list[str]:
    """The jobs started since ``since`` (epoch s) whose log does not yet end with "done", as rule names;
    for the join, which part of it runs (``render``: the pid of the `snakemake` doing it)."""
    steps = []
    for log in sorted((project.path / "logs").rglob("*.log")):
        try:
            if log.stat().st_mtime < since or log.read_text(errors="replace").rstrip().endswith("done"):
                continue
        except FileNotFoundError:  # Snakemake removed it (a job it is about to run again) meanwhile
            continue
        rule = log.relative_to(project.path / "logs").parts[0].removesuffix(".log")
        steps.append(f"compose: {compose_part(project, since, render)}" if rule == "compose" else rule)
    return sorted(set(steps))


def compose_part(project: Project, since: float, render: int) -> str:
    """Which part of the join runs, from the files it has left so far and its ffmpeg (compose.py's order):
    the sound, the mux, the validation of the muxed file, or the captions, poster and manifest after it."""
    build = project.path / "build"
    final = build / "final.mp4"
    if final.exists() and final.stat().st_mtime >= since:
        return "captions, poster, manifest"
    if not list(build.glob(".final.tmp-*.mp4")):
        return "sound join"
    muxing = any("final.tmp-" in command(pid) for pid in descendants(render))
    return "mux" if muxing else "validation"


def _is_ffmpeg(command_line: str) -> bool:
    return Path(command_line.split(" ")[0]).name.startswith("ffmpeg")


def command(pid: int) -> str:
    """A process's command line (empty once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass(frozen=True)
class Step:
    """One step of a measured render: a rule (or "planning", before the first job) and how long it took."""

    rule: str
    duration_s: float


def _logged_at(line: str) -> float:
    """The time of a job log's line (run_job's format: `2026-11-27 20:51:41,428 INFO ...`)."""
    stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    return stamp.timestamp()


def timeline(project: Project, started: float) -> list[Step]:
    """The steps of the render started at ``started`` (epoch s), from its job logs, in the order they
    began: "planning" up to the first job, then each rule once (its first job), with that job's duration."""
    jobs: dict[str, tuple[float, float]] = {}
    for log in (project.path / "logs").rglob("*.log"):
        lines = log.read_text().splitlines()
        rule = log.relative_to(project.path / "logs").parts[0].removesuffix(".log")
        begun, ended = _logged_at(lines[0]), _logged_at(lines[-1])
        if begun >= started and (rule not in jobs or begun < jobs[rule][0]):
            jobs[rule] = (begun, ended - begun)
    first = min(begun for begun, _ in jobs.values())
    steps = [Step("planning", first - started)]
    return steps + [Step(rule, took) for rule, (_, took) in sorted(jobs.items(), key=lambda item: item[1])]


@dataclass
class Kill:
    """One kill: in which step, how far into it, what was killed, and which steps were running."""

    step: Step
    offset_s: float
    # "group": SIGKILL to the render's process group (snakemake and every ffmpeg); "snakemake": to that
    # process alone (as the OOM killer does; its ffmpeg children live on); "ffmpeg": one child encoder.
    target: str
    killed: str = ""  # what was killed in the end ("nothing": the render ended first)
    steps: list[str] = field(default_factory=list)


def _wait_for_step(process: subprocess.Popen[bytes], project: Project, kill: Kill, since: float) -> None:
    """Until ``kill.offset_s`` into its step: after the render started, or after the first job of the
    step's rule started (its log appeared) in this render."""
    if kill.step.rule != "planning":
        folder, rule = project.path / "logs", kill.step.rule
        while process.poll() is None and not any(
            log.stat().st_mtime >= since
            for log in [*folder.glob(f"{rule}.log"), *folder.glob(f"{rule}/*.log")]
        ):
            time.sleep(0.005)
        since = time.time()
    time.sleep(max(0.0, since + kill.offset_s - time.time()))


def kill_render(process: subprocess.Popen[bytes], project: Project, kill: Kill, since: float) -> None:
    """In the step ``kill`` names (``since``: the render's start, epoch s), SIGKILL the render's group, or
    its main process, or its first ffmpeg child (waiting for one to start, up to the render's end),
    recording the steps running at that moment; then wait until every process of the render has ended."""
    _wait_for_step(process, project, kill, since)
    kill.killed = "nothing"
    family: list[int] = []
    while process.poll() is None:
        family = descendants(process.pid)
        encoders = [(pid, line) for pid in family if _is_ffmpeg(line := command(pid))]
        if kill.target == "ffmpeg" and not encoders:
            time.sleep(0.005)
            continue
        kill.steps = running_steps(project, since, process.pid)
        kill.killed = kill.target
        if kill.target == "group":
            os.killpg(process.pid, signal.SIGKILL)
        elif kill.target == "snakemake":
            os.kill(process.pid, signal.SIGKILL)
        else:
            pid, line = encoders[0]
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # it finished between the listing and the kill: take the next one
                kill.killed = "nothing"
                continue
            kill.killed += f" writing {Path(line.split()[-1]).name}"
        break
    process.wait(300)
    deadline = time.monotonic() + 120
    while any(command(pid) for pid in family) and time.monotonic() < deadline:  # orphans finish
        time.sleep(0.05)


def incomplete_files(project: Project) -> set[str]:
    """The outputs Snakemake marked incomplete (a job that started and did not finish)."""
    markers = project.path / ".snakemake" / "incomplete"
    if not markers.is_dir():
        return set()
    return {base64.b64decode(m.name).decode() for m in markers.iterdir() if m.name != "migration_underway"}


def check_video(project: Project) -> None:
    """build/final.mp4 is a valid video exactly as long as its scenes' narration timings say."""
    plan = plan_project(project.path)
    timings = [project.path / scene.folder / "timing.json" for scene in plan.scenes]
    frames = sum(json.loads(timing.read_text())["frames"] for timing in timings)
    fps = plan.settings["fps"]
    expected = Expectation(width=320, height=180, fps=fps, duration_s=frames / fps)
    validate(project.path / "build" / "final.mp4", expected, decode="full")
