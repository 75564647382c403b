"""A render on a disk that fills up: during the scenes, the join, the mux, and before anything starts.

Each time the render stops with one clear line (which disk, about how much more, what to do) and no
traceback, leaves no partial or empty file, keeps the previous video byte for byte, and once space is
freed a plain `snakemake` finishes, rendering only what was not finished.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Project

from fault.disk_support import (
    filled,
    free_bytes,
    leftovers,
    make_disk_project,
    media_bytes,
    set_photo_seconds,
    small_disk,
)
from reelmake import jobs
from reelmake.diskspace import MIN_FREE_BYTES, render_bytes
from reelmake.fsutil import link_all
from reelmake.plan import plan_project
from reelmake.probe import Expectation, check, probe


@dataclass(frozen=True)
class Stage:
    """Where the disk fills: what runs first on free space, what is left free, what the message names."""

    name: str
    prepare: tuple[str, ...]  # snakemake arguments of a run on free space before the disk is filled
    what: str  # the message's "for ..."
    failed_rule: str
    cli: bool = False  # run the failing render with `reelmake render` instead of `snakemake`

    def leave(self, project: Path) -> int:
        """Free bytes to leave: the margin reelmake needs to start, plus what the stage writes first."""
        if self.name == "mux":
            # Room for the joined narration track, not for the video: halfway between their sizes (the
            # old track is freed when the new one replaces it), plus Snakemake's own records.
            track = (project / "build" / "compose" / "narration.m4a").stat().st_size
            video = (project / "build" / "final.mp4").stat().st_size
            return max(MIN_FREE_BYTES, (track + video) // 2) + 100_000
        return MIN_FREE_BYTES + 64_000


STAGES = (
    Stage("scenes", (), "scene 2 'The photo'", "scene_image"),
    Stage("join", ("--omit-from", "compose"), "the final join", "compose"),
    Stage("mux", ("--omit-from", "compose"), "the final join", "compose", cli=True),
)


def render(project: Project, cli: bool) -> subprocess.CompletedProcess[str]:
    if not cli:
        return project.snakemake(check=False)
    command = [sys.executable, "-m", "reelmake.cli", "render", "--cores", "2", str(project.path)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def test_a_disk_that_fills_at_each_stage_stops_cleanly_and_the_next_run_resumes(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", 48) as disk:
        project = Project(make_disk_project(disk / "proj"))
        project.snakemake()
        # The estimate the service checks free space against is an upper bound of what a render writes.
        written = sum(media_bytes(project.path).values())
        assert written <= render_bytes((s.spec, s.seconds) for s in plan_project(project.path).scenes)
        final = project.path / "build" / "final.mp4"
        for seconds, stage in enumerate(STAGES, start=5):
            previous = final.read_bytes()
            set_photo_seconds(project.path, seconds)
            if stage.prepare:
                project.snakemake(*stage.prepare)
            before = project.scene_files()
            with filled(project.path, stage.leave(project.path)):
                result = render(project, stage.cli)
                output = result.stdout + result.stderr
                assert result.returncode != 0, f"{stage.name}: the render did not fail: {output[-2000:]}"
                message = re.search(
                    rf"the disk holding {re.escape(str(project.path / 'build'))} is full \(needed about "
                    rf"[\d.,]+ [kM]B more for {re.escape(stage.what)}\): free space and run again",
                    output,
                )
                assert message, f"{stage.name}: no full-disk message in: {output[-3000:]}"
                assert "Traceback" not in output and "Logging error" not in output, output[-3000:]
                assert final.read_bytes() == previous, f"{stage.name}: the published video changed"
                assert leftovers(project.path) == [], stage.name
                # Snakemake knows the failed step is still to do: nothing half-made counts as finished.
                planned = project.snakemake("-n", check=False).stdout
                assert re.search(rf"^{stage.failed_rule}\s+1$", planned, re.M), planned
            if stage.name == "mux":  # it failed writing the video, after the joined narration track
                assert "joining the scenes failed" in (project.path / "logs" / "compose.log").read_text()
            project.snakemake()
            after = project.scene_files()
            changed = {name for name in after if before.get(name) != after[name]}
            if stage.name == "scenes":  # only the edited scene, none of the recorded one's
                assert changed and all(project.manifest()["scenes"][1]["hash"] in n for n in changed)
            else:
                assert changed == set()
            manifest = project.manifest()
            assert manifest["scenes"][1]["end_s"] - manifest["scenes"][1]["start_s"] == pytest.approx(seconds)
            problems = check(probe(final), Expectation(640, 360, 30, manifest["duration_s"]))
            assert problems == [] and final.read_bytes() != previous


def test_a_disk_full_before_the_render_starts_is_one_line(tmp_path: Path) -> None:
    """Snakemake cannot write its own lock on a full disk (a traceback): reelmake refuses to start."""
    with small_disk(tmp_path / "disk", 16) as disk:
        project = Project(make_disk_project(disk / "proj"))
        with filled(project.path, 0):
            result = project.snakemake(check=False)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        assert re.search(
            r"reelmake: the disk holding .*/build is full \(needed about .* for this render\)", result.stderr
        )
        assert leftovers(project.path) == []
        project.snakemake()
        assert (project.path / "build" / "final.mp4").is_file()


def test_publishing_is_all_or_nothing_when_no_file_can_be_made(tmp_path: Path) -> None:
    """The publish step's hard links each need a file entry: with none left, no published file changes."""
    with small_disk(tmp_path / "disk", 4, files=200) as disk:
        staged = [disk / "staged" / name for name in ("a.srt", "final.mp4")]
        published = [disk / name for name in ("a.srt", "final.mp4")]
        staged[0].parent.mkdir()
        for path in staged:
            path.write_bytes(b"new")
        for path in published:
            path.write_bytes(b"old")
        fillers = disk / "fillers"
        fillers.mkdir()
        count = 0
        with pytest.raises(OSError) as full:
            # Use up the file entries (tmpfs counts hard links against them), leaving room for one link.
            while True:
                (fillers / str(count)).touch()
                count += 1
        assert full.value.errno == errno.ENOSPC
        (fillers / "0").unlink()
        assert free_bytes(disk) > 1_000_000  # bytes are free, file entries are not
        with pytest.raises(OSError) as failed:
            link_all(list(zip(staged, published, strict=True)))
        assert failed.value.errno == errno.ENOSPC
        assert [p.read_bytes() for p in published] == [b"old", b"old"]
        assert sorted(p.name for p in disk.iterdir()) == ["a.srt", "fillers", "final.mp4", "staged"]


def test_the_canonical_script_step_on_a_full_disk_names_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first step of a render can meet the full disk too (a disk another program fills): its message
    names the file it was writing, not the function."""
    with small_disk(tmp_path / "disk", 8) as disk:
        (disk / "build").mkdir()
        (disk / "script.md").write_text("## One\nA scene.\n" * 50, encoding="utf-8")
        monkeypatch.chdir(disk)
        with filled(disk, 0), pytest.raises(jobs.JobFailed) as failed:
            jobs.run_job(str(tmp_path / "step.log"), jobs.write_canonical_script, source="script.md",
                         out="build/script.yaml")  # fmt: skip
        assert re.fullmatch(
            rf"the disk holding {re.escape(str(disk / 'build'))} is full \(needed about [\d.,]+ [kM]B more "
            r"for the canonical script \(build/script\.yaml\)\): free space and run again "
            r"\(`reelmake gc` lists rendered files the script no longer uses\)",
            str(failed.value),
        ), str(failed.value)
        assert sorted(p.name for p in (disk / "build").iterdir()) == []  # nothing half-written
