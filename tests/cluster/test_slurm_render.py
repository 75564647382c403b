"""A project rendered through `--profile profiles/slurm` on a real one-node SLURM cluster.

`make test-cluster` starts the cluster (tests/cluster/slurm.sh) and runs this module with
REELMAKE_TEST_CLUSTER=1; the ordinary suite skips it, since it needs root and SLURM's daemons.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import SMALL, Project

from reelmake.cli import main as reelmake_main
from reelmake.probe import probe

pytestmark = pytest.mark.skipif(
    os.environ.get("REELMAKE_TEST_CLUSTER") != "1",
    reason="needs the SLURM cluster that `make test-cluster` starts",
)

SLURM_ARGS = ("--profile", "profiles/slurm")
# Added to the profile `reelmake new` writes: the test cluster has no accounting database, so squeue is
# the only source of job states (with sacct, Snakemake would wait for ever), and its jobs start at once.
TEST_CLUSTER_PROFILE = "slurm-status-command: squeue\nslurm-init-seconds-before-status-checks: 2\n"
# Inside a SLURM job (only there), every Python stops at start-up: a cluster job that fails.
FAILING_JOBS = """
import os

if os.environ.get("SLURM_JOB_ID"):
    os.write(2, b"injected failure: a Python started inside a SLURM job\\n")
    os._exit(3)
"""
# Snakemake waits for ever on a job SLURM never starts, and ignores SIGTERM: a run past this is killed.
RUN_TIMEOUT_S = 600
SCENE_RULES = ("scene_image", "narration", "scene_clip")
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")
SLURM_JOB_LINE = re.compile(r"SLURM job (\d+) on ")

SCRIPT = "".join(
    f"## Scene {n}\nThis is scene number {n}. It has one more sentence.\n\n" for n in range(1, 7)
)


def run_snakemake(project: Path, *args: str) -> str:
    """Run snakemake in the project; its whole output, or an AssertionError with its tail."""
    try:
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", *args],
            cwd=project, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
            env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as expired:
        tail = str(expired.stderr)[-6000:]
        raise AssertionError(f"snakemake {' '.join(args)} ran over {RUN_TIMEOUT_S} s:\n{tail}") from None
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{output[-6000:]}")
    return output


def submissions(output: str) -> dict[str, str]:
    """SLURM job id → its SLURM log, for every job this run submitted."""
    return dict(SUBMITTED.findall(output))


def job_logs(project: Path) -> dict[str, str | None]:
    """Every rule log (logs/<rule>/<hash>.log, logs/compose.log) → the SLURM job id it records."""
    found = {}
    for path in sorted((project / "logs").rglob("*.log")):
        match = SLURM_JOB_LINE.search(path.read_text(encoding="utf-8"))
        found[str(path.relative_to(project / "logs"))] = match.group(1) if match else None
    return found


def scene_hashes(project: Path) -> list[str]:
    composition = json.loads((project / "build" / "composition.json").read_text())
    return [scene["hash"] for scene in composition["scenes"]]


@pytest.fixture(scope="module")
def new_project(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Project]:
    """conftest's project maker (320x180), module-scoped: the tests below share one cluster render."""

    def make(script: str, name: str = "cluster") -> Project:
        folder = tmp_path_factory.mktemp(name) / "proj"
        assert reelmake_main(["new", str(folder)]) == 0
        (folder / "config.yaml").write_text(yaml.safe_dump(SMALL))
        with (folder / "profiles" / "slurm" / "config.yaml").open("a") as profile:
            profile.write(TEST_CLUSTER_PROFILE)
        project = Project(folder)
        project.write_script(script)
        return project

    return make


@pytest.fixture(scope="module")
def rendered(new_project: Callable[..., Project]) -> tuple[Project, str]:
    """The 6-scene project, rendered cold on the cluster; with that run's output."""
    project = new_project(SCRIPT)
    return project, run_snakemake(project.path, *SLURM_ARGS)


def test_every_scene_job_ran_under_a_slurm_job(rendered: tuple[Project, str]) -> None:
    project, output = rendered
    submitted = submissions(output)
    logs = job_logs(project.path)
    hashes = scene_hashes(project.path)
    assert len(hashes) == 6
    for scene in hashes:
        for rule in SCENE_RULES:
            assert logs[f"{rule}/{scene}.log"] in submitted, f"{rule} of {scene} did not run in a SLURM job"
    assert logs["compose.log"] in submitted
    assert logs["canonical_script.log"] is None  # a local rule: not worth a submission
    # Grouping: each scene's four steps shared one SLURM job, and several scenes shared one.
    per_scene = {scene: {logs[f"{rule}/{scene}.log"] for rule in SCENE_RULES} for scene in hashes}
    assert all(len(jobs) == 1 for jobs in per_scene.values()), per_scene
    assert len(submitted) < len(hashes) + 1, f"{len(submitted)} submissions for {len(hashes)} scenes"
    for log in submitted.values():
        assert Path(log).is_file(), f"no SLURM log at {log}"


def test_the_video_validates(rendered: tuple[Project, str]) -> None:
    project, _ = rendered
    report = probe(project.path / "build" / "final.mp4")
    total_frames = sum(s["frames"] for s in project.manifest()["scenes"])
    assert (report.width, report.height, report.video_codec, report.audio_codec) == (320, 180, "h264", "aac")
    assert report.frame_count == total_frames
    assert abs(report.audio_duration_s - report.video_duration_s) <= 1 / 30
    assert report.decode_errors == []


def test_a_second_run_plans_nothing(rendered: tuple[Project, str]) -> None:
    project, _ = rendered
    before = job_logs(project.path)
    output = run_snakemake(project.path, *SLURM_ARGS)
    assert "Nothing to be done" in output
    assert submissions(output) == {}
    assert job_logs(project.path) == before


def test_the_result_equals_a_local_render(
    rendered: tuple[Project, str], new_project: Callable[..., Project]
) -> None:
    cluster, _ = rendered
    local = new_project(SCRIPT, name="local")
    run_snakemake(local.path, "--cores", "2")  # profiles/default: jobs as threads of one process
    assert scene_hashes(local.path) == scene_hashes(cluster.path)
    assert local.manifest()["duration_s"] == cluster.manifest()["duration_s"]
    frames = [[s["frames"] for s in p.manifest()["scenes"]] for p in (local, cluster)]
    assert frames[0] == frames[1]
    for scene in scene_hashes(local.path):
        # Frame count and checksum of each segment: the same bytes either way.
        records = [(p.path / "build" / "scenes" / scene / "clip.json").read_text() for p in (local, cluster)]
        assert json.loads(records[0]) == json.loads(records[1])
    shutil.rmtree(local.path)


def test_one_scene_edit_submits_that_scene_and_the_composition(rendered: tuple[Project, str]) -> None:
    project, _ = rendered
    old = scene_hashes(project.path)
    before = job_logs(project.path)
    project.write_script(SCRIPT.replace("scene number 4.", "scene number four, edited."))
    output = run_snakemake(project.path, *SLURM_ARGS)
    new = scene_hashes(project.path)
    changed = [h for h in new if h not in old]
    assert len(changed) == 1 and new.index(changed[0]) == 3
    submitted = submissions(output)
    assert len(submitted) == 2, f"expected the scene's group and the composition: {submitted}"
    after = job_logs(project.path)
    ran_in_slurm = {log: job for log, job in after.items() if job is not None and before.get(log) != job}
    expected = {f"{rule}/{changed[0]}.log" for rule in SCENE_RULES} | {"compose.log"}
    assert set(ran_in_slurm) == expected
    assert set(ran_in_slurm.values()) == set(submitted)
    assert probe(project.path / "build" / "final.mp4", decode="none").frame_count == sum(
        s["frames"] for s in project.manifest()["scenes"]
    )


def test_a_failed_cluster_job_names_its_scene_and_slurm_log(
    rendered: tuple[Project, str], tmp_path: Path
) -> None:
    project, _ = rendered
    (tmp_path / "sitecustomize.py").write_text(FAILING_JOBS)
    project.write_script(SCRIPT.replace("scene number 2.", "scene number two, failing."))
    result = subprocess.run(
        [sys.executable, "-m", "reelmake.cli", "render", "--profile", "profiles/slurm", str(project.path)],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
        env={**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0
    failed = re.search(r"reelmake: scene 2 'Scene 2' failed \([0-9a-f]{16}\); SLURM log: (\S+)", output)
    assert failed, output[-4000:]
    assert "injected failure" in (project.path / failed[1]).read_text()
