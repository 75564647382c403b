"""Integrated loudness (ITU-R BS.1770 / EBU R128, gated) and a gain that reaches a target safely."""

from __future__ import annotations

import numpy as np

TARGET_LUFS = -14.0
KNEE = 10 ** (-4.0 / 20)  # peaks above this are bent smoothly...
PEAK_LIMIT = 10 ** (-1.5 / 20)  # ...never past -1.5 dBFS, room for AAC overshoot (true peak ≤ -1 dBTP)


def _k_weighting(rate: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The two BS.1770 pre-filter stages (high shelf, high pass) designed for ``rate``."""
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * f0 / rate)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = (
        np.array([(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]),
        np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]),
    )
    f0, q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * f0 / rate)
    a0 = 1 + k / q + k * k
    highpass = (np.array([1.0, -2.0, 1.0]), np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]))
    return shelf, highpass


def _k_filter(signal: np.ndarray, rate: int) -> np.ndarray:
    """Apply both stages in the frequency domain (numpy only: scipy.signal costs 1.5 s to import).

    Zero padding of one second holds the filters' impulse responses, which decay within milliseconds.
    """
    size = 1 << int(np.ceil(np.log2(len(signal) + rate)))
    z = np.exp(-2j * np.pi * np.fft.rfftfreq(size))  # e^{-jw} on the FFT's bins
    response = np.ones_like(z)
    for b, a in _k_weighting(rate):
        response *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    return np.fft.irfft(np.fft.rfft(signal, size) * response, size)[: len(signal)]


def block_powers(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mean square of the K-weighted signal in each 400 ms block, every 100 ms (BS.1770's gating blocks).

    Blocks of consecutive pieces can be pooled: the loudness of a whole video is that of all its scenes'
    blocks, so each scene's blocks are measured once, when the scene is rendered.
    """
    block, step = int(0.4 * rate), int(0.1 * rate)
    if len(samples) < block:
        return np.zeros(0)
    weighted = _k_filter(samples.astype(np.float64), rate)
    squares = np.concatenate([[0.0], np.cumsum(weighted**2)])
    starts = np.arange(0, len(weighted) - block + 1, step)
    return (squares[starts + block] - squares[starts]) / block


def integrated_lufs(samples: np.ndarray, rate: int) -> float:
    """Gated integrated loudness of a mono signal in LUFS; -inf for silence."""
    return lufs_of_blocks(block_powers(samples, rate))


def lufs_of_blocks(power: np.ndarray) -> float:
    """Gated integrated loudness (absolute gate -70 LUFS, relative gate -10 LU) of block powers."""
    if power.size == 0:
        return float("-inf")
    loud = -0.691 + 10 * np.log10(np.maximum(power, 1e-20))
    gated = power[loud > -70]
    if gated.size == 0:
        return float("-inf")
    relative = -0.691 + 10 * np.log10(gated.mean()) - 10
    final = power[(loud > -70) & (loud > relative)]
    # Mono is played on both channels of a stereo file, which BS.1770 sums: +3 dB over one channel.
    return float(-0.691 + 10 * np.log10(final.mean()) + 10 * np.log10(2))


def normalize(samples: np.ndarray, rate: int, target_lufs: float = TARGET_LUFS) -> np.ndarray:
    """Scale to ``target_lufs``, then softly limit the few peaks above the knee."""
    measured = integrated_lufs(samples, rate)
    if not np.isfinite(measured):
        return samples
    scaled = samples * 10 ** ((target_lufs - measured) / 20)
    over = np.abs(scaled) > KNEE
    if over.any():
        # A smooth knee instead of hard clipping: tanh keeps the shape of the loudest syllables.
        room = PEAK_LIMIT - KNEE
        excess = np.abs(scaled[over]) - KNEE
        scaled[over] = np.sign(scaled[over]) * (KNEE + room * np.tanh(excess / room))
    return scaled.astype(np.float32)
