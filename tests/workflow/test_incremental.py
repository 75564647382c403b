"""Scene-level incremental rebuilds: exactly which per-scene files each kind of change rebuilds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import Project, make_project

SCENES = {
    "One": "The first scene speaks.",
    "Two": "The second scene speaks.",
    "Three": "The third scene speaks.",
}


def script(scenes: dict[str, str], note: str = "A note that is not a scene.") -> str:
    body = "".join(f"## {title}\n{text}\n\n" for title, text in scenes.items())
    return f"---\ntitle: Incremental\n---\n{note}\n\n{body}"


def rebuilt(before: dict[str, int], after: dict[str, int]) -> set[str]:
    """Scene folders (hashes) with a file that is new or has a new mtime."""
    return {path.split("/")[2] for path, mtime in after.items() if before.get(path) != mtime}


def jobs_run(log: str) -> dict[str, int]:
    """Snakemake's "Job stats" table as {rule: count}."""
    table = log.split("Job stats:")[1].split("total")[0]
    rows = [line.split() for line in table.splitlines()[3:] if line.strip()]
    return {name: int(count) for name, count in rows}


def nothing_to_do(project: Project) -> bool:
    return "Nothing to be done" in project.snakemake("-n").stdout


@pytest.fixture(scope="module")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("incremental") / "proj", script(SCENES))
    project.snakemake()
    return project.path


@pytest.fixture
def project(built_once: Path, tmp_path: Path) -> Project:
    """A copy of the built project, mtimes and Snakemake's records included, for each test to change."""
    copy = tmp_path / "proj"
    shutil.copytree(built_once, copy, symlinks=True)
    return Project(copy)


def scene_order(project: Project) -> list[str]:
    return [s["title"] for s in project.manifest()["scenes"]]


def test_no_change_plans_nothing(project: Project) -> None:
    assert nothing_to_do(project)
    (project.path / "script.md").touch()
    assert nothing_to_do(project)


def test_edit_one_scene_rebuilds_only_that_scene(project: Project) -> None:
    hashes = {s["title"]: s["hash"] for s in project.manifest()["scenes"]}
    before = project.scene_files()
    final_before = (project.path / "build" / "final.mp4").stat().st_mtime_ns
    project.write_script(script({**SCENES, "Two": "The second scene says something new."}))
    result = project.snakemake()
    assert jobs_run(result.stderr) == {
        "canonical_script": 1, "narration": 1, "scene_image": 1, "scene_clip": 1, "compose": 1,
        "publish": 1, "all": 1,
    }  # fmt: skip
    changed = rebuilt(before, project.scene_files())
    new_hash = {s["title"]: s["hash"] for s in project.manifest()["scenes"]}["Two"]
    assert changed == {new_hash} and new_hash != hashes["Two"]
    new_files = {p.split("/")[3] for p in project.scene_files() if p.split("/")[2] == new_hash}
    assert new_files == {
        "image.png",
        "narration.wav",
        "narration.m4a",
        "timing.json",
        "clip.h264",
        "clip.json",
    }
    assert (project.path / "build" / "final.mp4").stat().st_mtime_ns > final_before
    assert nothing_to_do(project)

    # Reverting the edit: the old scene is still built, so no scene renders, only the join.
    before = project.scene_files()
    project.write_script(script(SCENES))
    project.snakemake()
    assert rebuilt(before, project.scene_files()) == set()
    assert {s["title"]: s["hash"] for s in project.manifest()["scenes"]} == hashes


def test_reorder_rebuilds_no_scene_and_changes_the_order(project: Project) -> None:
    before = project.scene_files()
    reordered = {"Three": SCENES["Three"], "One": SCENES["One"], "Two": SCENES["Two"]}
    project.write_script(script(reordered))
    result = project.snakemake()
    assert rebuilt(before, project.scene_files()) == set()
    assert jobs_run(result.stderr) == {"canonical_script": 1, "compose": 1, "publish": 1, "all": 1}
    assert scene_order(project) == ["Three", "One", "Two"]
    assert nothing_to_do(project)


def test_edit_outside_any_scene_rebuilds_no_scene(project: Project) -> None:
    before = project.scene_files()
    final_before = (project.path / "build" / "final.mp4").stat().st_mtime_ns
    project.write_script(script(SCENES, note="A different note, still not a scene."))
    project.snakemake()
    assert rebuilt(before, project.scene_files()) == set()
    assert (project.path / "build" / "final.mp4").stat().st_mtime_ns == final_before


def test_a_corrupt_join_is_never_published(project: Project) -> None:
    """Damage one scene's clip: the join fails validation with the reason, and the video published
    before stays as it was."""
    published = (project.path / "build" / "final.mp4").read_bytes()
    clip = next((project.path / "build" / "scenes").glob("*/clip.h264"))
    data = bytearray(clip.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = bytes((i * 37) % 256 for i in range(4096))
    clip.write_bytes(bytes(data))
    result = project.snakemake(check=False)
    assert result.returncode != 0
    assert "is damaged" in result.stderr and "Traceback" not in result.stderr
    assert (project.path / "build" / "final.mp4").read_bytes() == published
    assert not (project.path / "build" / "compose" / "final.mp4").exists()
    assert not list((project.path / "build").rglob(".final*"))


def test_gc_removes_only_scenes_the_script_no_longer_uses(project: Project) -> None:
    from reelmake.cli import main

    old = {s["hash"] for s in project.manifest()["scenes"]}
    project.write_script(script({**SCENES, "Two": "The second scene is replaced."}))
    project.snakemake()
    current = {s["hash"] for s in project.manifest()["scenes"]}
    assert len(list((project.path / "build" / "scenes").iterdir())) == 4
    assert main(["gc", str(project.path)]) == 0  # a dry run: it only shows what it would delete
    assert len(list((project.path / "build" / "scenes").iterdir())) == 4
    assert main(["gc", "--yes", str(project.path)]) == 0
    assert {p.name for p in (project.path / "build" / "scenes").iterdir()} == current
    assert {p.stem for p in (project.path / "build" / "specs").iterdir()} == current
    assert len(old - current) == 1
    assert nothing_to_do(project)
