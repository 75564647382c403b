"""Reading recorded sound: any file PyAV decodes (WAV, MP3, M4A, FLAC, Ogg, a video's sound track)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from reelmake.errors import UserError
from reelmake.ffmpeg import local_file
from reelmake.speech import SAMPLE_RATE

LAYOUTS = {1: "mono", 2: "stereo"}
ADVICE = "use a sound file such as WAV, MP3, M4A, FLAC or Ogg."


class AudioFileError(Exception):
    """The file has no sound that can be decoded; the message says why, without the file's name."""


def audio_duration(path: Path, limit_s: float) -> float:
    """Seconds of sound in the file's first audio stream, found by decoding all of it (so damage shows).

    Decoding stops once the sound is longer than ``limit_s``: a small file of silence can hold hours.
    """
    samples = 0
    rate = 0
    for frame in _frames(path):
        samples += frame.samples
        rate = frame.sample_rate
        if samples > limit_s * rate:
            break
    if samples == 0:
        raise AudioFileError("has an audio stream but no sound in it")
    return samples / rate


def decode_audio(path: Path, channels: int, rate: int = SAMPLE_RATE) -> np.ndarray:
    """The first audio stream as float32 of shape (channels, samples) at ``rate`` (mono is mixed down)."""
    resampler = av.AudioResampler(format="fltp", layout=LAYOUTS[channels], rate=rate)
    pieces = [out.to_ndarray() for frame in _frames(path) for out in resampler.resample(frame)]
    pieces += [out.to_ndarray() for out in resampler.resample(None)]
    if not pieces:
        raise AudioFileError("has an audio stream but no sound in it")
    return np.concatenate(pieces, axis=1).astype(np.float32)


def load_sound(path: Path, channels: int, *, shown_as: str) -> np.ndarray:
    """:func:`decode_audio` for a user's file: a failure is the user's to fix (UserError), not a crash."""
    try:
        return decode_audio(path, channels)
    except AudioFileError as error:
        raise UserError(f"'{shown_as}' {error}; {ADVICE}") from None


def _frames(path: Path):  # type: ignore[no-untyped-def]
    """Decoded frames of the first audio stream; AudioFileError if there is none or it is damaged."""
    try:
        with av.open(local_file(path)) as container:
            if not container.streams.audio:
                raise AudioFileError("has no audio stream")
            yield from container.decode(container.streams.audio[0])
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise AudioFileError(f"cannot be decoded as audio ({reason})") from None
