"""Mixing background music: true peak, the limiter, looping, fades, ducking and mastering, measured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import make_sound

from reelmake.loudness import (
    PEAK_LIMIT_DB,
    TARGET_LUFS,
    integrated_lufs,
    limit_true_peak,
    sliding_min,
    stereo_lufs,
    true_peak_db,
)
from reelmake.soundtrack import (
    DUCK_DB,
    FADE_IN_S,
    FADE_OUT_S,
    LOOP_CROSSFADE_S,
    LOOP_SEARCH_S,
    duck_gain,
    fade_envelope,
    fit_music,
    loop_point,
    master,
    music_bed,
)

RATE = 48_000


def tone(freq: float, seconds: float, amplitude: float = 0.5, phase: float = 0.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def faded(x: np.ndarray) -> np.ndarray:
    """10 ms ramps at both ends: a step from silence would itself overshoot between samples."""
    index = np.arange(len(x))
    return (x * np.minimum(1.0, np.minimum(index, index[::-1]) / 480)).astype(np.float32)


def test_true_peak_finds_the_peak_between_samples() -> None:
    # A quarter-rate sine at 45°: every sample is at 0.707 (-3 dBFS), the wave itself reaches 1.0.
    x = faded(tone(RATE / 4, 1.0, amplitude=1.0, phase=np.pi / 4))
    assert 20 * np.log10(np.abs(x).max()) == pytest.approx(-3.01, abs=0.01)
    assert true_peak_db(x) == pytest.approx(0.0, abs=0.05)


@pytest.mark.parametrize("freq", [100, 1000, 5000, 10_000, 15_000, 19_000])
@pytest.mark.parametrize("phase", [0.0, 0.4, 1.1])
def test_true_peak_of_sines_across_the_band(freq: int, phase: float) -> None:
    x = faded(tone(freq, 1.0, amplitude=0.5, phase=phase))
    assert true_peak_db(x) == pytest.approx(20 * np.log10(0.5), abs=0.1)
    assert true_peak_db(np.stack([x * 0.1, x])) == pytest.approx(true_peak_db(x))  # the loudest channel


def test_true_peak_of_silence() -> None:
    assert true_peak_db(np.zeros((2, 1000), np.float32)) == float("-inf")


def test_sliding_min_matches_brute_force() -> None:
    values = np.random.default_rng(1).random(1003)
    for width in (1, 7, 64):
        expected = [values[i : i + width].min() for i in range(len(values) - width + 1)]
        assert np.array_equal(sliding_min(values, width), expected)


def test_stereo_loudness_sums_the_channels() -> None:
    x = tone(1000, 10.0, amplitude=0.1)  # -20 dBFS peak: -23 LUFS in one channel
    assert stereo_lufs(np.stack([x, x]), RATE) == pytest.approx(integrated_lufs(x, RATE), abs=0.01)
    assert stereo_lufs(np.stack([x, x]), RATE) == pytest.approx(-20.0, abs=0.1)
    assert stereo_lufs(np.stack([x, np.zeros_like(x)]), RATE) == pytest.approx(-23.0, abs=0.1)


def test_limiter_holds_the_ceiling_and_leaves_the_rest_alone() -> None:
    quiet = tone(440, 4.0, amplitude=0.1)
    signal = quiet.copy()
    burst = slice(2 * RATE, 2 * RATE + 4800)  # 100 ms at +6 dB over full scale... of the ceiling
    signal[burst] = tone(3000, 0.1, amplitude=1.6)
    out = limit_true_peak(np.stack([signal, signal]), RATE, -3.0)
    assert true_peak_db(out) <= -3.0 + 1e-4
    # Far from the burst (beyond the hold and the ramp) nothing changes.
    assert np.array_equal(out[0, :RATE], signal[:RATE])
    assert np.array_equal(out[1, 3 * RATE :], signal[3 * RATE :])
    # The gain moves smoothly: no sample-to-sample step anywhere in it.
    around = slice(2 * RATE - 9600, 2 * RATE - 10)
    gain = out[0, around] / np.where(np.abs(signal[around]) > 0.05, signal[around], np.nan)
    assert np.nanmax(np.abs(np.diff(gain))) < 0.01


def test_limiter_without_work_returns_the_signal() -> None:
    x = tone(440, 1.0, amplitude=0.2)
    assert np.array_equal(limit_true_peak(x, RATE, -1.0)[0], x)


def test_short_music_loops_without_a_gap_and_long_music_is_cut() -> None:
    music = np.stack([tone(220, 1.5), tone(330, 1.5)])
    looped = fit_music(music, 5 * RATE, RATE)
    assert looped.shape == (2, 5 * RATE)
    overlap = round(LOOP_CROSSFADE_S * RATE)
    step = loop_point(music, overlap, round(LOOP_SEARCH_S * RATE))
    assert len(music[0]) - overlap - round(LOOP_SEARCH_S * RATE) <= step <= len(music[0]) - overlap
    # The second repeat is the music again, past its crossfade.
    assert np.allclose(looped[:, step + RATE // 10 : step + RATE], music[:, RATE // 10 : RATE], atol=1e-6)
    windows = looped[0].reshape(-1, RATE // 100)  # 10 ms windows: never a silent one, seams included
    assert np.sqrt((windows**2).mean(axis=1)).min() > 0.25
    assert np.array_equal(fit_music(music, RATE, RATE), music[:, :RATE])


def test_a_loop_continues_the_wave_instead_of_cancelling_it() -> None:
    # 2.5 s of 55 Hz ends half a cycle out of phase with its start: spliced there, the crossfade would
    # cancel the wave; the splice is moved to where the wave continues.
    music = np.stack([tone(55, 2.5), tone(55, 2.5)])
    looped = fit_music(music, 8 * RATE, RATE)[0]
    windows = looped[RATE // 10 : -RATE // 10].reshape(-1, RATE // 50)[:-1]  # 20 ms: about one period
    levels = 20 * np.log10(np.sqrt((windows**2).mean(axis=1)))
    assert levels.max() - levels.min() < 1.0


def test_fades_at_both_ends() -> None:
    total = 10 * RATE
    envelope = fade_envelope(total, RATE)
    fade_in, fade_out = round(FADE_IN_S * RATE), round(FADE_OUT_S * RATE)
    assert envelope[0] == 0.0 and envelope[-1] == 0.0
    assert np.all(envelope[fade_in : total - fade_out] == 1.0)
    assert np.all(np.diff(envelope[:fade_in]) >= 0) and np.all(np.diff(envelope[total - fade_out :]) <= 0)
    assert envelope[fade_in // 2] == pytest.approx(0.5, abs=0.01)
    assert np.all(fade_envelope(RATE, RATE) <= 1.0)  # a 1 s video: fades of a third of it each


def speech_like(seconds: float) -> np.ndarray:
    """Syllables of noise (~150 ms) with short pauses (~100 ms) between them, like words."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(round(seconds * RATE)) * 0.1).astype(np.float32)
    syllables = (np.arange(len(x)) // (RATE // 4)) % 1 == 0
    pauses = (np.arange(len(x)) % (RATE // 4)) > 0.15 * RATE
    return x * (syllables & ~pauses)


def test_ducking_dips_under_speech_and_recovers_in_pauses() -> None:
    silence = np.zeros(3 * RATE, np.float32)
    voice = np.concatenate([silence, speech_like(3.0), silence])
    gain_db = 20 * np.log10(duck_gain(voice, RATE))
    at = lambda seconds: gain_db[round(seconds * RATE)]  # noqa: E731
    assert at(1.0) == pytest.approx(0.0, abs=0.01)  # long before speech
    assert at(3.0) < -DUCK_DB + 1  # already down when speech starts (look-ahead)
    assert at(3.5) == pytest.approx(-DUCK_DB, abs=0.1) and at(5.9) == pytest.approx(-DUCK_DB, abs=0.1)
    assert at(4.6) == pytest.approx(-DUCK_DB, abs=0.1)  # pauses between words do not let it pump
    assert at(8.5) > -0.5  # back up after the hold and release
    assert np.abs(np.diff(gain_db)).max() < 0.01  # no steps (clicks): at most 0.01 dB per sample


def test_music_bed_is_levelled_relative_to_the_narration() -> None:
    voice = np.zeros(10 * RATE, np.float32)  # no speech: the bed is the levelled, faded music
    music = np.stack([tone(110, 3.0, 0.3), tone(165, 3.0, 0.3)])
    bed = music_bed(music, voice, RATE, volume_db=-10.0)
    middle = bed[:, 2 * RATE : 7 * RATE]
    assert stereo_lufs(middle, RATE) == pytest.approx(TARGET_LUFS - 10.0, abs=0.3)


def test_master_reaches_the_target_under_the_true_peak_ceiling() -> None:
    rng = np.random.default_rng(3)
    mix = (rng.standard_normal((2, 8 * RATE)) * 0.02).astype(np.float32)
    mix[:, 4 * RATE : 4 * RATE + 2400] += tone(2000, 0.05, amplitude=0.3)  # 5 dB over, once at -14 LUFS
    out = master(mix, RATE)
    assert stereo_lufs(out, RATE) == pytest.approx(TARGET_LUFS, abs=0.2)
    assert true_peak_db(out) <= PEAK_LIMIT_DB + 1e-4


def test_master_limits_a_mix_already_at_the_target() -> None:
    x = tone(1000, 5.0, amplitude=0.28)  # about -14 LUFS in both channels, peaks at -11 dBFS...
    mix = np.stack([x, x])
    mix[:, RATE : RATE + 480] = 0.99  # ...but for one full-scale click
    out = master(mix, RATE)
    assert true_peak_db(out) <= PEAK_LIMIT_DB + 1e-4
    assert stereo_lufs(out, RATE) == pytest.approx(TARGET_LUFS, abs=0.2)


def test_a_soundtrack_the_encoder_pushes_over_minus_1_dbtp_is_mastered_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reelmake import aac, soundtrack
    from reelmake.audiofile import decode_audio
    from reelmake.plan import scene_folder
    from reelmake.speech import write_wav

    monkeypatch.chdir(tmp_path)
    # Music with clicks well over the ceiling once at -14 LUFS: the limiter holds them at -1.5 dBTP.
    make_sound(tmp_path / "music.wav", 3.0, (220.0, 330.0), amplitude=0.1)
    clicks = np.zeros((2, 3 * RATE), np.float32)
    clicks[:, :: RATE // 4] = 0.9
    aac.encode(decode_audio(tmp_path / "music.wav", 2) + clicks, RATE, tmp_path / "music.m4a")
    folder = scene_folder("0" * 16)
    folder.mkdir(parents=True)
    write_wav(np.zeros(3 * RATE, np.float32), folder / "narration.wav")
    (folder / "timing.json").write_text(json.dumps({"frames": 90}))
    music = {"path": "music.m4a", "sha256": "-", "volume_db": -10.0}
    composition = {"fps": 30, "scenes": [{"hash": "0" * 16}], "music": music}
    # An encoder that overshoots by 2.3 dB the first time: the track is mastered again, lower.
    encode, calls = aac.encode, []

    def overshooting(samples: np.ndarray, rate: int, out: Path) -> None:
        calls.append(true_peak_db(samples))
        encode(samples * (1.3 if len(calls) == 1 else 1.0), rate, out)

    monkeypatch.setattr(aac, "encode", overshooting)
    measured = soundtrack.render(composition, tmp_path / "track.m4a", tmp_path / "track.json")
    assert len(calls) == 2 and calls[1] < calls[0] - 1.0
    peak = true_peak_db(decode_audio(tmp_path / "track.m4a", 2))
    assert peak <= -1.0 and measured["true_peak_dbtp"] == pytest.approx(peak, abs=0.01)
    assert measured["loudness_lufs"] == pytest.approx(TARGET_LUFS, abs=1.0)
