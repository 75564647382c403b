"""The whole video's sound when it has background music: narration and music mixed, ducked and mastered.

Music is not part of any scene (it spans them all), so it is mixed once for the whole video, after the
scenes are rendered: each scene's narration WAV is laid at its exact first sample, the music is looped or
cut to the video's length, faded in and out, and turned down under speech (ducking). The mix is brought to
-14 LUFS with a true-peak limiter (measure, gain and limit, measure again and correct), encoded to one AAC
track, and the encoded file is measured again: a track that misses the targets is not written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from reelmake import aac
from reelmake.audiofile import decode_audio, load_sound
from reelmake.errors import UserError
from reelmake.ffmpeg import RenderError
from reelmake.fsutil import atomic_output
from reelmake.loudness import (
    PEAK_LIMIT_DB,
    TARGET_LUFS,
    TRUE_PEAK_MAX_DB,
    limit_true_peak,
    stereo_lufs,
    true_peak_db,
)
from reelmake.plan import scene_folder
from reelmake.speech import SAMPLE_RATE, read_wav

DUCK_DB = 12.0  # how much quieter the music is under speech than in the pauses
DUCK_BLOCK_S = 0.01  # speech is detected in 10 ms blocks...
DUCK_THRESHOLD_DB = -40.0  # ...whose RMS is above this (narration is normalized to -14 LUFS)
DUCK_LOOKAHEAD_S = 0.2  # the music starts to dip this long before speech (the mix is made offline)...
DUCK_HOLD_S = 0.6  # ...and stays down this long after it, so pauses between sentences do not pump
DUCK_ATTACK_S = 0.05  # time constants of the gain going down and coming back up
DUCK_RELEASE_S = 0.25
MASTER_PASSES = 4
MASTER_TOLERANCE_LU = 0.1
FADE_IN_S = 1.0
FADE_OUT_S = 2.0
LOOP_CROSSFADE_S = 0.05  # a looped piece overlaps its next repeat by this much (no click at the seam)...
LOOP_SEARCH_S = 0.5  # ...starting where, in its last half second, it best matches its own beginning


def fit_music(music: np.ndarray, total: int, rate: int) -> np.ndarray:
    """(channels, samples) music cut to ``total`` samples, or looped to it.

    Each repeat starts where the music's end best continues into its beginning (see loop_point), with a
    short linear crossfade, so a loop has neither a click nor the dip of two waves cancelling.
    """
    length = music.shape[1]
    if length >= total:
        return music[:, :total].copy()
    overlap = min(round(LOOP_CROSSFADE_S * rate), length // 4)
    step = loop_point(music, overlap, min(round(LOOP_SEARCH_S * rate), length // 4))
    ramp = np.linspace(0.0, 1.0, overlap, endpoint=False, dtype=np.float32)
    first = music[:, : step + overlap].copy()
    first[:, step:] *= 1.0 - ramp  # fades out as the next repeat fades in: the gains sum to 1
    repeat = first.copy()
    repeat[:, :overlap] *= ramp
    out = np.zeros((music.shape[0], total + step + overlap), np.float32)
    for start in range(0, total, step):
        out[:, start : start + step + overlap] += repeat if start else first
    return out[:, :total]


def loop_point(music: np.ndarray, overlap: int, search: int) -> int:
    """Where the next repeat should start: among the last ``search`` samples' offsets, the one whose next
    ``overlap`` samples are most like the music's first ones (normalized cross-correlation)."""
    mono = music.mean(axis=0).astype(np.float64)
    latest = len(mono) - overlap
    region = mono[latest - search :]
    head = mono[:overlap]
    size = 1 << int(np.ceil(np.log2(len(region) + overlap)))
    products = np.fft.irfft(np.fft.rfft(region, size) * np.conj(np.fft.rfft(head, size)), size)
    energy = np.concatenate([[0.0], np.cumsum(region**2)])
    windows = energy[overlap : search + overlap + 1] - energy[: search + 1]
    score = products[: search + 1] / np.sqrt(np.maximum(windows, 1e-12))
    return latest - search + int(np.argmax(score))


def fade_envelope(total: int, rate: int) -> np.ndarray:
    """Gain per sample: a raised-cosine fade in at the start and out at the end (shorter in a short video)."""
    envelope = np.ones(total, np.float32)
    for seconds, sign in ((FADE_IN_S, 1), (FADE_OUT_S, -1)):
        length = min(round(seconds * rate), total // 3)
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, length))).astype(np.float32)
        if sign > 0:
            envelope[:length] *= ramp
        elif length:
            envelope[total - length :] *= ramp[::-1]
    return envelope


def duck_gain(voice: np.ndarray, rate: int, depth_db: float = DUCK_DB) -> np.ndarray:
    """Gain per sample for the music: ``-depth_db`` while the mono ``voice`` speaks, 0 dB in its pauses.

    Speech is found in short blocks, widened by the look-ahead and the hold, and the gain (in dB) follows
    it through one-pole attack and release smoothing, then is interpolated to every sample: no steps.
    """
    block = round(DUCK_BLOCK_S * rate)
    count = max(1, -(-len(voice) // block))
    padded = np.pad(voice.astype(np.float64), (0, count * block - len(voice)))
    rms = np.sqrt((padded.reshape(count, block) ** 2).mean(axis=1))
    speaking = np.concatenate([[0], np.cumsum(rms > 10 ** (DUCK_THRESHOLD_DB / 20))])
    index = np.arange(count)
    before, after = round(DUCK_LOOKAHEAD_S / DUCK_BLOCK_S), round(DUCK_HOLD_S / DUCK_BLOCK_S)
    # Block i is ducked if any block from i - after to i + before has speech.
    ducked = speaking[np.minimum(index + before + 1, count)] > speaking[np.maximum(index - after, 0)]
    down = 1 - math.exp(-DUCK_BLOCK_S / DUCK_ATTACK_S)
    up = 1 - math.exp(-DUCK_BLOCK_S / DUCK_RELEASE_S)
    level_db = np.empty(count)
    current = -depth_db if ducked[0] else 0.0
    for i, goal in enumerate(np.where(ducked, -depth_db, 0.0)):
        current += (goal - current) * (down if goal < current else up)
        level_db[i] = current
    centres = (index + 0.5) * block
    return (10 ** (np.interp(np.arange(len(voice)), centres, level_db) / 20)).astype(np.float32)


def music_bed(music: np.ndarray, voice: np.ndarray, rate: int, volume_db: float) -> np.ndarray:
    """The music as it sounds under ``voice``: fitted to its length, levelled, faded and ducked.

    ``volume_db`` is the music's loudness in the pauses relative to the narration's (-14 LUFS).
    """
    fitted = fit_music(music, len(voice), rate)
    loudness = stereo_lufs(fitted, rate)
    level = 10 ** ((TARGET_LUFS + volume_db - loudness) / 20) if math.isfinite(loudness) else 1.0
    return fitted * (level * fade_envelope(len(voice), rate) * duck_gain(voice, rate))


def master(mix: np.ndarray, rate: int, ceiling_db: float = PEAK_LIMIT_DB) -> np.ndarray:
    """Bring a (channels, samples) mix to -14 LUFS with its true peak at most ``ceiling_db``.

    Measure, gain and limit; the limiter takes a little loudness off the loudest moments, so measure again
    and make up for it (usually one more pass is enough).
    """
    out = mix
    for _ in range(MASTER_PASSES):
        measured = stereo_lufs(out, rate)
        if not math.isfinite(measured):  # silence, or too short to measure: only the limit applies
            return limit_true_peak(out, rate, ceiling_db)
        if out is not mix and abs(measured - TARGET_LUFS) < MASTER_TOLERANCE_LU:
            break
        out = limit_true_peak(out * 10 ** ((TARGET_LUFS - measured) / 20), rate, ceiling_db)
    return out


def place_narration(composition: dict[str, Any]) -> np.ndarray:
    """Every scene's narration WAV at its first sample, as one mono track as long as the video."""
    samples_per_frame = SAMPLE_RATE // composition["fps"]
    pieces = []
    for scene in composition["scenes"]:
        folder = scene_folder(scene["hash"])
        frames = json.loads((folder / "timing.json").read_text())["frames"]
        samples = read_wav(folder / "narration.wav")
        if len(samples) != frames * samples_per_frame:
            raise RenderError(f"{folder / 'narration.wav'} does not fill its scene's {frames} frames")
        pieces.append(samples)
    return np.concatenate(pieces)


def render(composition: dict[str, Any], out: Path, report: Path) -> dict[str, Any]:
    """Mix, master and encode the soundtrack; write the measurements of the encoded file to ``report``."""
    music = composition["music"]
    voice = place_narration(composition)
    try:
        sound = load_sound(Path(music["path"]), 2, shown_as=music["path"])
    except UserError as error:  # damaged since it was checked
        raise UserError(f"setting music: {error.detail}") from None
    mix = voice[None, :] + music_bed(sound, voice, SAMPLE_RATE, music["volume_db"])
    ceiling = PEAK_LIMIT_DB
    with atomic_output(out) as tmp:
        for _ in range(2):
            aac.encode(master(mix, SAMPLE_RATE, ceiling), SAMPLE_RATE, tmp)
            encoded = decode_audio(tmp, channels=2)
            peak = true_peak_db(encoded)
            if peak <= TRUE_PEAK_MAX_DB:
                break
            ceiling -= peak - TRUE_PEAK_MAX_DB + 0.2  # the encoder overshot: aim lower by as much, once
        loudness = stereo_lufs(encoded, SAMPLE_RATE)
        problems = []
        if peak > TRUE_PEAK_MAX_DB:
            problems.append(f"its true peak is {peak:.2f} dBTP (at most {TRUE_PEAK_MAX_DB} allowed)")
        if math.isfinite(loudness) and abs(loudness - TARGET_LUFS) > 1.0:
            problems.append(f"its loudness is {loudness:.2f} LUFS ({TARGET_LUFS} ±1 expected)")
        if problems:
            raise RenderError(
                f"the mixed soundtrack failed its check, so {out} was not written: " + "; ".join(problems)
            )
    measured = {
        "loudness_lufs": round(loudness, 2),
        "true_peak_dbtp": round(peak, 2),
        "music": music,
        "ducking_db": DUCK_DB,
    }
    with atomic_output(report) as tmp:
        tmp.write_text(json.dumps(measured, indent=1) + "\n", encoding="utf-8")
    return measured
