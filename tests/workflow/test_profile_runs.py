"""Renders through `snakemake --profile` (as on a cluster) report from Snakemake's console output: the
service's worker run with `--profile profiles/local` shows the same jobs, progress and failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import Project

SCRIPT = "## One\n<!-- duration: 1 -->\nFirst.\n\n## Two\n<!-- duration: 1 -->\nSecond.\n"


def worker(project: Project, *args: str) -> tuple[int, list[dict[str, Any]]]:
    """Run the service's worker on the project; its exit status and the events it wrote."""
    result = subprocess.run(
        [sys.executable, "-m", "reelmake.service.worker", str(project.path), *args],
        capture_output=True, text=True, check=False, timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()]


def test_a_profile_render_reports_every_job_and_its_progress(new_project: Callable[..., Project]) -> None:
    project = new_project(SCRIPT)
    status, events = worker(project, "--profile", "profiles/local")
    assert status == 0, events
    hashes = [scene["hash"] for scene in project.manifest()["scenes"]]
    started = {(e["stage"], e["scene"]) for e in events if e["type"] == "started"}
    for scene_hash in hashes:
        assert {("narration", scene_hash), ("scene_image", scene_hash), ("scene_clip", scene_hash)} <= started
    assert ("compose", None) in started and ("publish", None) in started
    progress = [e for e in events if e["type"] == "progress"]
    assert [e["done"] for e in progress] == list(range(1, len(progress) + 1))
    assert progress[-1]["done"] == progress[-1]["total"]
    assert {e["scene"] for e in progress} >= set(hashes)  # each finished job is named with its scene
    resources = events[-1]
    assert resources["type"] == "resources" and resources["wall_s"] > 0 and resources["peak_memory_mb"] > 0


def test_a_failed_profile_render_names_the_step_not_every_scene(new_project: Callable[..., Project]) -> None:
    project = new_project(SCRIPT)
    project.snakemake()
    clip = next((project.path / "build" / "scenes").glob("*/clip.h264"))
    clip.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])  # the join refuses a damaged segment
    status, events = worker(project, "--profile", "profiles/local")
    assert status == 1
    assert ("compose", None) in {(e["stage"], e["scene"]) for e in events if e["type"] == "scene_failed"}
    assert events[-1] == {"type": "failed", "error": "step 'compose' failed (see the job log)"}


def test_the_jobs_of_a_failed_cluster_group_are_reported_failed() -> None:
    from reelmake.render import OutputReader, WorkflowEvents

    class Failures(WorkflowEvents):
        def __init__(self) -> None:
            super().__init__()
            self.failed: list[tuple[str, str | None]] = []

        def job_failed(self, rule: str, scene: str | None) -> None:
            self.failed.append((rule, scene))

    events = Failures()
    reader = OutputReader(events)
    scene = "0123456789abcdef"
    # A group job as the SLURM executor 2.x announces it, then its error report (shortened from a real one).
    output = f"""group job scene (jobs in lexicogr. order):
    rule scene_clip:
        output: build/scenes/{scene}/clip.h264
        jobid: 13
        wildcards: hash={scene}
Job 13 has been submitted with SLURM jobid 7 (log: /p/.snakemake/slurm_logs/group_scene/7.log).
[Fri Nov 27 21:54:04 2026]
    message: Error in group scene
    log: /p/.snakemake/slurm_logs/group_scene/7.log (check log file(s) for error details)
    jobs:
        rule scene_clip:
            jobid: 13
            output: build/scenes/{scene}/clip.h264
            log: logs/scene_clip/{scene}.log (check log file(s) for error details)
Logfile /p/.snakemake/slurm_logs/group_scene/7.log:
injected failure
    [Fri Nov 27 21:54:04 2026]
    Error in rule scene_clip:
        message: None
        jobid: 13
        output: build/scenes/{scene}/clip.h264
Shutting down, this might take some time.
"""
    for line in output.splitlines(keepends=True):
        reader.feed(line)
    assert set(events.failed) == {("scene_clip", scene)}
    report = reader.error_report()
    assert report.startswith("    message: Error in group scene") and "slurm_logs/group_scene/7.log" in report


def test_a_full_disk_met_by_snakemake_itself_is_reported_as_a_full_disk(tmp_path: Path) -> None:
    """Snakemake's own writes (metadata, benchmarks) can be the ones that find the disk full: the report
    then has no job's message, and the failure is still told as a full disk, naming the step's scene."""
    from reelmake.render import OutputReader, WorkflowEvents

    scene = "0123456789abcdef"
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "composition.json").write_text(
        json.dumps({"scenes": [{"index": 1, "hash": scene, "title": "Noise"}]})
    )
    events = WorkflowEvents()
    reader = OutputReader(events)
    output = f"""rule scene_clip:
    output: build/scenes/{scene}/clip.h264
    jobid: 4
    wildcards: hash={scene}

Error in rule scene_clip:
    message: None
    jobid: 4
    output: build/scenes/{scene}/clip.h264
    wildcards: hash={scene}
OSError: [Errno 28] No space left on device: '.snakemake/metadata/YnVpbGQ'
"""
    for line in output.splitlines(keepends=True):
        reader.feed(line)
    message = events.full_disk_message(tmp_path)
    assert message is not None and message.startswith(f"the disk holding {tmp_path / 'build'} is full (")
    assert message.endswith("for scene 1 'Noise'): free space and run again (`reelmake gc` lists rendered "
                            "files the script no longer uses)")  # fmt: skip
    quiet = WorkflowEvents()
    OutputReader(quiet).feed("Error in rule scene_clip:\n")
    assert quiet.full_disk_message(tmp_path) is None  # another failure is not called a full disk
