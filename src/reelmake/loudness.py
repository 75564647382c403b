"""Integrated loudness (ITU-R BS.1770 / EBU R128, gated) and a gain that reaches a target safely."""

from __future__ import annotations

import functools

import numpy as np

TARGET_LUFS = -14.0
TRUE_PEAK_MAX_DB = -1.0  # what a published track must meet (dBTP)...
PEAK_LIMIT_DB = -1.5  # ...so the limiter aims lower: AAC encoding adds a little overshoot


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


_K_FFT = 1 << 16  # the K-weighting runs as an FFT convolution over pieces of this many samples...
_K_SETTLE_S = 0.1  # ...each preceded by this much of what came before, so the filters have settled
_K_BATCH = 16  # pieces transformed at once (about 8 MB of spectra, however long the signal)


def _k_filter(signal: np.ndarray, rate: int) -> np.ndarray:
    """Apply both stages in the frequency domain (numpy only: scipy.signal costs 1.5 s to import), float32.

    Overlap-save: each piece starts with the ``_K_SETTLE_S`` of signal before it (zeros before the start),
    whose filtered values the FFT's wrap-around spoils and which are dropped. The filters' impulse response
    falls below 1e-12 of its peak within 0.1 s, so every kept sample is exact to float32 precision. One fixed
    FFT size keeps its frequency response cached; a whole signal's FFT would need a new one per length.
    """
    settle = int(np.ceil(_K_SETTLE_S * rate))
    step = _K_FFT - settle  # outputs per piece
    length = len(signal)
    pieces = max(1, -(-length // step))
    padded = np.pad(np.asarray(signal, dtype=np.float32), (settle, pieces * step - length))
    windows = np.lib.stride_tricks.sliding_window_view(padded, _K_FFT)[::step][:pieces]
    response = _k_response(_K_FFT, rate)
    out = np.empty((pieces, step), np.float32)
    for first in range(0, pieces, _K_BATCH):
        spectra = np.fft.rfft(windows[first : first + _K_BATCH], axis=1) * response
        out[first : first + _K_BATCH] = np.fft.irfft(spectra, _K_FFT, axis=1)[:, settle:]
    return out.ravel()[:length]


@functools.cache
def _k_response(size: int, rate: int) -> np.ndarray:
    """Both K-weighting stages' frequency response on the bins of an FFT of ``size`` (complex64)."""
    z = np.exp(-2j * np.pi * np.fft.rfftfreq(size))  # e^{-jw} on the FFT's bins
    response = np.ones_like(z)
    for b, a in _k_weighting(rate):
        response *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    return response.astype(np.complex64)


def block_powers(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mean square of the K-weighted signal in each 400 ms block, every 100 ms (BS.1770's gating blocks).

    Blocks of consecutive pieces can be pooled: the loudness of a whole video is that of all its scenes'
    blocks, so each scene's blocks are measured once, when the scene is rendered.
    """
    block, step = int(0.4 * rate), int(0.1 * rate)
    if len(samples) < block:
        return np.zeros(0)
    weighted = _k_filter(samples, rate).astype(np.float64)  # the sums of squares need float64
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
    """Scale to ``target_lufs``; the few peaks above PEAK_LIMIT_DB (true peak) are limited smoothly."""
    measured = integrated_lufs(samples, rate)
    if not np.isfinite(measured):
        return samples
    scaled = samples * 10 ** ((target_lufs - measured) / 20)
    return limit_true_peak(scaled, rate, PEAK_LIMIT_DB)[0]


# True peak (BS.1770-4 Annex 2): the signal's peak between samples, found by 4x oversampling.
OVERSAMPLING = 4
_HALF_TAPS = 12  # each phase of the interpolator spans 24 input samples
_KAISER_BETA = 6.0
LIMITER_RAMP_S = 0.005  # the limiter's gain ramps down (looking ahead) and back up over this long...
LIMITER_HOLD_S = 0.05  # ...after holding the reduction this long, so one peak is one smooth dip


@functools.cache
def _interpolator_phases() -> np.ndarray:
    """Windowed-sinc taps for the three in-between phases of 4x oversampling, shape (3, 24), float32.

    Phase p estimates the signal at ``n + p/4`` from samples ``n-11 … n+12``; each is scaled to unity DC gain.
    """
    k = np.arange(-_HALF_TAPS + 1, _HALF_TAPS + 1)
    phases = []
    for p in range(1, OVERSAMPLING):
        t = k - p / OVERSAMPLING
        window = np.i0(_KAISER_BETA * np.sqrt(1 - (t / (_HALF_TAPS + 1)) ** 2)) / np.i0(_KAISER_BETA)
        taps = np.sinc(t) * window
        phases.append(taps / taps.sum())
    return np.asarray(phases, dtype=np.float32)


# Samples interpolated at a time. A product this small (2048 x 24 x 3) OpenBLAS computes on the calling
# thread; a larger one wakes its thread pool, whose spinning costs ten times the arithmetic here.
_TP_CHUNK = 1 << 11


def peak_envelope(channels: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Per sample, the largest magnitude of any channel at that sample or the 3 points after it (4x).

    The points between samples are computed only where they could exceed ``floor``; elsewhere the sample's
    own magnitude stands in (both are then at most ``floor``). A point between samples is at most the
    largest of its 24 samples times the sum of its taps' magnitudes (2.35), so a limiter or a true-peak
    measure, which care only about what is above a level, interpolate few samples: about 7% of speech
    at -14 LUFS against a -1.5 dBTP ceiling.
    """
    channels = np.atleast_2d(np.asarray(channels, dtype=np.float32))
    envelope = np.abs(channels).max(axis=0)
    if envelope.size == 0:
        return envelope
    phases = _interpolator_phases()
    gain = float(np.abs(phases).sum(axis=1).max())
    by_tap = np.ascontiguousarray(phases.T)  # (24, 3): a contiguous right operand keeps the product fast
    taps = 2 * _HALF_TAPS
    for channel in channels:
        # Sample n's interpolations use samples n-11 … n+12: padded[n : n + 24].
        padded = np.pad(channel, (_HALF_TAPS - 1, _HALF_TAPS))
        loud = np.concatenate([[0], np.cumsum(np.abs(padded) * gain > floor, dtype=np.int32)])
        candidates = np.flatnonzero(loud[taps:] - loud[:-taps])  # a loud sample among its 24
        neighbours = np.lib.stride_tricks.sliding_window_view(padded, taps)
        for start in range(0, len(candidates), _TP_CHUNK):
            at = candidates[start : start + _TP_CHUNK]
            between = np.abs(neighbours[at] @ by_tap).max(axis=1)
            envelope[at] = np.maximum(envelope[at], between)
    return envelope


def true_peak_db(channels: np.ndarray) -> float:
    """True peak in dBTP of a mono signal or a (channels, samples) array; -inf for silence."""
    # Only points above the largest sample can be the true peak.
    peak = float(peak_envelope(channels, float(np.abs(channels).max(initial=0.0))).max(initial=0.0))
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def stereo_lufs(channels: np.ndarray, rate: int) -> float:
    """Integrated loudness of a (channels, samples) array: BS.1770 sums the channels' power."""
    powers = [block_powers(channel, rate) for channel in channels]
    if not powers or not len(powers[0]):
        return float("-inf")
    # lufs_of_blocks counts one signal as dual mono (+3 dB): the channels' mean power gives their sum.
    return lufs_of_blocks(np.mean(powers, axis=0))


def limit_true_peak(channels: np.ndarray, rate: int, ceiling_db: float) -> np.ndarray:
    """A look-ahead limiter: the (channels, samples) signal's true peak never exceeds ``ceiling_db``.

    The gain each sample needs is held (minimum over the hold and ramp) and averaged over the ramp, which
    keeps it at or below what every peak needs while moving smoothly (no clicks, and none of the distortion
    of clipping). Interpolated points also depend on their neighbours' gains, so a point can still be over
    by a hair: a second and third pass take that off locally, and a last check scales what is left.
    """
    ceiling = 10 ** (ceiling_db / 20)
    limited = np.atleast_2d(np.asarray(channels, dtype=np.float32)).copy()
    ramp = max(1, round(LIMITER_RAMP_S * rate))
    hold = round(LIMITER_HOLD_S * rate)
    for _ in range(3):
        need = np.minimum(1.0, ceiling / np.maximum(peak_envelope(limited, ceiling), 1e-12))
        if need.min() >= 1.0:
            return limited
        # held[n] = min(need[n - hold … n + ramp - 1]); gain[n] = mean(held[n - ramp + 1 … n]) ≤ need[n].
        held = sliding_min(np.concatenate([np.ones(hold), need, np.ones(ramp - 1)]), hold + ramp)
        sums = np.concatenate([[0.0], np.cumsum(np.concatenate([np.ones(ramp - 1), held]))])
        limited *= ((sums[ramp:] - sums[:-ramp]) / ramp)[: limited.shape[1]].astype(np.float32)
    excess = float(peak_envelope(limited, ceiling).max()) / ceiling
    return limited / excess if excess > 1.0 else limited


def sliding_min(values: np.ndarray, width: int) -> np.ndarray:
    """``out[n] = min(values[n : n + width])`` for every full window (van Herk / Gil-Werman, numpy only)."""
    count = len(values) - width + 1
    blocks = -(-len(values) // width)
    padded = np.concatenate([values, np.full(blocks * width - len(values), np.inf)]).reshape(blocks, width)
    prefix = np.minimum.accumulate(padded, axis=1).ravel()
    suffix = np.minimum.accumulate(padded[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.minimum(suffix[:count], prefix[width - 1 : width - 1 + count])
