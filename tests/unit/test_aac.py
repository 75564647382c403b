"""Per-scene AAC windows joined at packet level: exact length, each scene within half a frame of its place."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from reelmake import aac
from reelmake.bitstream import mp4_digests
from reelmake.ffmpeg import RenderError
from reelmake.probe import probe

RATE = 48_000


def scene(length: int, tone_at: int, tone_len: int = 4800) -> np.ndarray:
    """Silence with a 1 kHz burst: easy to find again after encoding."""
    samples = np.zeros(length, np.float32)
    t = np.arange(tone_len) / RATE
    samples[tone_at : tone_at + tone_len] = 0.5 * np.sin(2 * np.pi * 1000 * t)
    return samples


def test_window_covers_the_sound_in_whole_frames() -> None:
    assert aac.speech_window(np.zeros(5000, np.float32)) == aac.Window(0, aac.FRAME)
    samples = scene(60_000, 12_000)
    window = aac.speech_window(samples)
    assert window.start == np.flatnonzero(samples)[0] - aac.LEAD_IN
    assert window.length % aac.FRAME == 0
    assert window.start + window.length >= 12_000 + 4800 + aac.LEAD_OUT


def test_join_places_every_scene_within_half_a_frame(tmp_path: Path) -> None:
    # Lengths that are not multiples of 1024, so each scene starts at a different phase of the grid.
    scenes = [scene(40_000 + 1600 * i, 9_000 + 700 * i) for i in range(5)]
    placed, start = [], 0
    for i, samples in enumerate(scenes):
        path = tmp_path / f"s{i}.m4a"
        placed.append((start, aac.encode_window(samples, RATE, path), path))
        start += len(samples)
    out = tmp_path / "joined.m4a"
    written = aac.join(placed, start, RATE, out)
    assert written == mp4_digests(out).audio  # the digest of what it wrote, which the mux must carry
    report = probe(out)
    assert report.audio_duration_s == pytest.approx(start / RATE, abs=1e-6)
    assert report.decode_errors == []
    with av.open(str(out)) as container:
        decoded = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    cursor = 0
    for i, samples in enumerate(scenes):
        expected = cursor + 9_000 + 700 * i
        found = cursor + int(np.flatnonzero(np.abs(decoded[cursor : cursor + len(samples)]) > 0.1)[0])
        assert abs(found - expected) <= aac.FRAME // 2 + 8  # AAC's own onset smear is a few samples
        cursor += len(samples)


def test_overlapping_windows_are_refused(tmp_path: Path) -> None:
    loud = np.full(8192, 0.3, np.float32)
    paths = [tmp_path / "a.m4a", tmp_path / "b.m4a"]
    windows = [aac.encode_window(loud, RATE, p) for p in paths]
    with pytest.raises(RenderError, match="overlaps"):
        aac.join(
            [(0, windows[0], paths[0]), (2048, windows[1], paths[1])],
            16384,
            RATE,
            tmp_path / "x.m4a",
        )


@pytest.mark.parametrize("rate", [RATE, 44_100])
def test_the_silent_frame_is_the_encoders_own_for_zeros(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "zeros.m4a"
    aac.encode(np.zeros(4 * aac.FRAME, np.float32), rate, path)
    with av.open(str(path)) as container:
        packets = [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]
    assert packets[2] == aac.SILENT_FRAME  # after the priming frame and one frame of zeros


def test_the_gaps_between_windows_decode_to_exact_silence(tmp_path: Path) -> None:
    # One short window at 10 s in a 12 s track: everything before it is the silent frame, laid by join.
    path = tmp_path / "s.m4a"
    window = aac.encode_window(scene(3 * RATE, RATE), RATE, path)
    out = tmp_path / "joined.m4a"
    aac.join([(9 * RATE, window, path)], 12 * RATE, RATE, out)
    with av.open(str(out)) as container:
        decoded = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    assert 12 * RATE <= decoded.shape[1] < 12 * RATE + aac.FRAME  # PyAV keeps the last frame's padding
    lead = (9 * RATE + window.start) // aac.FRAME * aac.FRAME - aac.FRAME  # before the window's priming
    assert lead > 8 * RATE and not decoded[:, :lead].any()
    assert np.abs(decoded[:, 10 * RATE : 10 * RATE + 4800]).max() > 0.3  # the burst, where it was placed


@pytest.mark.parametrize("stereo", [False, True])
def test_encode_keeps_each_channel_within_160_kbit_s(tmp_path: Path, stereo: bool) -> None:
    # Mono is played on both channels; a stereo pair keeps its own channels. Decoded, the sound is the
    # input, in time and to within AAC's error at this rate.
    t = np.arange(2 * RATE) / RATE
    left = (0.3 * np.sin(2 * np.pi * 440 * t) * np.sin(np.pi * t / 2)).astype(np.float32)
    right = (0.2 * np.sin(2 * np.pi * 1250 * t) * np.sin(np.pi * t / 2)).astype(np.float32)
    expected = np.stack([left, right if stereo else left])
    path = tmp_path / "sound.m4a"
    aac.encode(expected if stereo else left, RATE, path)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.codec_context.profile) == ("aac", "LC")
        assert stream.channels == 2 and stream.sample_rate == RATE
        assert stream.duration == expected.shape[1]  # in samples: the edit list ends with the sound
        decoded = np.concatenate([f.to_ndarray() for f in container.decode(stream)], axis=1)
    # PyAV's decoder cuts the priming, not the last frame's padding.
    assert expected.shape[1] <= decoded.shape[1] < expected.shape[1] + aac.FRAME
    for channel, source in zip(decoded[:, : expected.shape[1]], expected, strict=True):
        error = channel - source
        assert 10 * np.log10(np.sum(source**2) / np.sum(error**2)) > 25  # dB of signal over error
    if not stereo:  # a mono voice stays centred: its two channels decode (almost) equal
        assert np.max(np.abs(decoded[0] - decoded[1])) < 4 / 32768
    # At most the 160 kbit/s asked for (the fast coder spends less on two plain tones).
    bits_per_second = path.stat().st_size * 8 / 2.0
    assert 60_000 < bits_per_second < 175_000
