"""Crossfades rendered for real: what the faded frames show, what stays exact, and what an edit re-renders."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import Project, make_project
from helpers import make_image, make_video
from test_incremental import jobs_run, nothing_to_do, rebuilt

from reelmake.transitions import fade_weights

RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (30, 200, 30)
# Scene options: the project fades (0.5 s = 15 frames); Green is 6 frames long but asks for a 1 s fade; the
# first clip cuts in (its own option), the second fades from the first.
SCRIPT = """---
title: Transitions
---
## Red
<!-- duration: 1 -->
![red](assets/red.png)

## Blue
<!-- duration: 2.5 -->
![blue](assets/blue.png)

Blue is calm.

## Green
<!-- duration: 0.2, transition_duration: 1 -->
![green](assets/green.png)

## Clip one
<!-- duration: 1, transition: none -->
![clip](assets/one.mp4)

## Clip two
<!-- duration: 2.5 -->
![clip](assets/two.mp4)
"""
FADE = 15


def _frames(video: Path) -> np.ndarray:
    with av.open(str(video)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)]).astype(np.float32)


def _audio(video: Path) -> np.ndarray:
    with av.open(str(video)) as container:
        return np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The script rendered with fades, then the same build again with `transition: none`."""
    project = make_project(tmp_path_factory.mktemp("transitions") / "proj", SCRIPT, transition="fade")
    folder = project.path
    for name, colour in (("red", RED), ("blue", BLUE), ("green", GREEN)):
        make_image(folder / "assets" / f"{name}.png", (320, 180), colour)
    make_video(folder / "assets" / "one.mp4", 1.0, size="200x150", rate=30)
    make_video(folder / "assets" / "two.mp4", 2.5, size="160x160", rate=30)
    project.snakemake()
    cuts = folder.parent / "cuts"
    shutil.copytree(folder, cuts, symlinks=True)
    result = Project(cuts).snakemake("--config", "transition=none")
    return {"fades": folder, "cuts": cuts, "cuts_jobs": result.stderr}


@pytest.fixture(scope="module")
def frames(renders: dict[str, Path]) -> dict[str, np.ndarray]:
    return {name: _frames(renders[name] / "build" / "final.mp4") for name in ("fades", "cuts")}


def starts(folder: Path) -> dict[str, int]:
    """Each scene's first frame in the video."""
    manifest = json.loads((folder / "build" / "manifest.json").read_text())
    return {s["title"]: round(s["start_s"] * manifest["fps"]) for s in manifest["scenes"]}


def corner(frame: np.ndarray) -> np.ndarray:
    """Mean colour of the top-right corner, away from the test image's disc and the title band."""
    return frame[5:45, 240:315].reshape(-1, 3).mean(axis=0)


def test_turning_transitions_off_renders_no_scene(renders: dict[str, Path]) -> None:
    assert jobs_run(renders["cuts_jobs"]) == {"compose": 1, "publish": 1, "all": 1}


def test_a_fade_blends_the_held_last_picture_into_the_next_scene(
    renders: dict[str, Path], frames: dict[str, np.ndarray]
) -> None:
    video = frames["fades"]
    blue = starts(renders["fades"])["Blue"]
    assert np.abs(corner(video[blue - 1]) - RED).max() < 6  # the scene before plays whole
    ramp = [corner(frame) for frame in video[blue : blue + FADE]]
    for colour, weight in zip(ramp, fade_weights(FADE), strict=True):
        assert np.abs(colour - ((1 - weight) * np.array(RED) + weight * np.array(BLUE))).max() < 6
    assert np.abs(ramp[0] - RED).max() < 8  # the first faded frame is nearly the scene before
    middle = corner(video[blue + FADE // 2])
    assert np.abs(middle - (np.array(RED) + BLUE) / 2).max() < 25
    reds, blues = np.array(ramp)[:, 0], np.array(ramp)[:, 2]
    assert np.all(np.diff(reds) <= 0.5) and np.all(np.diff(blues) >= -0.5) and blues[-1] - blues[0] > 150
    # After the fade: Blue's own picture, re-encoded up to its keyframe at 2 s, then its own bytes.
    cut = frames["cuts"]
    assert np.abs(video[blue + FADE :] - cut[blue + FADE :]).mean(axis=(1, 2, 3))[:60].max() < 1.5
    keyframe = blue + 60
    green = starts(renders["fades"])["Green"]
    assert green > keyframe and np.array_equal(video[keyframe:green], cut[keyframe:green])


def test_length_audio_and_scene_times_are_unchanged(
    renders: dict[str, Path], frames: dict[str, np.ndarray]
) -> None:
    fades, cuts = (
        json.loads((renders[k] / "build" / "manifest.json").read_text()) for k in ("fades", "cuts")
    )
    assert len(frames["fades"]) == len(frames["cuts"]) == sum(s["frames"] for s in fades["scenes"])
    assert fades["duration_s"] == cuts["duration_s"]
    assert [(s["start_s"], s["end_s"]) for s in fades["scenes"]] == [
        (s["start_s"], s["end_s"]) for s in cuts["scenes"]
    ]
    # The audio track is the same samples at the same times: the A/V offset cannot have moved.
    assert np.array_equal(
        _audio(renders["fades"] / "build" / "final.mp4"), _audio(renders["cuts"] / "build" / "final.mp4")
    )
    assert abs(fades["validation"]["audio_duration_s"] - fades["validation"]["video_duration_s"]) <= 1 / 30


def test_a_scene_shorter_than_its_fade_is_faded_in_over_its_length(
    renders: dict[str, Path], frames: dict[str, np.ndarray]
) -> None:
    at = starts(renders["fades"])
    green = [corner(f) for f in frames["fades"][at["Green"] : at["Clip one"]]]
    assert len(green) == 6
    for colour, weight in zip(green, fade_weights(6), strict=True):
        assert np.abs(colour - ((1 - weight) * np.array(BLUE) + weight * np.array(GREEN))).max() < 6
    assert np.abs(green[-1] - GREEN).max() < 6


def test_a_scene_option_cuts_and_clips_fade_into_clips(
    renders: dict[str, Path], frames: dict[str, np.ndarray]
) -> None:
    at = starts(renders["fades"])
    video, cut = frames["fades"], frames["cuts"]
    # `transition: none` on Clip one: its frames are the very frames of the render without transitions.
    assert np.array_equal(video[at["Clip one"] : at["Clip two"]], cut[at["Clip one"] : at["Clip two"]])
    held = cut[at["Clip two"] - 1]
    for j, weight in enumerate(fade_weights(FADE)):
        expected = (1 - weight) * held + weight * cut[at["Clip two"] + j]
        assert np.abs(video[at["Clip two"] + j] - expected).mean() < 4, j
    rest = slice(at["Clip two"] + 60, None)  # from the clip's keyframe at 2 s on, its own bytes
    assert np.array_equal(video[rest], cut[rest])


@pytest.fixture(scope="module")
def slides_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(
        tmp_path_factory.mktemp("slides") / "proj", slides("A", "B", "C", "D"), transition="fade"
    )
    project.snakemake()
    return project.path


def slides(*titles: str) -> str:
    return "".join(f"## {title}\n<!-- duration: 1 -->\n\n" for title in titles)


def transition_files(project: Project) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (project.path / "build" / "transitions").glob("*.h264")}


def composition_transitions(project: Project) -> dict[tuple[str, str], str]:
    """{(title before, title after): transition hash}."""
    scenes = json.loads((project.path / "build" / "composition.json").read_text())["scenes"]
    return {(a["title"], b["title"]): b["transition"] for a, b in itertools.pairwise(scenes)}


@pytest.fixture
def slides_project(slides_once: Path, tmp_path: Path) -> Project:
    copy = tmp_path / "proj"
    shutil.copytree(slides_once, copy, symlinks=True)
    return Project(copy)


def test_editing_a_scene_renders_it_and_its_two_transitions(slides_project: Project) -> None:
    project = slides_project
    scenes, fades = project.scene_files(), transition_files(project)
    old = composition_transitions(project)
    project.write_script(slides("A", "B", "C edited", "D"))
    result = project.snakemake()
    assert jobs_run(result.stderr) == {
        "canonical_script": 1, "narration": 1, "scene_image": 1, "scene_clip": 1,
        "transition": 2, "compose": 1, "publish": 1, "all": 1,
    }  # fmt: skip
    assert len(rebuilt(scenes, project.scene_files())) == 1
    new = composition_transitions(project)
    kept = old[("A", "B")] + ".h264"
    assert new[("A", "B")] == old[("A", "B")] and transition_files(project)[kept] == fades[kept]
    assert {new[("B", "C edited")], new[("C edited", "D")]}.isdisjoint(old.values())
    assert set(transition_files(project)) - set(fades) == {
        new[("B", "C edited")] + ".h264",
        new[("C edited", "D")] + ".h264",
    }
    assert nothing_to_do(project)


def test_reorder_renders_only_the_transitions_whose_neighbours_changed(slides_project: Project) -> None:
    project = slides_project
    scenes, fades = project.scene_files(), transition_files(project)
    old = composition_transitions(project)
    project.write_script(slides("A", "B", "D", "C"))
    result = project.snakemake()
    assert jobs_run(result.stderr) == {
        "canonical_script": 1,
        "transition": 2,
        "compose": 1,
        "publish": 1,
        "all": 1,
    }
    assert rebuilt(scenes, project.scene_files()) == set()
    after = transition_files(project)
    assert {name: after[name] for name in fades} == fades
    assert composition_transitions(project)[("A", "B")] == old[("A", "B")]
    assert nothing_to_do(project)


def test_the_poster_from_the_segments_is_the_frame_of_the_video(
    renders: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The join makes the poster from the segments while they are muxed; it must be the very picture the
    # video shows: in a fade, in a still after it, in a scene shorter than its fade, in a clip after its
    # keyframe, at the first and the last frame.
    from reelmake.compose import SceneMedia, _frame_shown_at, _poster
    from reelmake.poster import poster_jpeg

    folder = renders["fades"]
    monkeypatch.chdir(folder)
    plan = json.loads((folder / "build" / "composition.json").read_text())
    scenes = [SceneMedia(s["index"], s["id"], s["title"], s["hash"], s["transition"]) for s in plan["scenes"]]
    entries = json.loads((folder / "build" / "manifest.json").read_text())["scenes"]
    first = starts(folder)
    total = sum(e["frames"] for e in entries)
    wanted = [
        0,
        first["Blue"] + 7,
        first["Blue"] + FADE + 20,
        first["Green"] + 3,
        first["Clip two"] + 70,
        total - 1,
    ]
    with av.open(str(folder / "build" / "final.mp4")) as container:
        pictures = [f.to_image() for f in itertools.islice(container.decode(video=0), total)]
    for frame in wanted:
        assert _poster(scenes, entries, frame, "T") == poster_jpeg(pictures[frame], "T"), frame
    assert [_frame_shown_at(s, 30) for s in (0.0, 2.0, 2.0 + 1e-7, 2.01, 59 / 30)] == [0, 60, 60, 61, 59]
