"""Shared fixtures: tiny real projects (320x180, short scenes) rendered with the real workflow."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from hypothesis import settings

from reelmake.cli import main as reelmake_main

SMALL = {"width": 320, "height": 180}

# `make soak` sets REELMAKE_SOAK=1: the fault suite runs its larger counts (kills, fuzz examples, load).
SOAK = os.environ.get("REELMAKE_SOAK") == "1"


def fault_count(bounded: int, soak: int) -> int:
    """How many times a fault test repeats: ``bounded`` in `make test`, ``soak`` in `make soak`."""
    return soak if SOAK else bounded


settings.register_profile("bounded", deadline=None, max_examples=60, derandomize=True, print_blob=True)
settings.register_profile("soak", deadline=None, max_examples=2000, print_blob=True)
settings.load_profile("soak" if SOAK else "bounded")


@dataclass
class Project:
    """A project folder made by `reelmake new`, built with the real `snakemake`."""

    path: Path

    def write_script(self, text: str) -> None:
        (self.path / "script.md").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")

    def snakemake(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "--cores", "2", *args],
            cwd=self.path, capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
        return result

    def scene_files(self) -> dict[str, int]:
        """Every per-scene output and its mtime (ns)."""
        return {
            str(p.relative_to(self.path)): p.stat().st_mtime_ns
            for p in sorted((self.path / "build" / "scenes").glob("*/*"))
        }

    def manifest(self) -> dict:
        import json

        return json.loads((self.path / "build" / "manifest.json").read_text())


def make_project(folder: Path, script: str, **settings: object) -> Project:
    """A small project in ``folder`` made by `reelmake new`, with ``script`` and SMALL plus ``settings``."""
    assert reelmake_main(["new", str(folder)]) == 0
    (folder / "config.yaml").write_text(yaml.safe_dump({**SMALL, **settings}))
    project = Project(folder)
    project.write_script(script)
    return project


@pytest.fixture
def new_project(tmp_path: Path) -> Callable[..., Project]:
    """Make a small project: ``new_project(script_text, **settings)``."""

    def make(script: str, **settings: object) -> Project:
        return make_project(tmp_path / "proj", script, **settings)

    return make
