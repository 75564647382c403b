"""The narration's AAC window: its true peak, decoded from the file written, is never over -1 dBTP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelmake import jobs
from reelmake.audiofile import decode_audio
from reelmake.ffmpeg import RenderError
from reelmake.loudness import TRUE_PEAK_MAX_DB, true_peak_db
from reelmake.speech import engine_for, narrate


@pytest.fixture(scope="module")
def clipped_loud() -> np.ndarray:
    """Real speech driven 18 dB into clipping: full-scale runs whose encoding overshoots far over 0 dBTP."""
    speech = narrate(
        "Loud and clear, again and again.", fps=30, min_duration_s=0.0, engine=engine_for("heart", 1.0)
    )
    return np.clip(speech.samples * 8, -1.0, 1.0).astype(np.float32)


def test_a_clipped_loud_scene_is_lowered_until_its_encoded_peak_is_within_the_limit(
    tmp_path: Path, clipped_loud: np.ndarray
) -> None:
    out = tmp_path / "narration.m4a"
    samples, window, peak = jobs._encode_within_peak(clipped_loud, out)
    measured = true_peak_db(decode_audio(out, channels=2))
    assert measured <= TRUE_PEAK_MAX_DB
    assert peak == pytest.approx(measured, abs=1e-6)
    # Lowered as a whole (the WAV is written from these samples), by at least what the encoder added.
    gain = float(np.abs(samples).max() / np.abs(clipped_loud).max())
    assert gain < 10 ** (TRUE_PEAK_MAX_DB / 20)
    assert np.allclose(samples, clipped_loud * gain, atol=1e-6)
    assert window.start <= np.flatnonzero(samples)[0] and window.length % 1024 == 0


def test_a_scene_already_within_the_limit_is_encoded_once_as_it_is(
    tmp_path: Path, clipped_loud: np.ndarray
) -> None:
    quiet = clipped_loud * np.float32(0.25)  # -12 dBFS peaks: no encoder overshoot reaches -1 dBTP
    samples, _, peak = jobs._encode_within_peak(quiet, tmp_path / "n.m4a")
    assert samples is quiet and peak <= -6.0


def test_a_peak_that_stays_over_the_limit_fails_the_job_and_leaves_no_file(
    tmp_path: Path, clipped_loud: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "PEAK_TRIES", 1)  # one encode: the clipped input is over, with no retry
    out = tmp_path / "narration.m4a"
    with pytest.raises(
        RenderError, match=r"true peak stays at [0-9.]+ dBTP, over -1.0 dBTP, after 1 encodes"
    ):
        jobs._encode_within_peak(clipped_loud, out)
    assert not out.exists()
