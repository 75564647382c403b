"""Background music and recorded narration, rendered for real and measured in the published file.

The music is a low chord (55 and 82.5 Hz) where the voice has next to no energy, so its level can be read
from the decoded mix in that band, under speech and in the pauses alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import av
import numpy as np
import pytest
import yaml
from conftest import Project, make_project
from helpers import ebur128, make_sound

RATE = 48_000
MUSIC_BAND = (40.0, 100.0)
VOICE_TONE = 1000.0  # the recorded narration is a tone, easy to find
VOICE_LEAD_S, VOICE_TONE_S, VOICE_TAIL_S = 0.4, 1.2, 0.3
SCRIPT = """---
title: Music test
---
## Spoken
This scene is spoken over the music. It has two sentences.

## Gap
<!-- duration: 3 -->

## Recorded
<!-- voice_file: assets/voice.wav -->
A recorded line. And the second one, a little longer.

## Outro
<!-- duration: 5 -->
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = make_project(tmp_path_factory.mktemp("music") / "proj", SCRIPT, music="assets/music.wav")
    folder = project.path
    make_sound(folder / "assets" / "music.wav", 2.5, (55.0, 82.5), amplitude=0.5)  # shorter: it loops
    voice = folder / "assets" / "voice.wav"
    make_sound(voice, VOICE_TONE_S, (VOICE_TONE,), lead_s=VOICE_LEAD_S, tail_s=VOICE_TAIL_S, channels=1)
    project.snakemake()
    return project


def decoded(project: Project) -> np.ndarray:
    """The published file's sound, first channel, at 48 kHz."""
    with av.open(str(project.path / "build" / "final.mp4")) as container:
        return np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])


def band_db(audio: np.ndarray, start_s: float, end_s: float, band: tuple[float, float] = MUSIC_BAND) -> float:
    """Power (dB) of ``audio`` in a frequency band, over a time window (comparable across lengths)."""
    piece = audio[round(start_s * RATE) : round(end_s * RATE)]
    spectrum = np.abs(np.fft.rfft(piece * np.hanning(len(piece)))) ** 2
    freqs = np.fft.rfftfreq(len(piece), 1 / RATE)
    inside = (freqs > band[0]) & (freqs < band[1])
    return float(10 * np.log10(spectrum[inside].sum() / len(piece) ** 2 + 1e-20))


def scenes(project: Project) -> dict[str, dict]:
    return {s["title"]: s for s in project.manifest()["scenes"]}


def gap_level(project: Project, audio: np.ndarray, title: str = "Gap") -> float:
    """The music's level in the middle second of a silent scene."""
    start = scenes(project)[title]["start_s"]
    return band_db(audio, start + 1.0, start + 2.0)


def speech_level(project: Project, audio: np.ndarray) -> float:
    """The narration's level in the voice's band, over the first scene's sentences."""
    spoken = scenes(project)["Spoken"]
    timing = json.loads((project.path / "build" / "scenes" / spoken["hash"] / "timing.json").read_text())
    return band_db(audio, timing["cues"][0]["start_s"], timing["cues"][-1]["end_s"], (150.0, 4000.0))


def test_music_is_ducked_under_speech(project: Project) -> None:
    audio = decoded(project)
    spoken = scenes(project)["Spoken"]
    timing = json.loads((project.path / "build" / "scenes" / spoken["hash"] / "timing.json").read_text())
    gap = gap_level(project, audio)
    for cue in timing["cues"]:  # inside each sentence, away from its edges
        under_speech = band_db(audio, cue["start_s"] + 0.3, cue["end_s"] - 0.1)
        assert 8.0 <= gap - under_speech <= 16.0, (gap, under_speech)
    recorded = scenes(project)["Recorded"]["start_s"]
    under_recording = band_db(audio, recorded + VOICE_LEAD_S + 0.3, recorded + VOICE_LEAD_S + VOICE_TONE_S)
    assert 8.0 <= gap - under_recording <= 16.0


def test_the_mix_is_at_minus_14_lufs_under_minus_1_dbtp(project: Project) -> None:
    loudness, peak = ebur128(project.path / "build" / "final.mp4")
    assert -15.0 <= loudness <= -13.0
    assert peak <= -1.0
    manifest = project.manifest()
    assert manifest["loudness_lufs"] == pytest.approx(loudness, abs=0.5)
    assert manifest["true_peak_dbtp"] == pytest.approx(peak, abs=0.3)
    assert manifest["music"]["path"] == "assets/music.wav"


def test_short_music_loops_and_fades_in_and_out(project: Project) -> None:
    audio = decoded(project)
    gap, outro = gap_level(project, audio), gap_level(project, audio, "Outro")
    assert gap > -60  # the music is there
    assert outro == pytest.approx(gap, abs=2.0)  # 2.5 s of music still plays after 9 s: it loops
    # No dropout anywhere in a pause, seams included (100 ms windows hold several beats of the chord).
    for title in ("Gap", "Outro"):
        start = scenes(project)[title]["start_s"]
        levels = [band_db(audio, t, t + 0.1) for t in np.arange(start + 0.9, start + 2.0, 0.05)]
        assert min(levels) > gap - 3.0
    total = project.manifest()["duration_s"]
    assert band_db(audio, 0.0, 0.05) < gap - 20  # fading in...
    assert band_db(audio, total - 0.08, total - 0.03) < gap - 20  # ...and out


def test_a_recorded_scene_lasts_as_long_as_its_file_and_plays_in_place(project: Project) -> None:
    recorded = scenes(project)["Recorded"]
    seconds = VOICE_LEAD_S + VOICE_TONE_S + VOICE_TAIL_S
    assert recorded["frames"] == round(seconds * 30)
    audio = decoded(project)
    band = (VOICE_TONE - 100, VOICE_TONE + 100)
    steps = np.arange(recorded["start_s"], recorded["end_s"] - 0.02, 0.01)
    levels = np.array([band_db(audio, t, t + 0.02, band) for t in steps])
    onset = steps[np.argmax(levels > levels.max() - 20)]
    assert onset == pytest.approx(recorded["start_s"] + VOICE_LEAD_S, abs=0.025)
    offset = steps[len(levels) - 1 - np.argmax(levels[::-1] > levels.max() - 20)]
    assert offset == pytest.approx(recorded["start_s"] + VOICE_LEAD_S + VOICE_TONE_S, abs=0.04)
    # Its two sentences are captions, sharing the recording's sound by length.
    srt = (project.path / "build" / "final.srt").read_text()
    assert "A recorded line." in srt and "And the second one, a little longer." in srt


def test_changing_the_music_renders_no_scene_but_changes_the_sound(project: Project) -> None:
    before_files = project.scene_files()
    before = decoded(project)
    config = yaml.safe_load((project.path / "config.yaml").read_text())
    (project.path / "config.yaml").write_text(yaml.safe_dump({**config, "music_volume": -20}))
    result = project.snakemake()
    assert project.scene_files() == before_files
    assert "rule soundtrack" in result.stdout + result.stderr
    quieter = decoded(project)
    # 10 dB less music relative to the narration (mastering moves both: the whole mix is at -14 LUFS).
    # Measured 11.1: with louder music the limiter also trims the narration's peaks a little.
    drop = (gap_level(project, before) - speech_level(project, before)) - (
        gap_level(project, quieter) - speech_level(project, quieter)
    )
    assert drop == pytest.approx(10.0, abs=2.0)

    # A new, longer file: cut to the video, and still faded out at the end.
    sha = project.manifest()["music"]["sha256"]
    make_sound(project.path / "assets" / "music.wav", 30.0, (65.0,), amplitude=0.5)
    project.snakemake()
    assert project.scene_files() == before_files
    assert project.manifest()["music"]["sha256"] != sha
    replaced = decoded(project)
    start = scenes(project)["Gap"]["start_s"]
    assert (
        band_db(replaced, start + 1.0, start + 2.0, (60, 70))
        > band_db(before, start + 1.0, start + 2.0, (60, 70)) + 10
    )
    total = project.manifest()["duration_s"]
    assert band_db(replaced, total - 0.08, total - 0.03) < gap_level(project, replaced) - 20
    assert len(replaced) / RATE == pytest.approx(total, abs=0.05)


@pytest.mark.parametrize(
    ("config", "scene_option", "expected"),
    [
        ({"music": "assets/broken.mp3"}, "",
         "reelmake: config.yaml: setting music: 'assets/broken.mp3' cannot be decoded as audio"),
        ({}, "<!-- voice_file: assets/broken.mp3 -->",
         "reelmake: script.md:4, scene 2 'Two': 'assets/broken.mp3' cannot be decoded as audio"),
        ({}, "<!-- voice_file: assets/photo.png -->",
         "reelmake: script.md:4, scene 2 'Two': 'assets/photo.png' has no audio stream"),
        ({}, "<!-- voice_file: ../voice.wav -->",
         "reelmake: script.md:4, scene 2 'Two': '../voice.wav' points outside the project"),
    ],
)  # fmt: skip
def test_bad_sound_files_stop_the_build_with_one_line(
    new_project: Callable[..., Project], config: dict, scene_option: str, expected: str
) -> None:
    from helpers import make_image

    project = new_project(f"## One\nHello.\n\n## Two\n{scene_option}\nA line.\n", **config)
    (project.path / "assets" / "broken.mp3").write_bytes(b"\xff\xfb" + b"not really mp3 " * 50)
    make_image(project.path / "assets" / "photo.png", (16, 16), (9, 9, 9))
    make_sound(project.path.parent / "voice.wav", 1.0)
    result = project.snakemake(check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("reelmake:")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected), lines[0]
    assert not list(project.path.glob("build/scenes/*"))  # found before anything renders
