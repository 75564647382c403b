"""Ctrl-C and two renders of one project at once: a clean stop in one line, and nothing harmed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Project
from service.support import start_server, upload

from fault.kill_support import check_video, kill_project, start_render
from reelmake.lock import LOCK_FILE


def reelmake_render(project: Project, log: Path) -> subprocess.Popen[bytes]:
    """`reelmake render` in its own session, as a terminal runs it."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "reelmake.cli", "render", "--cores", "2", str(project.path)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def holds_lock(project: Project, pid: int) -> bool:
    """Whether ``pid`` has taken the project's lock (it writes its pid into the lock file)."""
    lock = project.path / LOCK_FILE
    return lock.is_file() and lock.read_text().strip() == str(pid)


def jobs_started(project: Project, since: float = 0.0) -> bool:
    """Whether a job has started (written its log) since ``since`` (epoch s)."""
    return any(log.stat().st_mtime >= since for log in (project.path / "logs").rglob("*.log"))


def test_ctrl_c_stops_reelmake_render_in_one_line_and_the_next_render_finishes(
    new_project: Callable[..., Project], tmp_path: Path
) -> None:
    project = new_project("## placeholder\n")
    kill_project(project, 0)
    # `kill -INT` reaches reelmake alone (it passes the interrupt on to its ffmpeg); a terminal's Ctrl-C
    # reaches its whole process group.
    for n, interrupt in enumerate((os.kill, os.killpg)):
        since = time.time()
        render = reelmake_render(project, tmp_path / f"render{n}.log")
        wait_until(lambda: jobs_started(project, since), "the render runs a job")  # noqa: B023
        asked = time.monotonic()
        interrupt(render.pid, signal.SIGINT)
        status = render.wait(120)
        stopped_in = time.monotonic() - asked
        output = (tmp_path / f"render{n}.log").read_text()
        assert status == 130, output
        assert "Traceback" not in output
        messages = [line for line in output.splitlines() if line.startswith("reelmake:")]
        assert messages == ["reelmake: stopped (Ctrl-C); finished scenes are kept: render again to go on"]
        assert not (project.path / "build" / "final.mp4").exists()
        print(f"\nreelmake render stopped {stopped_in:.2f} s after SIGINT by {interrupt.__name__}")

    again = reelmake_render(project, tmp_path / "again.log")
    assert again.wait(300) == 0, (tmp_path / "again.log").read_text()
    check_video(project)


BUSY = "this project is being rendered (pid {}); wait for it or stop it, then render again."


def test_a_second_render_of_a_project_stops_at_once_and_the_first_is_unharmed(
    new_project: Callable[..., Project], tmp_path: Path
) -> None:
    project = new_project("## placeholder\n")
    kill_project(project, 0)
    first = start_render(project, tmp_path / "first.log")
    wait_until(lambda: holds_lock(project, first.pid), "the first render holds the project")
    busy = BUSY.format(first.pid)
    os.killpg(first.pid, signal.SIGSTOP)  # paused while the others try: it cannot finish before they do
    try:
        second = project.snakemake(check=False)
        cli = subprocess.run(
            [sys.executable, "-m", "reelmake.cli", "render", str(project.path)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        dry_run = project.snakemake("-n", check=False)
    finally:
        os.killpg(first.pid, signal.SIGCONT)

    assert first.wait(300) == 0, (tmp_path / "first.log").read_text()
    check_video(project)
    assert second.returncode == 1 and f"reelmake: {busy}" in second.stderr.splitlines()
    assert cli.returncode == 1 and cli.stderr.splitlines()[-1] == f"reelmake: error: {busy}"
    assert dry_run.returncode == 0 and "this dry run shows its plan" in dry_run.stderr
    for output in (second.stdout + second.stderr, cli.stderr, dry_run.stderr):
        assert "Traceback" not in output and "LockException" not in output


def test_a_killed_render_leaves_no_lock_behind(new_project: Callable[..., Project], tmp_path: Path) -> None:
    """Snakemake's own lock outlives a SIGKILL and stops every later run until --unlock; ours does not."""
    project = new_project("## placeholder\n")
    kill_project(project, 0)
    killed = start_render(project, tmp_path / "killed.log")
    wait_until(lambda: jobs_started(project), "the render runs its first jobs")
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(60)

    resumed = project.snakemake()  # at once, no --unlock

    check_video(project)
    assert not list((project.path / ".snakemake" / "locks").glob("*")), "Snakemake's lock is off"
    assert "LockException" not in resumed.stderr
    assert project.snakemake("--unlock").returncode == 0  # still accepted, with nothing to unlock


@pytest.fixture
def studio(tmp_path: Path):
    server = start_server(tmp_path / "data")
    yield server
    server.stop()


def test_the_studio_reports_a_project_a_shell_render_holds_as_a_failed_job(studio, tmp_path: Path) -> None:
    script = "---\ntitle: Busy\nwidth: 320\nheight: 180\n---\n## One\nA scene narrated for a while.\n"
    with studio.client() as client:
        project_id = upload(client, script).json()["id"]
        project = Project(studio.data / "projects" / project_id)
        shell = start_render(project, tmp_path / "shell.log")
        wait_until(lambda: holds_lock(project, shell.pid), "the shell render holds the project")
        job = client.post(f"/api/projects/{project_id}/renders").json()
        events = studio.events(job["job_id"])
        assert shell.wait(300) == 0
        again = client.post(f"/api/projects/{project_id}/renders").json()
        after = studio.events(again["job_id"])
    assert events[-1] == {"type": "failed", "error": BUSY.format(shell.pid)}
    assert after[-1]["type"] == "succeeded"


def test_gc_leaves_a_project_being_rendered_alone(
    new_project: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    """`reelmake gc --yes` holds each project's lock from its choice to its deletion, so a render can
    neither be running nor start meanwhile: a project whose lock is held keeps everything."""
    from reelmake.cli import main

    project = new_project("## One\n<!-- duration: 1 -->\n\n## Two\n<!-- duration: 1 -->\n")
    project.snakemake()
    project.write_script("## One\n<!-- duration: 1 -->\n")  # scene Two's folder is now unused
    hold = "import sys,time,pathlib,reelmake.lock as k; k.acquire(pathlib.Path(sys.argv[1]));time.sleep(99)"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(project.path)])
    try:
        wait_until(lambda: holds_lock(project, holder.pid), "another process holds the project")
        before = sorted((project.path / "build" / "scenes").iterdir())
        assert main(["gc", "--yes", str(project.path)]) == 1
        assert "is being rendered; run gc again" in capsys.readouterr().err
        assert sorted((project.path / "build" / "scenes").iterdir()) == before
    finally:
        holder.kill()
        holder.wait()
    assert main(["gc", "--yes", str(project.path)]) == 0
    assert len(list((project.path / "build" / "scenes").iterdir())) == len(before) - 1
