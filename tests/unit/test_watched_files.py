"""reelmake.watch: which files are watched, and when a change counts as saved."""

from __future__ import annotations

from pathlib import Path

from reelmake.watch import changed_files, snapshot, wait_for_change


def _project(tmp_path: Path) -> Path:
    for name in ("script.md", "config.yaml", "assets/photo.png", "assets/sub/clip.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    return tmp_path


def test_the_snapshot_has_the_projects_inputs_and_not_what_renders_write(tmp_path: Path) -> None:
    project = _project(tmp_path)
    for written in ("build/final.mp4", "logs/compose.log", ".snakemake/log/x.log", ".script.md.swp"):
        (project / written).parent.mkdir(parents=True, exist_ok=True)
        (project / written).write_text("x")
    # A folder named build below the project's top is an input folder like any other.
    (project / "assets/build").mkdir()
    (project / "assets/build/title.png").write_text("x")

    files = snapshot(project)

    assert sorted(files) == [
        "assets/build/title.png", "assets/photo.png", "assets/sub/clip.mp4", "config.yaml", "script.md",
    ]  # fmt: skip
    assert files["script.md"][1] == len("script.md")


def test_changed_files_are_the_added_removed_and_modified_ones(tmp_path: Path) -> None:
    project = _project(tmp_path)
    before = snapshot(project)
    (project / "script.md").write_text("a longer script")
    (project / "assets/photo.png").unlink()
    (project / "assets/new.png").write_text("new")

    assert changed_files(before, snapshot(project)) == ["assets/new.png", "assets/photo.png", "script.md"]
    assert changed_files(before, before) == []


def test_a_change_counts_once_the_files_hold_still(tmp_path: Path) -> None:
    project = _project(tmp_path)
    seen = snapshot(project)
    clip = project / "assets/copied.mp4"
    # What happens between polls: nothing, then a clip starts being copied in, grows, and is complete.
    events = [lambda: None, lambda: clip.write_bytes(b"x" * 10), lambda: clip.write_bytes(b"x" * 20)]
    polls = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if events:
            events.pop(0)()

    settled = wait_for_change(project, seen, sleep=sleep)

    assert settled["assets/copied.mp4"][1] == 20  # never the half-copied clip
    assert len(polls) == 4  # no change, a change, still changing, then the same twice
