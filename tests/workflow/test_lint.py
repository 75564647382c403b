"""Snakemake's own linter on the shared workflow (through the demo project's module Snakefile)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "projects" / "demo"
# Renders need no conda or container: every tool comes from reelmake's own pip dependencies.
ACCEPTED = {"Specify a conda environment or container for each rule."}


def test_snakemake_lint_finds_nothing_else() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--cores", "1"],
        cwd=DEMO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    found = set(re.findall(r"^\s+\* (.+?):?$", result.stdout + result.stderr, re.M))
    assert found <= ACCEPTED, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
