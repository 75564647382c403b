"""`reelmake render --preview`: a small, separate render that never replaces the full one."""

from __future__ import annotations

import json
from collections.abc import Callable

from conftest import Project

from reelmake.cli import main
from reelmake.probe import probe

SCRIPT = "## First look\nA quick preview of the idea.\n\n## Second look\nAnd one more scene.\n"


def test_preview_renders_small_beside_the_full_render(new_project: Callable[..., Project]) -> None:
    project = new_project(SCRIPT, width=1280, height=720)
    project.snakemake()
    full = project.path / "build" / "final.mp4"
    full_mtime, full_scenes = full.stat().st_mtime_ns, project.scene_files()

    assert main(["render", "--preview", str(project.path)]) == 0
    preview = probe(project.path / "build" / "preview" / "final.mp4")
    assert (preview.width, preview.height, preview.decode_errors) == (640, 360, [])
    manifest = json.loads((project.path / "build" / "preview" / "manifest.json").read_text())
    assert abs(manifest["duration_s"] - project.manifest()["duration_s"]) < 1e-6  # same timing
    # The preview's scenes are new, but their narration is the full render's, reused rather than spoken.
    for full_scene, small_scene in zip(project.manifest()["scenes"], manifest["scenes"], strict=True):
        assert full_scene["hash"] != small_scene["hash"]
        wavs = [
            project.path / "build" / "scenes" / s["hash"] / "narration.wav" for s in (full_scene, small_scene)
        ]
        assert wavs[0].read_bytes() == wavs[1].read_bytes()
        log = (project.path / "logs" / "narration" / f"{small_scene['hash']}.log").read_text()
        assert "reused the narration made before" in log
    # The full render's files are untouched, and it has nothing to do afterwards.
    assert full.stat().st_mtime_ns == full_mtime
    assert all(project.scene_files()[name] == mtime for name, mtime in full_scenes.items())
    assert "Nothing to be done" in project.snakemake("-n").stdout

    # The same preview through Snakemake's config flag: already built. gc keeps both renders' scenes.
    assert "Nothing to be done" in project.snakemake("-n", "--config", "preview=true").stdout
    scenes = set(project.scene_files())
    assert main(["gc", "--yes", str(project.path)]) == 0
    assert set(project.scene_files()) == scenes
