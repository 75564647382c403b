"""How a video compares with common platform upload recommendations (YouTube-style), for `reelmake probe`."""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path
from typing import Any

import av
import numpy as np

from reelmake.loudness import stereo_lufs, true_peak_db
from reelmake.probe import MediaReport

BT709 = 1  # the value of AVCOL_PRI_BT709, AVCOL_TRC_BT709 and AVCOL_SPC_BT709 alike


def platform_checks(path: Path, report: MediaReport) -> list[dict[str, Any]]:
    """Each recommendation with what the file has and whether it matches."""
    checks = [
        _check("video codec", "H.264 High", f"{report.video_codec} {report.profile}",
               report.video_codec == "h264" and report.profile == "High"),
        _check("pixel format", "yuv420p", report.pix_fmt, report.pix_fmt == "yuv420p"),
        _check("audio", "AAC 48 kHz", f"{report.audio_codec} {report.sample_rate} Hz",
               report.audio_codec == "aac" and report.sample_rate == 48000),
        _check("faststart", "moov before mdat", "yes" if report.faststart else "no", report.faststart),
    ]  # fmt: skip
    with av.open(str(path)) as container:
        if container.streams.video:
            checks += _video_checks(container, report)
        if container.streams.audio:
            channels, rate = _sound(container)
            lufs, peak = stereo_lufs(channels, rate), true_peak_db(channels)
            checks.append(_check("loudness", "-14 LUFS ±1", f"{lufs:.1f} LUFS", abs(lufs + 14) <= 1))
            checks.append(_check("true peak", "≤ -1 dBTP", f"{peak:.1f} dBTP", peak <= -1.0))
    return checks


def _video_checks(container: av.container.InputContainer, report: MediaReport) -> list[dict[str, Any]]:
    stream = container.streams.video[0]
    context = stream.codec_context
    tags = (context.color_primaries, context.color_trc, context.colorspace)
    keyframes = [p.pts for p in container.demux(stream) if p.size and p.is_keyframe and p.pts is not None]
    gaps = [b - a for a, b in itertools.pairwise(keyframes)]
    fps = report.fps_float or 0
    gop_s = float(statistics.median(gaps) * stream.time_base) if gaps else None
    gop = f"{gop_s:.2f} s ({round(gop_s * fps)} frames)" if gop_s else "one keyframe"
    tagged = tags == (BT709,) * 3
    return [
        _check(
            "colour tags", "BT.709 primaries, transfer, matrix", "BT.709" if tagged else str(tags), tagged
        ),
        # Platforms ask for a keyframe every half second; reelmake uses 2 s so a still costs one keyframe
        # per 2 s (~0.5 Mbit/s at 1080p). Reported, not enforced.
        _check("keyframe interval", "≤ 0.5 s (half the frame rate)", gop, gop_s is not None and gop_s <= 0.5),
    ]


def _sound(container: av.container.InputContainer) -> tuple[np.ndarray, int]:
    """The first audio stream, decoded: (channels, samples) and the sample rate."""
    container.seek(0)
    frames = [f.to_ndarray() for f in container.decode(audio=0)]
    rate = container.streams.audio[0].codec_context.sample_rate
    return (np.concatenate(frames, axis=1) if frames else np.zeros((1, 0), np.float32)), rate


def _check(name: str, recommended: str, actual: object, ok: bool) -> dict[str, Any]:
    return {"check": name, "recommended": recommended, "actual": actual, "ok": bool(ok)}
