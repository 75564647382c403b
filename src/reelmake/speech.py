"""Narration: text → sentences → speech, with each sentence's time, padded to whole video frames."""

from __future__ import annotations

import functools
import math
import re
import threading
import wave
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from reelmake.aac import EDGE_SILENCE
from reelmake.fsutil import atomic_output

SAMPLE_RATE = 48_000
LEAD_S = 0.25  # silence before the first sentence, so a cut never clips a word
GAP_S = 0.35  # between sentences
TAIL_S = 0.5  # after the last sentence
SILENCE_DB = -50.0  # TTS output is trimmed to where it rises above this...
EDGE_S = 0.04  # ...keeping this much, so cue times are when speech is heard
# A sentence runs to . ! ? … (with any closing quotes or brackets) before a space, or to a CJK 。！？.
_SENTENCE = re.compile(r"\S.*?(?:[.!?…]+[\"')\]”’」』）]*(?=\s|$)|[。！？]+[」』）”’\"')]*|$)", re.S)
_ABBREVIATION = re.compile(r"(?:^|\s)(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|vs|etc|e\.g|i\.e|No|approx)\.$", re.I)


class SpeechEngine(Protocol):
    """What reelmake needs from a TTS engine: float32 mono samples in [-1, 1] at ``sample_rate``."""

    sample_rate: int

    def synthesize(self, text: str) -> np.ndarray: ...


class HibariEngine:
    """hibari-tts: offline neural TTS whose default voice ships in the wheel."""

    def __init__(self, voice: str = "heart", speed: float = 1.0) -> None:
        from hibari import Hibari

        # Only the bundled voice: any other would be downloaded, and renders never touch the network.
        if voice != "heart":
            raise ValueError(f"voice {voice!r} is not bundled with hibari-tts; use 'heart'")
        self._tts = Hibari()
        self._speed = speed
        # Jobs run in threads. The pronunciation step (about 1 ms a sentence) is not known to be thread-safe:
        # one at a time; the model itself (onnxruntime, one thread per call) runs in several jobs at once.
        self._g2p_lock = threading.Lock()
        self.sample_rate = 24_000
        # The pronunciation dictionaries load on first use (about half a second): load them now, while
        # the engine is being preloaded, not in the first narration job.
        self.synthesize("Ready.")

    def synthesize(self, text: str) -> np.ndarray:
        """As ``Hibari()(text, speed, seed=0)``, bit for bit (one noise generator for the sentences)."""
        with self._g2p_lock:
            sentences = self._tts.phonemize(text)
        noise = np.random.default_rng(0)
        parts = [self._tts.from_ids(self._tts.ids(s), self._speed, noise) for s in sentences]
        return np.asarray(np.concatenate(parts), dtype=np.float32) if parts else np.zeros(0, np.float32)


_ENGINES_LOCK = threading.Lock()


def engine_for(voice: str, speed: float) -> SpeechEngine:
    """The engine for a voice, loaded once per process (the model takes about a second to load)."""
    with _ENGINES_LOCK:
        return _engine(voice, speed)


@functools.cache
def _engine(voice: str, speed: float) -> SpeechEngine:
    return HibariEngine(voice, speed)


@dataclass(frozen=True)
class Cue:
    """A sentence and when it is spoken, in seconds from the scene's start."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Narration:
    """A scene's audio: samples at SAMPLE_RATE filling exactly ``frames`` video frames."""

    samples: np.ndarray
    frames: int
    cues: tuple[Cue, ...]


def split_sentences(text: str) -> list[str]:
    """Sentences of a narration, in order, without empty pieces."""
    sentences: list[str] = []
    for piece in (p.strip() for p in _SENTENCE.findall(text)):
        if not piece:
            continue
        if sentences and _ABBREVIATION.search(sentences[-1]):
            sentences[-1] += " " + piece  # "Dr." ends a word, not a sentence
        else:
            sentences.append(piece)
    return sentences


def narrate(text: str, *, fps: int, min_duration_s: float, engine: SpeechEngine | None) -> Narration:
    """Speak each sentence, lay them out with pauses, and pad to a whole number of frames."""
    pieces: list[np.ndarray] = []
    cues: list[Cue] = []
    cursor = 0
    sentences = split_sentences(text)
    if sentences:
        if engine is None:
            raise ValueError("a scene with narration needs a speech engine")
        cursor = _silence(pieces, LEAD_S, cursor)
        for i, sentence in enumerate(sentences):
            audio = _trim(_to_rate(engine.synthesize(sentence), engine.sample_rate))
            pieces.append(audio)
            cues.append(Cue(cursor / SAMPLE_RATE, (cursor + len(audio)) / SAMPLE_RATE, sentence))
            cursor += len(audio)
            cursor = _silence(pieces, GAP_S if i < len(sentences) - 1 else TAIL_S, cursor)
    samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    return _fill_frames(samples, fps, min_duration_s, tuple(cues))


def from_recording(samples: np.ndarray, text: str, *, fps: int, min_duration_s: float) -> Narration:
    """A recorded narration (mono, SAMPLE_RATE) as it is, its text's sentences as cues.

    There is no sentence timing in a recording: the sentences share its audible part (from the first to
    the last sample above the silence level) in proportion to their length.
    """
    samples = _with_silent_edges(samples)
    sentences = split_sentences(text)
    loud = np.flatnonzero(np.abs(samples) > 10 ** (SILENCE_DB / 20))
    cues: list[Cue] = []
    if sentences and loud.size:
        start, end = int(loud[0]), int(loud[-1]) + 1
        total = sum(len(sentence) for sentence in sentences)
        cursor = float(start)
        for sentence in sentences:
            share = (end - start) * len(sentence) / total
            cues.append(Cue(cursor / SAMPLE_RATE, (cursor + share) / SAMPLE_RATE, sentence))
            cursor += share
    return _fill_frames(samples.astype(np.float32), fps, min_duration_s, tuple(cues))


def _with_silent_edges(samples: np.ndarray) -> np.ndarray:
    """A recording with at least aac.EDGE_SILENCE samples of exact silence at each end (0.13 s at 48 kHz,
    added only where it is missing): a microphone's noise floor reaches both ends, and the scene's AAC window
    would otherwise spill into the scenes beside it."""
    sound = np.flatnonzero(samples)
    if sound.size == 0:
        return samples
    before = max(0, EDGE_SILENCE - int(sound[0]))
    after = max(0, EDGE_SILENCE - (len(samples) - 1 - int(sound[-1])))
    return np.pad(samples, (before, after))


def _fill_frames(samples: np.ndarray, fps: int, min_duration_s: float, cues: tuple[Cue, ...]) -> Narration:
    """Pad with silence to a whole number of frames, and to at least ``min_duration_s`` (one frame)."""
    samples_per_frame = SAMPLE_RATE // fps
    needed = max(len(samples), math.ceil(round(min_duration_s * SAMPLE_RATE, 6)), samples_per_frame)
    frames = math.ceil(needed / samples_per_frame)
    samples = np.pad(samples, (0, frames * samples_per_frame - len(samples)))
    return Narration(samples.astype(np.float32), frames, cues)


def write_wav(samples: np.ndarray, path: Path) -> None:
    """16-bit mono PCM WAV at SAMPLE_RATE, written atomically."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).round().astype("<i2")
    with atomic_output(path) as tmp, wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())


def read_wav(path: Path) -> np.ndarray:
    """float32 samples of a WAV written by :func:`write_wav`."""
    with wave.open(str(path), "rb") as src:
        if (src.getnchannels(), src.getsampwidth(), src.getframerate()) != (1, 2, SAMPLE_RATE):
            raise ValueError(f"{path}: expected 16-bit mono {SAMPLE_RATE} Hz")
        return np.frombuffer(src.readframes(src.getnframes()), dtype="<i2").astype(np.float32) / 32767


def cues_to_json(narration: Narration) -> dict[str, object]:
    return {
        "frames": narration.frames,
        "samples": len(narration.samples),
        "sample_rate": SAMPLE_RATE,
        "cues": [asdict(c) for c in narration.cues],
    }


def _silence(pieces: list[np.ndarray], seconds: float, cursor: int) -> int:
    count = max(0, round(seconds * SAMPLE_RATE))
    pieces.append(np.zeros(count, np.float32))
    return cursor + count


def _trim(audio: np.ndarray) -> np.ndarray:
    """Cut the engine's own leading and trailing silence; our pauses are laid out explicitly."""
    loud = np.flatnonzero(np.abs(audio) > 10 ** (SILENCE_DB / 20))
    if loud.size == 0:
        return audio[:0]
    edge = round(EDGE_S * SAMPLE_RATE)
    return audio[max(0, loud[0] - edge) : loud[-1] + 1 + edge]


def _to_rate(audio: np.ndarray, rate: int) -> np.ndarray:
    """Band-limited resampling by FFT; TTS output starts and ends in silence, so wrap-around is inaudible."""
    if rate == SAMPLE_RATE or len(audio) == 0:
        return audio
    size = round(len(audio) * SAMPLE_RATE / rate)
    spectrum = np.fft.rfft(audio)
    resized = np.zeros(size // 2 + 1, dtype=spectrum.dtype)
    keep = min(len(spectrum), len(resized))
    resized[:keep] = spectrum[:keep]
    return (np.fft.irfft(resized, size) * (size / len(audio))).astype(np.float32)
