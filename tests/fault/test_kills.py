"""A render killed at any moment loses nothing: the previous video stays (or is absent, never half-made;
a join that finished has put the new one in place after everything that goes with it), and a plain
`snakemake` then finishes a valid video, rendering again only what was unfinished."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from conftest import Project, fault_count

from fault.kill_support import (
    Kill,
    check_video,
    incomplete_files,
    kill_project,
    kill_render,
    start_render,
    timeline,
)

SEED = 8


def test_a_render_killed_at_random_moments_resumes_to_a_valid_video(
    new_project: Callable[..., Project], tmp_path: Path
) -> None:
    kills = fault_count(5, 50)
    rng = random.Random(SEED)
    project = new_project("## placeholder\n")
    kill_project(project, 0)
    started = time.time()
    project.snakemake()
    check_video(project)
    # The cold render's steps, as its job logs show them: each kill falls at a random moment of one step.
    steps = timeline(project, started)
    final = project.path / "build" / "final.mp4"
    record: list[Kill] = []
    for n in range(kills):
        previous = final.read_bytes()
        kill_project(project, n + 1)
        # The n-th of the kills falls in the n-th part of the step list: the kills cover it in turn.
        step = steps[int((n + rng.random()) / kills * len(steps))]
        kill = Kill(step, rng.uniform(0, step.duration_s), rng.choice(["group", "snakemake", "ffmpeg"]))
        started = time.time()
        kill_render(start_render(project, tmp_path / f"kill{n}.log"), project, kill, started)
        record.append(kill)
        if final.exists() and final.read_bytes() != previous:
            # Only a join that finished puts a new video in place, after everything that goes with it.
            assert project.manifest()["size_bytes"] == final.stat().st_size, kill
            assert (project.path / "build" / "poster.jpg").stat().st_mtime <= final.stat().st_mtime, kill
        unfinished = incomplete_files(project)
        before = {path: mtime for path, mtime in project.scene_files().items() if path not in unfinished}

        resumed = project.snakemake()

        check_video(project)
        after = project.scene_files()
        # What was finished before the kill was not rendered again.
        assert {p: after.get(p) for p in before if not Path(p).name.startswith(".")} == {
            p: m for p, m in before.items() if not Path(p).name.startswith(".")
        }, (kill, resumed.stderr[-3000:])
        assert not incomplete_files(project)
        assert not list((project.path / "build").rglob(".*.tmp-*")), kill  # no half-written file is left
    print("\ncold render steps:", ", ".join(f"{s.rule} {s.duration_s:.2f} s" for s in steps))
    print("kills (step, offset s, target, killed, running steps):")
    for kill in record:
        where = f"{kill.step.rule:<16} {kill.offset_s:5.2f}  {kill.target:<9}"
        print(f"  {where}  {kill.killed:<28}  {', '.join(kill.steps)}")
