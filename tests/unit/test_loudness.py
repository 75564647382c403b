"""Integrated loudness (BS.1770, mono played as dual mono) and normalization of real speech."""

from __future__ import annotations

import numpy as np
import pytest

from reelmake.loudness import PEAK_LIMIT_DB, TARGET_LUFS, integrated_lufs, normalize, true_peak_db
from reelmake.speech import SAMPLE_RATE, engine_for, narrate


def sine(amplitude: float, seconds: float, rate: int = SAMPLE_RATE, freq: float = 1000.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    text = "The quick brown fox jumps over the lazy dog. Then it rests in the warm afternoon sun!"
    return narrate(text, fps=30, min_duration_s=0.0, engine=engine_for("heart", 1.0)).samples


@pytest.mark.parametrize("rate", [48_000, 44_100])
def test_1khz_sine_at_minus_20_dbfs_peak_is_minus_20_lufs(rate: int) -> None:
    # A -20 dBFS sine in one channel is -23 LUFS; mono is played on both channels, which adds 3 dB.
    assert integrated_lufs(sine(0.1, 10.0, rate), rate) == pytest.approx(-20.0, abs=0.1)


def test_loudness_follows_gain() -> None:
    quiet = integrated_lufs(sine(0.05, 10.0), SAMPLE_RATE)
    loud = integrated_lufs(sine(0.5, 10.0), SAMPLE_RATE)
    assert loud - quiet == pytest.approx(20.0, abs=0.01)


def test_gating_ignores_silence_around_the_tone() -> None:
    # Ungated, 6 s of silence in 16 s would read 2 dB quieter; only the blocks straddling the tone's
    # start and end (partly silent, yet within 10 dB of the mean) pull it down a little.
    padded = np.concatenate([np.zeros(5 * SAMPLE_RATE, np.float32), sine(0.1, 10.0), np.zeros(SAMPLE_RATE)])
    assert integrated_lufs(padded, SAMPLE_RATE) == pytest.approx(-20.0, abs=0.25)


@pytest.mark.parametrize("samples", [np.zeros(10 * SAMPLE_RATE, np.float32), np.zeros(100, np.float32)])
def test_silence_and_too_short_are_minus_infinity(samples: np.ndarray) -> None:
    assert integrated_lufs(samples, SAMPLE_RATE) == float("-inf")


def test_below_the_absolute_gate_is_minus_infinity() -> None:
    assert integrated_lufs(sine(1e-5, 2.0), SAMPLE_RATE) == float("-inf")  # about -97 LUFS


@pytest.mark.parametrize("gain", [0.05, 0.3, 1.0, 3.0])
def test_normalize_real_speech_to_target_within_the_peak_limit(speech: np.ndarray, gain: float) -> None:
    source = (speech * gain).astype(np.float32)
    before = source.copy()
    out = normalize(source, SAMPLE_RATE)
    assert np.array_equal(source, before)  # the input is not modified
    assert out.dtype == np.float32
    assert len(out) == len(source)
    assert integrated_lufs(out, SAMPLE_RATE) == pytest.approx(TARGET_LUFS, abs=0.5)
    assert TARGET_LUFS == -14.0
    assert PEAK_LIMIT_DB == -1.5
    assert true_peak_db(out) <= PEAK_LIMIT_DB + 1e-4  # between samples too, not only the samples


def test_normalize_keeps_silence_silent() -> None:
    silence = np.zeros(SAMPLE_RATE, np.float32)
    assert np.array_equal(normalize(silence, SAMPLE_RATE), silence)


def test_normalize_to_another_target() -> None:
    out = normalize(sine(0.1, 5.0), SAMPLE_RATE, target_lufs=-23.0)
    assert integrated_lufs(out, SAMPLE_RATE) == pytest.approx(-23.0, abs=0.05)
