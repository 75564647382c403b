"""Integrated loudness (BS.1770, mono played as dual mono) and normalization of real speech."""

from __future__ import annotations

import numpy as np
import pytest

from reelmake.loudness import (
    PEAK_LIMIT_DB,
    TARGET_LUFS,
    _interpolator_phases,
    _k_weighting,
    block_powers,
    integrated_lufs,
    normalize,
    peak_envelope,
    true_peak_db,
)
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


def full_envelope(channels: np.ndarray) -> np.ndarray:
    """Every sample's 4x-oversampled peak, each phase a plain convolution: what peak_envelope may skip."""
    phases = _interpolator_phases().astype(np.float64)
    envelope = np.abs(channels).max(axis=0).astype(np.float64)
    for channel in channels.astype(np.float64):
        for taps in phases:  # phase p at n uses samples n-11 … n+12
            between = np.convolve(channel, taps[::-1])[len(taps) - 12 : len(taps) - 12 + len(channel)]
            envelope = np.maximum(envelope, np.abs(between))
    return envelope


def clipped_loud(speech: np.ndarray) -> np.ndarray:
    return np.clip(speech * 8, -1.0, 1.0).astype(np.float32)  # many runs of full-scale samples


@pytest.mark.parametrize("kind", ["speech", "normalized", "clipped", "noise", "stereo"])
def test_peak_envelope_is_exact_wherever_it_can_pass_the_floor(speech: np.ndarray, kind: str) -> None:
    # The envelope interpolates only around samples that could lift a point over the floor: compared with
    # every point computed, nothing over the floor is missed, and what is skipped stays under it.
    noise = np.random.default_rng(3).normal(0, 0.25, len(speech)).astype(np.float32)
    signal = {
        "speech": speech,
        "normalized": normalize(speech, SAMPLE_RATE),
        "clipped": clipped_loud(speech),
        "noise": noise,
        "stereo": np.stack([speech, noise]),
    }[kind]
    channels = np.atleast_2d(signal)
    full = full_envelope(channels)
    for floor in (0.0, 10 ** (PEAK_LIMIT_DB / 20), float(np.abs(channels).max()) * 0.95):
        envelope = peak_envelope(signal, floor)
        over = full > floor
        assert np.allclose(envelope[over], full[over], rtol=1e-5, atol=1e-6)
        assert np.all(envelope[~over] <= floor + 1e-6)
        assert np.all(envelope >= np.abs(channels).max(axis=0))
    assert true_peak_db(signal) == pytest.approx(20 * np.log10(full.max()), abs=1e-4)


def test_k_weighted_blocks_match_the_bs1770_filters_run_sample_by_sample() -> None:
    # The FFT pieces (with their settling lead) against the two biquads as BS.1770 defines them, over a
    # signal of several pieces with a tone burst that crosses piece boundaries.
    from scipy.signal import lfilter

    rng = np.random.default_rng(5)
    signal = rng.normal(0, 0.1, 5 * SAMPLE_RATE) * np.repeat(rng.uniform(0, 1, 50), SAMPLE_RATE // 10)
    signal[60_000:70_000] += 0.5 * np.sin(np.arange(10_000) * 0.05)
    weighted = signal
    for b, a in _k_weighting(SAMPLE_RATE):
        weighted = lfilter(b, a, weighted)
    block, step = int(0.4 * SAMPLE_RATE), int(0.1 * SAMPLE_RATE)
    expected = [np.mean(weighted[s : s + block] ** 2) for s in range(0, len(signal) - block + 1, step)]
    assert np.allclose(block_powers(signal.astype(np.float32), SAMPLE_RATE), expected, rtol=1e-4, atol=1e-12)
