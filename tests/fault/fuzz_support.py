"""Shared helpers of the hostile-input tests: tiny projects written by hand, `reelmake check` and
`snakemake` runs whose output must be one clear line, and the checks on a finished video."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import yaml

from reelmake.cli import main as reelmake_main
from reelmake.probe import Expectation, validate

SMALL = {"width": 320, "height": 180}


def write_project(folder: Path, script: str | bytes, **settings: object) -> Path:
    """A project made by `reelmake new` (small frames), with this script.md and settings."""
    with contextlib.redirect_stdout(io.StringIO()):
        assert reelmake_main(["new", str(folder)]) == 0
    data = script if isinstance(script, bytes) else script.encode("utf-8")
    (folder / "script.md").write_bytes(data)
    (folder / "config.yaml").write_text(yaml.safe_dump({**SMALL, **settings}))
    return folder


def check(project: Path) -> tuple[int, str, str]:
    """`reelmake check` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = reelmake_main(["check", str(project)])
    return status, out.getvalue(), err.getvalue()


def check_error(project: Path) -> str:
    """The one line `reelmake check` prints for a refused project (asserting that it is exactly that)."""
    status, out, err = check(project)
    assert status == 1, (status, out, err)
    assert out == "" and "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("reelmake: error: "), err
    return lines[0]


def check_ok(project: Path) -> str:
    status, out, err = check(project)
    assert status == 0 and err == "", err
    assert out.splitlines()[-1] == "OK", out
    return out


def snakemake(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `snakemake` in the project; stdin is empty, so nothing can wait on (or read) it."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=project, capture_output=True, text=True, env=env, check=False, stdin=subprocess.DEVNULL,
        timeout=600,
    )  # fmt: skip


def snakemake_error(project: Path) -> str:
    """The reason a failed `snakemake` run gave: its job's one-line error, with no Python traceback."""
    result = snakemake(project)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "Traceback" not in output, output[-5000:]
    assert not (project / "build" / "final.mp4").exists()
    return output


def rendered(project: Path) -> dict:
    """Render with `snakemake`; the final video must pass the full validation (every frame decoded)."""
    import json

    result = snakemake(project)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    manifest = json.loads((project / "build" / "manifest.json").read_text())
    config = yaml.safe_load((project / "config.yaml").read_text())
    validate(
        project / "build" / "final.mp4",
        Expectation(
            width=config["width"], height=config["height"], fps=30, duration_s=manifest["duration_s"]
        ),
    )
    return manifest
