"""Recorded sound: decoding any common format, clear errors for files without sound, recorded narration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import make_image, make_sound, make_video

from reelmake.assets import inspect_audio
from reelmake.audiofile import AudioFileError, audio_duration, decode_audio
from reelmake.errors import UserError
from reelmake.speech import SAMPLE_RATE, from_recording


@pytest.mark.parametrize("ext", ["wav", "mp3", "m4a", "flac", "ogg"])
def test_every_common_format_decodes_to_48_khz(tmp_path: Path, ext: str) -> None:
    path = make_sound(tmp_path / f"tone.{ext}", 1.5, (440.0,), amplitude=0.5)
    assert audio_duration(path, 3600) == pytest.approx(1.5, abs=0.03)  # AAC adds its priming samples
    stereo = decode_audio(path, channels=2)
    mono = decode_audio(path, channels=1)
    assert stereo.shape[0] == 2 and mono.shape[0] == 1
    assert stereo.shape[1] == pytest.approx(1.5 * SAMPLE_RATE, abs=0.03 * SAMPLE_RATE)
    spectrum = np.abs(np.fft.rfft(mono[0]))
    assert np.fft.rfftfreq(mono.shape[1], 1 / SAMPLE_RATE)[spectrum.argmax()] == pytest.approx(440, abs=2)
    assert np.abs(stereo).max() == pytest.approx(0.5, abs=0.05)


def test_a_video_s_sound_track_is_sound(tmp_path: Path) -> None:
    assert audio_duration(make_video(tmp_path / "clip.mp4", 1.0), 3600) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_bytes(b"not a sound file at all " * 40), "cannot be decoded as audio"),
        (lambda p: make_image(p.with_suffix(".png"), (32, 32), (1, 2, 3)).rename(p), "has no audio stream"),
    ],
)
def test_files_without_sound_are_refused_clearly(tmp_path: Path, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "voice.mp3"
    make(path)
    with pytest.raises(AudioFileError, match=reason):
        audio_duration(path, 3600)
    with pytest.raises(UserError) as error:
        inspect_audio(path, shown_as="assets/voice.mp3")
    assert str(error.value).startswith(f"'assets/voice.mp3' {reason}")
    assert str(tmp_path) not in str(error.value)


def test_a_silent_video_has_no_audio_stream(tmp_path: Path) -> None:
    import subprocess

    import imageio_ffmpeg

    path = tmp_path / "silent.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=1:size=64x64",
         str(path)],
        check=True,
    )  # fmt: skip
    with pytest.raises(AudioFileError, match="has no audio stream"):
        audio_duration(path, 3600)


def test_a_recording_lasts_as_long_as_its_sound_and_its_sentences_share_it() -> None:
    rate = SAMPLE_RATE
    sound = np.concatenate([np.zeros(rate // 2), np.full(3 * rate, 0.1), np.zeros(rate // 4)])
    text = "Short one. This sentence is three times longer!"
    narration = from_recording(sound.astype(np.float32), text, fps=30, min_duration_s=0.0)
    assert narration.frames == 113  # 3.75 s is 112.5 frames: padded to whole frames
    assert np.array_equal(narration.samples[: len(sound)], sound.astype(np.float32))
    first, second = narration.cues
    assert (first.text, second.text) == ("Short one.", "This sentence is three times longer!")
    assert first.start_s == pytest.approx(0.5, abs=1e-3) and second.end_s == pytest.approx(3.5, abs=1e-3)
    assert first.end_s == second.start_s
    share = (first.end_s - first.start_s) / 3.0
    assert share == pytest.approx(len(first.text) / (len(first.text) + len(second.text)), abs=1e-3)


def test_a_recording_lasts_at_least_the_scene_duration() -> None:
    narration = from_recording(np.full(SAMPLE_RATE, 0.1, np.float32), "", fps=25, min_duration_s=4.0)
    assert narration.frames == 100 and narration.cues == ()


def test_a_user_s_sound_file_that_fails_is_a_user_error(tmp_path: Path) -> None:
    from reelmake.audiofile import load_sound

    path = tmp_path / "theme.ogg"
    path.write_bytes(b"OggS but not really" * 20)
    with pytest.raises(UserError, match=r"^.assets/theme.ogg. cannot be decoded as audio .*; use a sound"):
        load_sound(path, 2, shown_as="assets/theme.ogg")


def test_a_narration_the_encoder_pushes_over_minus_1_dbtp_is_lowered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from reelmake import jobs, loudness
    from reelmake.speech import read_wav

    make_sound(tmp_path / "voice.wav", 2.0, (440.0, 3000.0), lead_s=0.2, tail_s=0.2, channels=1)
    spec = tmp_path / "spec.json"
    voice = {"path": str(tmp_path / "voice.wav"), "sha256": "-"}
    spec.write_text(json.dumps({"fps": 30, "min_duration_s": 0.0, "narration": "Hi.", "voice_file": voice}))
    # A normalisation without the limiter's margin: peaks at full scale, over -1 dBTP once encoded.
    monkeypatch.setattr(loudness, "normalize", lambda samples, rate: samples / np.abs(samples).max())
    out = {name: tmp_path / name for name in ("narration.wav", "narration.m4a", "timing.json")}
    jobs.render_narration(
        str(spec), str(out["narration.wav"]), str(out["narration.m4a"]), str(out["timing.json"])
    )
    peak = json.loads(out["timing.json"].read_text())["true_peak_dbtp"]
    assert -2.0 < peak <= -1.0  # lowered by what the encoder added, aiming at -1.2 dBTP
    assert loudness.true_peak_db(decode_audio(out["narration.m4a"], 2)) == pytest.approx(peak, abs=1e-3)
    assert np.abs(read_wav(out["narration.wav"])).max() < 10 ** (-1.0 / 20)  # the WAV was lowered too
