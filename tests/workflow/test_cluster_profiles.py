"""What a project carries for cluster rendering, checked without a cluster (tests/cluster uses a real one)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import Project

from reelmake.cli import main
from reelmake.plan import plan_project
from reelmake.render import CHECKSUM_MAX_BYTES, failed_scenes


def test_new_writes_local_and_slurm_profiles(tmp_path: Path) -> None:
    assert main(["new", str(tmp_path / "p")]) == 0
    profiles = tmp_path / "p" / "profiles"
    local = yaml.safe_load((profiles / "local" / "config.yaml").read_text())
    slurm = yaml.safe_load((profiles / "slurm" / "config.yaml").read_text())
    assert local == {"cores": "all"}
    assert slurm["executor"] == "slurm" and slurm["latency-wait"] >= 10
    assert "scene=10" in slurm["group-components"]
    # Cluster jobs are processes of their own; threads are the local profile's business.
    assert "force-use-threads" not in slurm and slurm["cores"] == 2


def test_render_and_the_demo_run_as_the_default_profile_says(tmp_path: Path) -> None:
    """`reelmake render` passes Snakemake the profile's input hashing limit itself (it reads no profile),
    and the demo project carries the template's profile (it was once left behind)."""
    assert main(["new", str(tmp_path / "p")]) == 0
    profile = tmp_path / "p" / "profiles" / "default" / "config.yaml"
    assert yaml.safe_load(profile.read_text())["max-checksum-file-size"] == CHECKSUM_MAX_BYTES
    demo = Path(__file__).resolve().parents[2] / "projects" / "demo" / "profiles" / "default" / "config.yaml"
    assert demo.read_text() == profile.read_text()


def scene_clip_memory(project: Project, *config: str) -> set[int]:
    """The mem_mb Snakemake would request for each scene_clip job (a dry run)."""
    output = project.snakemake("-n", "--config", *config).stdout
    blocks = output.split("rule ")
    jobs = [b for b in blocks if b.startswith("scene_clip:")]
    return {int(m[1]) for b in jobs for m in re.finditer(r"mem_mb=(\d+)", b)}


def test_cluster_memory_grows_with_the_frame(new_project: Callable[..., Project]) -> None:
    project = new_project("## One\nA scene.\n\n## Two\nAnother scene.\n")
    # 300 MB + 700 MB per 1920x1080 of frame (rules/common.smk, figures in docs/scaling.md).
    assert scene_clip_memory(project, "width=320", "height=180") == {320}
    assert scene_clip_memory(project, "width=3840", "height=2160") == {3100}


def test_a_failed_cluster_job_is_named_by_scene_and_slurm_log(
    new_project: Callable[..., Project],
) -> None:
    project = new_project("## Intro\nHello.\n\n## Middle part\nMore.\n")
    plan = plan_project(project.path)
    failed = plan.scenes[1].hash
    # Snakemake's report of a failed group job (SLURM executor 2.8.0), shortened.
    report = f"""    message: Error in group scene
    log: /p/.snakemake/slurm_logs/group_scene_narration_scene_clip_scene_image/7.log (check)
    jobs:
        rule scene_clip:
            jobid: 13
            output: build/scenes/{failed}/clip.h264
"""
    assert failed_scenes(report, plan) == [
        f"scene 2 'Middle part' failed ({failed}); SLURM log: "
        "/p/.snakemake/slurm_logs/group_scene_narration_scene_clip_scene_image/7.log"
    ]
    compose_report = "Error in rule compose:\n    log: /p/.snakemake/slurm_logs/rule_compose/9.log (check)\n"
    assert failed_scenes(compose_report, plan) == ["SLURM log: /p/.snakemake/slurm_logs/rule_compose/9.log"]


def test_render_with_a_missing_profile_says_so(
    new_project: Callable[..., Project], capsys: pytest.CaptureFixture[str]
) -> None:
    project = new_project("## Intro\nHello.\n")
    assert main(["render", "--profile", "profiles/cloud", str(project.path)]) == 1
    assert "no profile folder profiles/cloud" in capsys.readouterr().err
