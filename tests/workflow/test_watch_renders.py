"""`reelmake watch`: one process renders, then re-renders after each saved change, until Ctrl-C."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import Project

from reelmake.lock import project_lock
from reelmake.watch import WatchProcess

SCENES = {"One": "The first scene speaks.", "Two": "The second scene speaks.", "Three": "The third one."}


def script(scenes: dict[str, str]) -> str:
    return "# Watched\n\n" + "".join(f"## {title}\n{text}\n\n" for title, text in scenes.items())


@pytest.fixture
def watched(new_project: Callable[..., Project], tmp_path: Path) -> Iterator[tuple[Project, WatchProcess]]:
    project = new_project(script(SCENES))
    watcher = WatchProcess(project.path, tmp_path / "watch.err")
    yield project, watcher
    watcher.stop()


def scene_hashes(project: Project) -> list[str]:
    return [s["hash"] for s in project.manifest()["scenes"]]


def test_watch_renders_each_saved_edit_and_only_what_it_changed(
    watched: tuple[Project, WatchProcess],
) -> None:
    project, watcher = watched
    first = watcher.next_render()
    assert "build/final.mp4 rendered in" in first and "(first render)" in first, first
    hashes, files = scene_hashes(project), project.scene_files()
    # Between renders the project is not locked: `snakemake` or `reelmake render` may run.
    with project_lock(project.path):
        pass

    project.write_script(script({**SCENES, "Two": "The second scene says something new."}))
    line = watcher.next_render()
    assert "build/final.mp4 rendered in" in line and "(script.md changed)" in line, line
    edited = scene_hashes(project)
    assert edited[0] == hashes[0] and edited[2] == hashes[2] and edited[1] != hashes[1]
    after = project.scene_files()
    assert {p: t for p, t in after.items() if hashes[1] not in p and edited[1] not in p} == {
        p: t for p, t in files.items() if hashes[1] not in p
    }  # no other scene's file was written again
    assert any(edited[1] in p for p in after)
    spoken = json.loads((project.path / "build/scenes" / edited[1] / "timing.json").read_text())
    assert spoken["cues"][0]["text"] == "The second scene says something new."

    # A mistake is reported and the watch goes on; fixing it renders again.
    video = (project.path / "build/final.mp4").read_bytes()
    project.write_script(script(SCENES) + "## Four\n![a photo](assets/missing.png)\nIt is missing.\n")
    line = watcher.next_render()
    assert "not rendered" in line, line
    errors = watcher.stderr.read_text()
    assert "reelmake: error:" in errors and "missing.png" in errors and "Traceback" not in errors
    assert (project.path / "build/final.mp4").read_bytes() == video
    project.write_script(script(SCENES))
    line = watcher.next_render()
    assert "build/final.mp4 rendered in" in line, line
    assert scene_hashes(project) == hashes  # the first render's scenes, joined again, none re-rendered

    watcher.process.send_signal(signal.SIGINT)
    assert watcher.process.wait(timeout=30) == 130
    assert "stopped watching" in watcher.stderr.read_text()


def test_watch_waits_for_another_render_then_ends_on_sigterm(
    new_project: Callable[..., Project], tmp_path: Path
) -> None:
    project = new_project(script(SCENES))
    with project_lock(project.path):  # another render holds the project when the watch starts
        watcher = WatchProcess(project.path, tmp_path / "watch.err")
        try:
            line = watcher.next_render()
            assert "not rendered: another process is rendering the project" in line, line
            assert "this project is being rendered" in watcher.stderr.read_text()
        except BaseException:
            watcher.stop()
            raise
    try:
        line = watcher.next_render()  # once that render has ended, with no change saved
        assert "build/final.mp4 rendered in" in line and "(the other render has ended)" in line, line
        # Snakemake's scheduler sets its own SIGTERM handler and leaves it: it must not outlive the render.
        watcher.process.send_signal(signal.SIGTERM)
        assert watcher.process.wait(timeout=30) == -signal.SIGTERM
    finally:
        watcher.stop()


def test_ctrl_c_during_a_watched_render_stops_it_in_one_line(watched: tuple[Project, WatchProcess]) -> None:
    project, watcher = watched
    logs = project.path / "logs"
    deadline = time.monotonic() + 120
    while not (logs.is_dir() and any(logs.rglob("*.log"))):  # the first render's jobs have started
        assert time.monotonic() < deadline and watcher.process.poll() is None, watcher.stderr.read_text()
        time.sleep(0.02)
    watcher.process.send_signal(signal.SIGINT)
    assert watcher.process.wait(timeout=60) == 130
    errors = watcher.stderr.read_text()
    assert "reelmake: stopped (Ctrl-C)" in errors and "Traceback" not in errors, errors
    assert not (project.path / "build/final.mp4").exists()
