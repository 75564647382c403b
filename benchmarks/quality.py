"""Quality of a rendered video, measured from the file: SSIM against each scene's still, and A/V offsets.

- SSIM: luma (BT.601 weights on RGB), Gaussian window σ = 1.5 (11x11), K1 = 0.01, K2 = 0.03, of the frame
  in the middle of each still scene against the scene's ``image.png``.
- Video start of each scene (after the first): within ±0.2 s of the planned cut, the first frame that
  matches the scene's still better than the previous picture (the previous still, or for a previous clip
  scene the frame shown before the window); for a clip scene, the first frame that stops matching the
  previous picture.
- Audio start: the first 0.5 s of loud audio of the scene's ``narration.wav`` located by normalised
  cross-correlation in the decoded final audio (channel 0) within ±0.2 s of where it belongs.
"""

from __future__ import annotations

import wave
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
from scipy.signal import correlate

SEARCH_S = 0.2  # how far from the planned cut to look, both for the picture and the sound
NEEDLE_S = 0.5  # how much loud narration to look for
LOUD = 0.01  # narration samples above this (of full scale) count as loud
SCALE = 4  # cut detection compares frames downscaled by this factor


@dataclass(frozen=True)
class SceneRef:
    """A scene of the final video as the manifest lists it, with its still and narration files."""

    index: int
    title: str
    frames: int
    start_s: float
    image: Path
    narration: Path
    is_clip: bool


@dataclass
class SceneQuality:
    index: int
    title: str
    is_clip: bool
    planned_start_s: float
    ssim: float | None = None
    video_start_s: float | None = None
    audio_start_s: float | None = None
    offset_ms: float | None = None


def scene_refs(build: Path, manifest: dict[str, Any], clip_titles: set[str]) -> list[SceneRef]:
    """The manifest's scenes with their files under ``build/scenes/<hash>/``."""
    return [
        SceneRef(
            index=s["index"], title=s["title"], frames=s["frames"], start_s=s["start_s"],
            image=build / "scenes" / s["hash"] / "image.png",
            narration=build / "scenes" / s["hash"] / "narration.wav",
            is_clip=s["title"] in clip_titles,
        )
        for s in manifest["scenes"]
    ]  # fmt: skip


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB image, as float64 in 0..255."""
    return rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM of two grey images (Wang et al. 2004: Gaussian σ = 1.5, 11x11 window)."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return gaussian_filter(x, sigma=1.5, truncate=3.5)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def load_still(path: Path, size: tuple[int, int]) -> np.ndarray:
    """An image.png as RGB at the video's size (transparency over black)."""
    img = Image.open(path)
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", img.size, (0, 0, 0, 255)), img)
    img = img.convert("RGB")
    if img.size != size:
        img = img.resize(size, Image.Resampling.BICUBIC)
    return np.asarray(img)


def small(rgb: np.ndarray) -> np.ndarray:
    """Downscaled luma (block mean) for cheap picture comparisons."""
    y = luma(rgb)
    h, w = (y.shape[0] // SCALE) * SCALE, (y.shape[1] // SCALE) * SCALE
    return y[:h, :w].reshape(h // SCALE, SCALE, w // SCALE, SCALE).mean(axis=(1, 3))


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a - b) ** 2))


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Samples of a 16-bit PCM WAV (first channel) as float in [-1, 1], and its rate."""
    with wave.open(str(path), "rb") as src:
        data = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
        data = data.reshape(-1, src.getnchannels())[:, 0]
        return data.astype(np.float64) / 32767, src.getframerate()


def decode_audio(video: Path) -> tuple[np.ndarray, int]:
    """The whole first audio stream, channel 0, as decoded (priming samples already dropped)."""
    with av.open(str(video)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        parts = [f.to_ndarray()[0].astype(np.float64) for f in container.decode(stream)]
    return np.concatenate(parts), rate


def locate_narration(audio: np.ndarray, rate: int, wav: np.ndarray, planned_start_s: float) -> float | None:
    """Where the scene's narration starts in ``audio`` (seconds), searching ±SEARCH_S; None if silent."""
    loud = np.flatnonzero(np.abs(wav) > LOUD)
    if loud.size == 0:
        return None
    at = int(loud[0])
    needle = wav[at : at + round(NEEDLE_S * rate)]
    expected = round(planned_start_s * rate) + at
    search = round(SEARCH_S * rate)
    lo, hi = max(0, expected - search), min(len(audio), expected + search + len(needle))
    hay = audio[lo:hi]
    if len(hay) < len(needle):
        return None
    corr = correlate(hay, needle, mode="valid", method="fft")
    energy = np.concatenate([[0.0], np.cumsum(hay**2)])
    window = np.sqrt(np.maximum(energy[len(needle) :] - energy[: -len(needle)], 1e-12))
    best = int(np.argmax(corr / (window * np.linalg.norm(needle))))
    return (lo + best - at) / rate


def _first_cut(
    frames: dict[int, np.ndarray], window: range, target: np.ndarray | None, previous: np.ndarray
) -> int | None:
    """First frame in ``window`` that matches ``target`` better than ``previous`` (target None: that stops
    matching ``previous``, by more than 8x the mismatch of the window's first frame plus a margin)."""
    if target is None:
        baseline = mse(frames[window[0]], previous)
        threshold = max(8 * baseline, baseline + 25.0)
        return next((f for f in window if mse(frames[f], previous) > threshold), None)
    return next((f for f in window if mse(frames[f], target) < mse(frames[f], previous)), None)


def analyse(video: Path, scenes: list[SceneRef], fps: int) -> dict[str, Any]:
    """SSIM per still scene and the A/V offset at every scene start, measured from ``video``."""
    radius = round(SEARCH_S * fps)
    starts = [round(s.start_s * fps) for s in scenes]
    results = [SceneQuality(s.index, s.title, s.is_clip, s.start_s) for s in scenes]
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        size = (stream.codec_context.width, stream.codec_context.height)
        stills = {i: load_still(s.image, size) for i, s in enumerate(scenes) if not s.is_clip}
        small_stills = {i: small(rgb) for i, rgb in stills.items()}
        middles = {start + s.frames // 2: i for i, (s, start) in enumerate(zip(scenes, starts, strict=True))}
        wanted = {
            f for k in range(1, len(scenes)) for f in range(starts[k] - radius - 1, starts[k] + radius + 1)
        }
        kept: dict[int, np.ndarray] = {}
        for number, frame in enumerate(container.decode(stream)):
            if number not in wanted and number not in middles:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            if number in wanted:
                kept[number] = small(rgb)
            scene = middles.get(number)
            if scene is not None and scene in stills:
                results[scene].ssim = ssim(luma(rgb), luma(stills[scene]))
    if scenes:
        results[0].video_start_s = 0.0
    for k in range(1, len(scenes)):
        window = range(starts[k] - radius, starts[k] + radius + 1)
        if any(f not in kept for f in window):
            continue
        before = starts[k] - radius - 1
        previous = small_stills.get(k - 1, kept.get(before))
        if previous is None:
            continue
        cut = _first_cut(kept, window, small_stills.get(k), previous)
        results[k].video_start_s = None if cut is None else cut / fps
    audio, rate = decode_audio(video)
    for scene, result in zip(scenes, results, strict=True):
        wav, wav_rate = read_wav(scene.narration)
        if wav_rate != rate:
            continue
        result.audio_start_s = locate_narration(audio, rate, wav, scene.start_s)
        if result.audio_start_s is not None and result.video_start_s is not None:
            result.offset_ms = round((result.audio_start_s - result.video_start_s) * 1000, 2)
    ssims = [r.ssim for r in results if r.ssim is not None]
    offsets = [abs(r.offset_ms) for r in results if r.offset_ms is not None]
    return {
        "method": __doc__.strip() if __doc__ else "",
        "min_ssim": min(ssims) if ssims else None,
        "mean_ssim": float(np.mean(ssims)) if ssims else None,
        "ssim_scenes": len(ssims),
        "max_abs_offset_ms": max(offsets) if offsets else None,
        "scenes_measured": len(offsets),
        "scenes_unmeasured": [r.index for r in results if r.offset_ms is None],
        "scenes": [asdict(r) for r in results],
    }
