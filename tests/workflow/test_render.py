"""A small real project rendered once with the real workflow; properties of what comes out."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import av
import numpy as np
import pytest
from helpers import ebur128, expected_picture, make_image, make_video
from PIL import Image
from scipy.signal import correlate

from reelmake.loudness import integrated_lufs
from reelmake.probe import probe
from reelmake.speech import read_wav

FPS = 30
# The photo is still (motion: none) because every frame is compared with its scene's still picture;
# tests/workflow/test_motion_render.py renders moving ones.
SCRIPT = """---
title: Render test
---
## The first slide
This scene is a slide. It has two sentences.

## A photo
<!-- motion: none -->
A blue photo, fitted to the frame.

![photo](assets/photo.jpg)

## A clip
<!-- duration: 1.5 -->
![clip](assets/clip.mp4)

## The last word
Thank you for watching!
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import make_project

    project = make_project(tmp_path_factory.mktemp("render") / "proj", SCRIPT)
    make_image(project.path / "assets" / "photo.jpg", (500, 500), (30, 80, 220))
    make_video(project.path / "assets" / "clip.mp4", 1.0, size="200x150", rate=25)
    project.snakemake()
    return project.path


def manifest(built: Path) -> dict:
    return json.loads((built / "build" / "manifest.json").read_text())


def test_streams_size_rate_and_durations(built: Path) -> None:
    report = probe(built / "build" / "final.mp4")
    total_frames = sum(s["frames"] for s in manifest(built)["scenes"])
    assert (report.video_codec, report.profile, report.pix_fmt) == ("h264", "High", "yuv420p")
    assert (report.width, report.height, report.fps, report.constant_frame_rate) == (320, 180, "30/1", True)
    assert (report.audio_codec, report.sample_rate, report.faststart) == ("aac", 48000, True)
    assert report.frame_count == total_frames
    assert report.video_duration_s == pytest.approx(total_frames / FPS, abs=1e-3)
    assert abs(report.audio_duration_s - report.video_duration_s) <= 1 / FPS
    assert report.decode_errors == []


def test_manifest_lists_contiguous_scenes(built: Path) -> None:
    data = manifest(built)
    for key in ("title", "duration_s", "width", "height", "fps", "size_bytes", "video_codec", "audio_codec",
                "composition_s", "created_at"):  # fmt: skip
        assert key in data
    scenes = data["scenes"]
    assert [s["title"] for s in scenes] == ["The first slide", "A photo", "A clip", "The last word"]
    assert scenes[0]["start_s"] == 0
    for before, after in itertools.pairwise(scenes):
        assert after["start_s"] == before["end_s"]
    assert scenes[-1]["end_s"] == pytest.approx(data["duration_s"])
    assert scenes[2]["frames"] == 45  # the clip scene's own duration: 1.5 s
    assert data["size_bytes"] == (built / "build" / "final.mp4").stat().st_size
    assert data["title"] == "Render test" and (data["width"], data["height"], data["fps"]) == (320, 180, 30)


def _srt_cues(text: str) -> list[tuple[float, float, str]]:
    def seconds(stamp: str) -> float:
        hms, ms = stamp.split(",")
        h, m, s = map(int, hms.split(":"))
        return h * 3600 + m * 60 + s + int(ms) / 1000

    cues = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        start, end = lines[1].split(" --> ")
        cues.append((seconds(start), seconds(end), " ".join(lines[2:])))
    return cues


def test_captions_are_timed_inside_their_scenes(built: Path) -> None:
    cues = _srt_cues((built / "build" / "final.srt").read_text())
    scenes = manifest(built)["scenes"]
    assert [c[2] for c in cues] == [
        "This scene is a slide.", "It has two sentences.", "A blue photo, fitted to the frame.",
        "Thank you for watching!",
    ]  # fmt: skip
    owners = [scenes[0], scenes[0], scenes[1], scenes[3]]
    for (start, end, _), scene in zip(cues, owners, strict=True):
        assert scene["start_s"] < start < end < scene["end_s"]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(cues))


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]


def test_every_frame_shows_its_own_scene(built: Path) -> None:
    """Cuts land on the exact frame: each frame matches its scene's still (or, for the clip, neither).

    The photo scene's still carries its burned-in caption on the frames where the cue is shown.
    """
    frames = _frames(built / "build" / "final.mp4")
    scenes = manifest(built)["scenes"]
    stills = {
        s["index"]: np.asarray(
            Image.open(built / "build" / "scenes" / s["hash"] / "image.png").convert("RGB")
        )
        for s in scenes
        if s["title"] != "A clip"
    }
    cursor = 0
    for scene in scenes:
        folder = built / "build" / "scenes" / scene["hash"]
        for number, frame in enumerate(frames[cursor : cursor + scene["frames"]]):
            if scene["index"] in stills:
                assert np.abs(frame - np.asarray(expected_picture(folder, number))).mean() < 4
            else:
                assert all(np.abs(frame - still).mean() > 20 for still in stills.values())
        cursor += scene["frames"]
    assert cursor == len(frames)


def test_each_scene_audio_starts_with_its_first_frame(built: Path) -> None:
    """Locate each scene's narration in the final audio: it must sit within one frame of where it belongs."""
    with av.open(str(built / "build" / "final.mp4")) as container:
        audio = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    rate = 48000
    for scene in manifest(built)["scenes"]:
        wav = read_wav(built / "build" / "scenes" / scene["hash"] / "narration.wav")
        loud = np.flatnonzero(np.abs(wav) > 0.01)
        if loud.size == 0:
            assert np.abs(audio[round(scene["start_s"] * rate) : round(scene["end_s"] * rate)]).max() < 0.01
            continue
        probe_at = loud[0]
        needle = wav[probe_at : probe_at + rate // 2]
        expected = round(scene["start_s"] * rate) + probe_at
        search = rate // 10
        haystack = audio[expected - search : expected + search + len(needle)]
        lag = int(np.argmax(correlate(haystack, needle, mode="valid", method="fft"))) - search
        assert abs(lag) <= rate // FPS, f"scene {scene['index']} audio is {lag} samples off"


def test_loudness_is_publishable(built: Path) -> None:
    with av.open(str(built / "build" / "final.mp4")) as container:
        audio = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    # Both channels carry the same signal; the module measures that dual-mono convention.
    assert -16 <= integrated_lufs(audio, 48000) <= -12
    assert -16 <= manifest(built)["loudness_lufs"] <= -12


def test_canonical_script_yaml(built: Path) -> None:
    import yaml

    data = yaml.safe_load((built / "build" / "script.yaml").read_text())
    assert data["title"] == "Render test"
    assert [s["title"] for s in data["scenes"]][:2] == ["The first slide", "A photo"]
    assert data["scenes"][1]["visual"] == "assets/photo.jpg"
    assert data["scenes"][2]["duration"] == 1.5


def test_probe_command_prints_the_report(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reelmake.cli import main

    assert main(["probe", str(built / "build" / "final.mp4")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["width"] == 320 and report["decode_errors"] == []
    platform = {c["check"]: c for c in report["platform"]}
    assert all(c["ok"] for name, c in platform.items() if name != "keyframe interval"), platform
    assert platform["keyframe interval"]["actual"].endswith("frames)")  # 2 s GOPs: reported, not hidden


def test_chapters_one_per_scene_in_the_mp4_and_as_a_list(built: Path) -> None:
    from reelmake.compose import chapter_starts

    scenes = manifest(built)["scenes"]
    starts = chapter_starts(built / "build" / "final.mp4")
    assert starts == pytest.approx([s["start_s"] for s in scenes], abs=1e-3)
    with av.open(str(built / "build" / "final.mp4")) as container:
        assert [c["metadata"]["title"] for c in container.chapters()] == [s["title"] for s in scenes]
    listed = (built / "build" / "chapters.txt").read_text().splitlines()
    assert listed[0] == "00:00 The first slide" and len(listed) == len(scenes)


def test_vtt_carries_the_same_cues_as_srt(built: Path) -> None:
    vtt = (built / "build" / "final.vtt").read_text()
    srt = (built / "build" / "final.srt").read_text()
    assert vtt.startswith("WEBVTT\n\n")
    assert vtt.count(" --> ") == srt.count(" --> ") == 4
    assert "00:00:00." in vtt and "Thank you for watching!" in vtt


def test_poster_is_a_720p_frame_of_the_first_scene(built: Path) -> None:
    poster = Image.open(built / "build" / "poster.jpg")
    assert poster.format == "JPEG" and poster.size == (1280, 720)
    first = manifest(built)["scenes"][0]["hash"]
    still = Image.open(built / "build" / "scenes" / first / "image.png").convert("RGB").resize((1280, 720))
    assert np.abs(np.asarray(poster, np.int16) - np.asarray(still, np.int16)).mean() < 8


def test_narration_only_track_meets_loudness_and_true_peak(built: Path) -> None:
    # ffmpeg's own EBU R128 meter, on the published file: -14 LUFS ±1, true peak at most -1 dBTP.
    loudness, peak = ebur128(built / "build" / "final.mp4")
    assert -15 <= loudness <= -13
    assert peak <= -1.0
    data = manifest(built)
    assert data["true_peak_dbtp"] <= -1.0 and data["music"] is None
    assert data["true_peak_dbtp"] == pytest.approx(peak, abs=0.3)
    assert data["loudness_lufs"] == pytest.approx(loudness, abs=0.5)


def test_every_segment_has_the_same_stream_parameters(built: Path) -> None:
    """Slides, photos and clips share one SPS/PPS (colour tags and pixel aspect included): one stream."""
    from reelmake.bitstream import parameter_sets

    sets = {parameter_sets((built / "build" / "scenes" / s["hash"] / "clip.h264").read_bytes())
            for s in manifest(built)["scenes"]}  # fmt: skip
    assert len(sets) == 1
