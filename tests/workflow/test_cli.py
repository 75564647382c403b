"""The `reelmake` command as a user runs it: new, check, render; and the full-size demo."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Project

from reelmake.cli import main
from reelmake.probe import Expectation, validate

REPO = Path(__file__).resolve().parents[2]


def reelmake(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it."""
    command = [sys.executable, "-m", "reelmake.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_new_makes_a_project_that_checks_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "launch"
    assert main(["new", str(folder)]) == 0
    for name in ("Snakefile", "script.md", "config.yaml", "assets", "profiles/default/config.yaml"):
        assert (folder / name).exists(), name
    assert main(["check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "3 scenes" in out and "1920x1080 30 fps" in out and out.rstrip().endswith("OK")


def test_new_refuses_a_folder_with_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["new", str(tmp_path)]) == 1
    assert "already exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_render_shows_progress_and_builds(new_project: Callable[..., Project]) -> None:
    project = new_project("## Hello\nA short scene.\n\n## Bye\n<!-- duration: 1 -->\n")
    result = reelmake("render", str(project.path))
    assert result.returncode == 0, result.stderr
    assert "━" in result.stderr and "done" in result.stderr
    assert "Traceback" not in result.stderr
    manifest = project.manifest()
    assert [s["title"] for s in manifest["scenes"]] == ["Hello", "Bye"]
    assert reelmake("render", "-n", str(project.path)).returncode == 0


def test_render_reports_a_bad_script_in_one_line(new_project: Callable[..., Project]) -> None:
    project = new_project("## Hello\n![x](assets/missing.png)\n")
    result = reelmake("render", str(project.path))
    assert result.returncode == 1
    assert "assets/missing.png' does not exist" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_demo_renders_full_size_and_validates(tmp_path: Path) -> None:
    """The demo project at 1920x1080, exactly as `make demo` renders it."""
    demo = tmp_path / "demo"
    generated = shutil.ignore_patterns("build", "logs", ".snakemake")
    shutil.copytree(REPO / "projects" / "demo", demo, ignore=generated)
    Project(demo).snakemake()
    manifest = Project(demo).manifest()
    assert (manifest["width"], manifest["height"], manifest["fps"]) == (1920, 1080, 30)
    assert len(manifest["scenes"]) == 5 and manifest["duration_s"] > 20
    report = validate(demo / "build" / "final.mp4", Expectation(1920, 1080, 30, manifest["duration_s"]))
    assert report.frame_count == sum(s["frames"] for s in manifest["scenes"])
    assert (demo / "build" / "final.srt").read_text().count("-->") >= 10
