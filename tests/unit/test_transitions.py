"""Transitions in the plan (which cuts fade, and what their hashes depend on) and the fade's pieces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from reelmake.bitstream import annexb_units, idr_frames, last_gop, parameter_sets, split_frames
from reelmake.clips import Planes, encode_pictures, render_still_clip, write_segment
from reelmake.plan import plan_project, remove_output, spec_path, transition_file, unused_outputs
from reelmake.skipframes import with_skip_pps
from reelmake.transitions import _decoded, fade_weights, render_fade, segment_length

SCRIPT = """## One
<!-- duration: 1 -->

## Two
<!-- duration: 1, transition: fade -->

## Three
<!-- duration: 1, transition: fade, transition_duration: 1 -->

## Four
<!-- duration: 1 -->
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"width": 320, "height": 180}))
    (tmp_path / "script.md").write_text(SCRIPT)
    return tmp_path


def test_scene_options_override_the_project_default(project: Path) -> None:
    plan = plan_project(project)
    fades = [t and (t.spec["kind"], t.spec["frames"]) for t in plan.transitions]
    assert fades == [None, ("fade", 15), ("fade", 30), None]
    everywhere = plan_project(project, {"transition": "fade", "transition_duration": 0.2})
    assert [t and t.spec["frames"] for t in everywhere.transitions] == [None, 6, 30, 6]
    assert [t.before for t in everywhere.transitions[1:]] == [s.hash for s in everywhere.scenes[:-1]]


def test_transitions_change_no_scene_hash(project: Path) -> None:
    cuts = plan_project(project, {"transition": "none"})
    fades = plan_project(project, {"transition": "fade", "transition_duration": 2})
    assert [s.hash for s in cuts.scenes] == [s.hash for s in fades.scenes]
    # Scene Three sets both its kind and duration: the project's settings do not reach its transition.
    assert cuts.transitions[2].hash == fades.transitions[2].hash
    assert cuts.transitions[1].hash != fades.transitions[1].hash  # its duration is the project's


def test_a_transition_hash_follows_its_neighbours(project: Path) -> None:
    before = plan_project(project, {"transition": "fade"})
    (project / "script.md").write_text(SCRIPT.replace("## Four", "## Four, edited"))
    after = plan_project(project, {"transition": "fade"})
    unchanged = [b.hash == a.hash for b, a in zip(before.transitions[1:], after.transitions[1:], strict=True)]
    assert unchanged == [True, True, False]


def test_composition_and_specs_name_the_transitions(project: Path) -> None:
    plan = plan_project(project, write=True)
    composition = json.loads((project / plan.composition_file).read_text())
    assert [s["transition"] for s in composition["scenes"]] == [t and t.hash for t in plan.transitions]
    spec = json.loads((project / spec_path(plan.transitions[1].hash)).read_text())
    assert (spec["before"], spec["after"]) == (plan.scenes[0].hash, plan.scenes[1].hash)


def test_gc_removes_transitions_no_longer_used(project: Path) -> None:
    plan = plan_project(project, write=True)
    for transition in filter(None, plan.transitions):
        for suffix in (".h264", ".json"):
            (project / transition_file(transition.hash, suffix)).parent.mkdir(exist_ok=True, parents=True)
            (project / transition_file(transition.hash, suffix)).write_bytes(b"x")
    (project / "script.md").write_text(SCRIPT.replace("transition_duration: 1", "transition_duration: 2"))
    plan_project(project, write=True)
    unused = unused_outputs(project)
    assert [p.name for p in unused] == [f"{plan.transitions[2].hash}.h264"]
    remove_output(project, unused[0])
    left = sorted(p.stem for p in (project / "build" / "transitions").glob("*.h264"))
    assert left == [plan.transitions[1].hash]
    assert not (project / spec_path(plan.transitions[2].hash)).exists()


def test_weights_rise_smoothly_to_exactly_one() -> None:
    weights = fade_weights(15)
    assert weights[-1] == 1 and 0 < weights[0] < 0.02
    assert np.all(np.diff(weights) > 0)
    assert fade_weights(1).tolist() == [1.0]


def _still(tmp_path: Path, name: str, colour: tuple[int, int, int], frames: int) -> tuple[Path, Path]:
    clip, record = tmp_path / f"{name}.h264", tmp_path / f"{name}.json"
    render_still_clip([Image.new("RGB", (64, 36), colour)], [(0, frames)], 30, clip, record)
    return clip, record


def test_stream_surgery_helpers(tmp_path: Path) -> None:
    clip, _ = _still(tmp_path, "red", (200, 30, 30), 150)
    stream = clip.read_bytes()
    assert idr_frames(stream) == [0, 60, 120]
    head, rest = split_frames(stream, 60)
    assert head + rest == stream and rest.startswith(b"\x00\x00\x00\x01" + parameter_sets(stream)[4:5])
    assert segment_length(stream, 150, 15) == 60 and segment_length(stream, 150, 61) == 120
    assert segment_length(stream, 150, 121) == 150
    gop = list(annexb_units(last_gop(stream)))
    assert sum(1 for u in gop if u[0] & 0x1F in (1, 5)) == 30  # frames 120..149


def test_fade_segment_shares_the_clips_parameters(tmp_path: Path) -> None:
    red, _ = _still(tmp_path, "red", (200, 30, 30), 40)
    blue, blue_record = _still(tmp_path, "blue", (30, 30, 200), 70)
    out, record = tmp_path / "fade.h264", tmp_path / "fade.json"
    render_fade(red, blue, blue_record, 15, 30, out, record)
    data = json.loads(record.read_text())
    assert data["frames"] == 60  # up to the keyframe at 2 s
    assert parameter_sets(out.read_bytes()) == parameter_sets(blue.read_bytes())
    # Into a still: the 15 faded frames are encoded, then the still's keyframe and skip frames.
    assert idr_frames(out.read_bytes()) == [0, 15]
    frames = [f.to_ndarray(format="yuv420p") for f in _decoded(out.read_bytes())]
    blue_picture = next(_decoded(blue.read_bytes())).to_ndarray(format="yuv420p")
    assert len(frames) == 60 and all(np.array_equal(f, blue_picture) for f in frames[15:])
    assert frames[0][0, 0] != blue_picture[0, 0]  # the first faded frame is mostly red


def test_a_fade_into_a_moving_clip_encodes_the_whole_segment(tmp_path: Path) -> None:
    red, _ = _still(tmp_path, "red", (200, 30, 30), 40)
    clip, record = tmp_path / "moving.h264", tmp_path / "moving.json"
    grey = Image.new("L", (32, 18), 128)
    pictures = (Planes(Image.new("L", (64, 36), 40 + i), grey, grey) for i in range(70))
    encode_pictures(pictures, [], 70, 30, (64, 36), tmp_path / "moving.piece")
    write_segment(with_skip_pps((tmp_path / "moving.piece").read_bytes()), 70, clip, record)
    out, out_record = tmp_path / "fade.h264", tmp_path / "fade.json"
    render_fade(red, clip, record, 15, 30, out, out_record)
    assert json.loads(out_record.read_text())["frames"] == 60 and idr_frames(out.read_bytes()) == [0]
    lumas = [f.to_ndarray(format="yuv420p")[5, 5] for f in _decoded(out.read_bytes())]
    assert all(abs(int(lumas[i]) - (40 + i)) <= 2 for i in range(15, 60))  # the clip's own frames, re-encoded
