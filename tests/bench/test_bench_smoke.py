"""`make bench` end to end on a tiny project: every figure is in the JSON, with sane values."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
FPS = 30
FRAME_MS = 1000 / FPS
STEPS = ("cold", "noop", "edit_narration", "replace_image", "reorder", "revert_narration", "compose_only")


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One run of the harness: 3 scenes at 320x180 (a slide, a photo, a clip), no MoviePy."""
    tmp = tmp_path_factory.mktemp("bench")
    command = [sys.executable, str(BENCH / "bench.py"), "--scenes", "3", "--size", "320x180", "--no-moviepy",
               "--no-load", "--results", str(tmp / "results"), "--workdir", str(tmp / "work")]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    (out,) = (tmp / "results").glob("*-3x180.json")
    assert "| figure | value | target | met? |" in run.stdout
    return json.loads(out.read_text())


def test_timed_steps(result: dict) -> None:
    steps = result["steps"]
    assert set(STEPS) <= set(steps)
    assert steps["cold"]["wall_s"] > 0 and steps["cold"]["scenes_rerendered"] == 3
    for name in STEPS:
        assert steps[name]["valid"], (name, steps[name]["problems"])
        assert steps[name]["wall_s"] > 0 and steps[name]["ratio_to_full"] > 0
    assert steps["noop"]["scenes_rerendered"] == 0 and steps["noop"]["nothing_to_be_done"]
    assert steps["edit_narration"]["scenes_rerendered"] == 1
    assert steps["replace_image"]["scenes_rerendered"] == 1
    assert steps["reorder"]["scenes_rerendered"] == 0
    assert steps["revert_narration"]["scenes_rerendered"] == 0
    assert steps["compose_only"]["scenes_rerendered"] == 0
    edits = ("edit_narration", "replace_image", "reorder", "revert_narration")
    watched = result["watch"].get("steps", {})  # the same changes through `reelmake watch`
    assert set(watched) == {"cold", *edits}, result["watch"]
    for name, step in watched.items():
        assert step["valid"] and step["wall_s"] > 0, (name, step)
    assert [watched[name]["scenes_rerendered"] for name in edits] == [1, 1, 0, 0]
    comp = result["composition"]
    assert comp["run_wall_s"] > 0 and comp["rule_s"] > 0 and comp["manifest_composition_s"] > 0


def test_rules_launches_tts_and_output(result: dict) -> None:
    rules = result["rules"]
    assert {"narration", "scene_image", "scene_clip", "compose"} <= set(rules)
    assert rules["narration"]["jobs"] == 3 and rules["scene_image"]["jobs"] == 3
    for row in rules.values():
        assert row["sum_s"] >= 0 and row["max_s"] is not None
    assert all(0 < r["max_rss_mb"] < 8000 for r in rules.values() if r["max_rss_mb"] is not None)
    launches = result["launches"]
    assert not launches.get("failed"), launches.get("note")
    assert "measured_on" in launches or "note" in launches
    if shutil.which("strace"):
        assert launches["total"] > 3, launches
    else:
        assert launches.get("total") is None
    tts = result["tts"]
    assert 15 < tts["narration_audio_s"] < 40 and tts["rule_x_realtime"] > 0
    assert tts["direct"]["x_realtime"] > 1
    out = result["output"]
    assert out["size_bytes"] > 0 and 0 < out["video_kbps"] < out["total_kbps"]


def test_quality(result: dict) -> None:
    q = result["quality"]
    assert not q.get("failed"), q.get("note")
    assert q["ssim_scenes"] == 2 and q["min_ssim"] > 0.9
    assert q["scenes_measured"] == 3 and q["scenes_unmeasured"] == []
    assert q["max_abs_offset_ms"] <= FRAME_MS + 1e-6
    assert q["end_offset_ms"] <= FRAME_MS + 1e-6


def test_motion(result: dict) -> None:
    """The photo re-rendered moving: one scene re-rendered, both costs measured (no timing asserts)."""
    motion = result["motion"]
    assert not motion.get("failed"), motion.get("note")
    assert motion["photo_scenes"] == 1 and motion["step"]["valid"]
    assert motion["step"]["scenes_rerendered"] == 1
    assert motion["video_s"] > 1 and motion["still_s_per_video_s"] > 0 and motion["moving_s_per_video_s"] > 0


def test_report(result: dict) -> None:
    assert result["moviepy"]["seconds"] is None and "no-moviepy" in result["moviepy"]["note"]
    machine = result["machine"]
    assert machine["cpu_count"] >= 1 and machine["mem_total_gib"] > 0 and machine["ffmpeg"]
    assert "before" in result["load"] and "error" not in result
    figures = {row["figure"] for row in result["targets"]}
    for wanted in ("MoviePy ÷ full render", "edit narration ÷ full", "replace image ÷ full", "reorder ÷ full",
                   "revert edit ÷ full", "composition (compose rule `s`)", "no-op run", "peak RSS of any job",
                   "min SSIM (mid-scene frame vs still)", "max |A/V offset| at scene starts",
                   "|audio end − video end|", "average video bitrate", "full render ÷ cold preview",
                   "full render ÷ preview after a full render (narration cached)",
                   "default settings (burned captions, moving photos): full render ÷ cold preview",
                   "video jobs per second of photo scene (Ken Burns)"):  # fmt: skip
        assert wanted in figures
    for name in ("preview", "preview_after_full"):
        preview = result[name]
        assert not preview.get("failed"), preview.get("note")
        assert preview["wall_s"] > 0 and preview["size"] == "320x180"  # a preview never enlarges
    defaults = result["defaults_preview"]
    assert not defaults.get("failed"), defaults.get("note")
    assert "motion" not in defaults["settings"] and "captions" not in defaults["settings"]
    assert defaults["full_wall_s"] > 0 and defaults["preview"]["size"] == "320x180"


def _two_colour_clip(path: Path, seconds: float) -> Path:
    """A 4:3 clip, red on the left half and blue on the right, so scaling and cropping show."""
    filters = "color=red:s=48x72:r=25[a];color=blue:s=48x72:r=25[b];[a][b]hstack"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", filters,
         "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_comparator_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MoviePy composing two tiny scenes: a still, then a clip scaled to cover the frame, held on its last
    frame, under a transparent overlay with a white box."""
    pytest.importorskip("moviepy")
    monkeypatch.syspath_prepend(str(BENCH))
    comparator = importlib.import_module("comparator")
    still = tmp_path / "still.png"
    Image.new("RGB", (160, 90), (20, 200, 20)).save(still)
    overlay = Image.new("RGBA", (160, 90), (0, 0, 0, 0))
    overlay.paste((255, 255, 255, 255), (70, 70, 90, 85))
    overlay.save(tmp_path / "overlay.png")
    clip = _two_colour_clip(tmp_path / "clip.mp4", 0.5)
    narration = tmp_path / "narration.wav"
    tone = (np.sin(np.arange(48000) / 48000 * 2 * np.pi * 440) * 8000).astype("<i2")
    with wave.open(str(narration), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(tone.tobytes())
    scenes = [
        comparator.ComparatorScene(still, narration, 1.0),
        comparator.ComparatorScene(tmp_path / "overlay.png", narration, 1.0, clip),
    ]
    assert comparator.render(scenes, tmp_path / "out.mp4", size=(160, 90), fps=FPS) > 0

    from reelmake.probe import probe

    report = probe(tmp_path / "out.mp4", decode="none")
    assert abs(report.frame_count - 2 * FPS) <= 1 and (report.width, report.height) == (160, 90)
    assert report.audio_streams == 1 and abs(report.audio_duration_s - 2.0) < 0.05
    with av.open(str(tmp_path / "out.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24").astype(int) for f in container.decode(video=0)]
    assert np.abs(frames[FPS // 2][45, 80] - (20, 200, 20)).max() < 40  # the still
    for frame in (frames[FPS + 5], frames[-3]):  # the clip, then its held last frame
        assert np.abs(frame[40, 20] - (255, 0, 0)).max() < 60  # red on the left
        assert np.abs(frame[40, 140] - (0, 0, 255)).max() < 60  # blue on the right
        assert np.abs(frame[78, 80] - (255, 255, 255)).max() < 40  # the overlay on top
