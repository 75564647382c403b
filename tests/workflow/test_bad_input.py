"""Bad input end to end: `reelmake check` and `snakemake` stop with one clear line, never a traceback.

Every error here is found while the workflow is parsed, so nothing is rendered and the tests are fast.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Project
from helpers import make_image

from reelmake.cli import main as reelmake_main


@dataclass(frozen=True)
class Case:
    script: str | bytes
    expected: tuple[str, ...]  # all of these appear in the one-line message
    outside_file: bool = False  # put a real image beside the project folder


CASES = {
    "missing-asset": Case(
        "---\ntitle: Bad\n---\n## Intro\nHello.\n\n## Photo\nLook.\n\n![p](assets/nope.png)\n",
        ("script.md:7", "scene 2 'Photo'", "'assets/nope.png' does not exist", "add the file"),
    ),
    "outside-project": Case(
        "## Intro\nHello.\n\n![p](../outside.png)\n",
        ("script.md:1", "scene 1 'Intro'", "'../outside.png' points outside the project", "copy the file"),
        outside_file=True,
    ),
    "broken-front-matter": Case(
        "---\ntitle: [unclosed\nfps: 30\n---\n## Intro\nHello.\n",
        ("script.md:", "is not valid YAML", "Fix the YAML syntax"),
    ),
    "no-scenes": Case(
        "---\ntitle: Empty\n---\nJust a note, and no heading.\n",
        ("script.md: has no scenes", "## Title"),
    ),
    "unknown-transition": Case(
        "## Intro\nHello.\n\n## Next\n<!-- transition: dissolve -->\nAgain.\n",
        ("script.md:4", "scene 2", "transition: 'dissolve' is not one of 'none', 'fade'"),
    ),
    "not-utf8": Case(
        "---\ntitle: Café\n---\n## Intro\nHello.\n".encode("latin-1"),
        ("script.md:2", "is not UTF-8 text", "byte 0xe9", "Save the file as UTF-8"),
    ),
}


def make(new_project: Callable[..., Project], case: Case) -> Project:
    project = new_project("## Placeholder\nReplaced below.\n")
    if isinstance(case.script, bytes):
        (project.path / "script.md").write_bytes(case.script)
    else:
        (project.path / "script.md").write_text(case.script, encoding="utf-8")
    if case.outside_file:
        make_image(project.path.parent / "outside.png", (32, 32), (200, 0, 0))
    return project


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("reelmake:")]


@pytest.mark.parametrize("name", list(CASES))
def test_check_exits_1_with_one_line(
    new_project: Callable[..., Project], capsys: pytest.CaptureFixture[str], name: str
) -> None:
    case = CASES[name]
    project = make(new_project, case)
    capsys.readouterr()  # drop what `reelmake new` printed
    assert reelmake_main(["check", str(project.path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("reelmake: error: script.md")
    for part in case.expected:
        assert part in lines[0], (part, lines[0])
    assert not (project.path / "build").exists()


@pytest.mark.parametrize("name", list(CASES))
def test_snakemake_stops_with_the_same_message(new_project: Callable[..., Project], name: str) -> None:
    case = CASES[name]
    project = make(new_project, case)
    result = project.snakemake(check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("reelmake: script.md")
    for part in case.expected:
        assert part in lines[0], (part, lines[0])
    assert not (project.path / "build" / "final.mp4").exists()
    assert not list(project.path.glob("build/scenes/*"))  # nothing was rendered


def test_the_installed_command_reports_the_same_way(new_project: Callable[..., Project]) -> None:
    project = make(new_project, CASES["missing-asset"])
    reelmake = Path(sys.executable).with_name("reelmake")
    result = subprocess.run(
        [str(reelmake), "check", str(project.path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "reelmake: error: script.md:7, scene 2 'Photo': 'assets/nope.png' does not exist; add the file or "
        "fix the path."
    ]
