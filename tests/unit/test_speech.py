"""Narration with the real hibari-tts voice: sentences, frame-exact lengths, cue times, WAV files."""

from __future__ import annotations

import itertools
import math
import wave
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from reelmake.speech import (
    GAP_S,
    LEAD_S,
    SAMPLE_RATE,
    TAIL_S,
    SpeechEngine,
    engine_for,
    narrate,
    read_wav,
    split_sentences,
    write_wav,
)

FPS = [24, 25, 30, 60]
TEXT = "The bridge opened in the spring. Crowds came from every town! Who could have guessed?"


@pytest.fixture(scope="module")
def engine() -> SpeechEngine:
    return engine_for("heart", 1.0)


def exact_frames(seconds: float, fps: int) -> int:
    """ceil(seconds * fps) for the decimal the user wrote, without float noise (1.1 s at 30 fps is 33)."""
    return math.ceil(Fraction(str(seconds)) * fps)


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("", []),
        ("   \n\n  ", []),
        ("Just words without an end", ["Just words without an end"]),
        ("One. Two. Three.", ["One.", "Two.", "Three."]),
        ("  Padded sentence.  ", ["Padded sentence."]),
        ("Really? Yes! Fine.", ["Really?", "Yes!", "Fine."]),
        ("Wait… what?", ["Wait…", "what?"]),
        ("First paragraph.\n\nSecond paragraph.", ["First paragraph.", "Second paragraph."]),
        ("It costs 3.50 today. Tomorrow more.", ["It costs 3.50 today.", "Tomorrow more."]),
        ("See example.com for more", ["See example.com for more"]),
        ("今日は晴れ。 明日は雨。", ["今日は晴れ。", "明日は雨。"]),
        ("本当？ はい！", ["本当？", "はい！"]),
    ],
)
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ('She said "stop." Then she left.', ['She said "stop."', "Then she left."]),
        ("“Go!” Nobody moved.", ["“Go!”", "Nobody moved."]),
        ("(It was late.) We went home.", ["(It was late.)", "We went home."]),
    ],
)
def test_split_sentences_keeps_closing_quotes(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_split_sentences_cjk_without_spaces() -> None:
    assert split_sentences("今日は晴れ。明日は雨。") == ["今日は晴れ。", "明日は雨。"]


@pytest.mark.parametrize("fps", FPS)
@pytest.mark.parametrize("min_duration", [0.0, 6.5])
def test_narration_fills_whole_frames(engine: SpeechEngine, fps: int, min_duration: float) -> None:
    narration = narrate(TEXT, fps=fps, min_duration_s=min_duration, engine=engine)
    assert narration.samples.dtype == np.float32
    assert len(narration.samples) == narration.frames * (SAMPLE_RATE // fps)
    assert narration.frames >= exact_frames(min_duration, fps)
    if min_duration:
        assert narration.frames == exact_frames(min_duration, fps)  # the speech is shorter than 6.5 s
    else:
        # No more than one frame of padding after the tail pause.
        spoken = round(narration.cues[-1].end_s * SAMPLE_RATE) + round(TAIL_S * SAMPLE_RATE)
        assert narration.frames == math.ceil(spoken / (SAMPLE_RATE // fps))


@pytest.mark.parametrize("fps", FPS)
def test_cues_one_per_sentence_in_order_inside_the_scene(engine: SpeechEngine, fps: int) -> None:
    narration = narrate(TEXT, fps=fps, min_duration_s=0.0, engine=engine)
    cues = narration.cues
    assert [c.text for c in cues] == split_sentences(TEXT)
    assert cues[0].start_s == pytest.approx(LEAD_S)
    for cue in cues:
        assert 0 <= cue.start_s < cue.end_s
    for before, after in itertools.pairwise(cues):
        assert after.start_s - before.end_s == pytest.approx(GAP_S, abs=1 / SAMPLE_RATE)
    scene_s = narration.frames / fps
    assert cues[-1].end_s + TAIL_S <= scene_s + 1e-9
    # Each cue holds sound; the lead and the pauses are exact silence.
    samples = narration.samples
    assert not samples[: round(LEAD_S * SAMPLE_RATE)].any()
    for before, after in itertools.pairwise(cues):
        assert not samples[round(before.end_s * SAMPLE_RATE) : round(after.start_s * SAMPLE_RATE)].any()
    for cue in cues:
        assert np.abs(samples[round(cue.start_s * SAMPLE_RATE) : round(cue.end_s * SAMPLE_RATE)]).max() > 0.01
    assert not samples[round(cues[-1].end_s * SAMPLE_RATE) :].any()
    assert np.abs(samples).max() <= 1.0


@pytest.mark.parametrize("fps", FPS)
@pytest.mark.parametrize("seconds", [0.04, 0.55, 1.1, 2.2, 3.0, 4.0, 12.34])
def test_silent_scene_lasts_its_min_duration_in_frames(fps: int, seconds: float) -> None:
    narration = narrate("", fps=fps, min_duration_s=seconds, engine=None)
    assert narration.frames == exact_frames(seconds, fps)
    assert len(narration.samples) == narration.frames * (SAMPLE_RATE // fps)
    assert narration.cues == ()
    assert not narration.samples.any()


@pytest.mark.parametrize("fps", FPS)
def test_silent_scene_of_no_duration_is_one_frame(fps: int) -> None:
    narration = narrate("   ", fps=fps, min_duration_s=0.0, engine=None)
    assert narration.frames == 1
    assert len(narration.samples) == SAMPLE_RATE // fps


def test_narration_needs_an_engine() -> None:
    with pytest.raises(ValueError, match="speech engine"):
        narrate("Words.", fps=30, min_duration_s=0.0, engine=None)


def test_only_the_bundled_voice_is_offered() -> None:
    with pytest.raises(ValueError, match="not bundled"):
        engine_for("someone-else", 1.0)


def test_wav_round_trip(engine: SpeechEngine, tmp_path: Path) -> None:
    speech = narrate("Round trip.", fps=25, min_duration_s=0.0, engine=engine).samples
    rng = np.random.default_rng(7)
    samples = np.concatenate(
        [speech, rng.uniform(-1, 1, 10_000).astype(np.float32), np.array([-1.0, 1.0, 0.0], np.float32)]
    )
    path = tmp_path / "out" / "speech.wav"
    write_wav(samples, path)
    assert [p.name for p in path.parent.iterdir()] == ["speech.wav"]  # no temporary file left
    back = read_wav(path)
    assert back.dtype == np.float32
    assert len(back) == len(samples)
    assert np.abs(back - samples).max() <= 1 / 32767
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, SAMPLE_RATE)


def test_wav_clips_out_of_range_samples(tmp_path: Path) -> None:
    path = tmp_path / "loud.wav"
    write_wav(np.array([-3.0, -1.5, 0.5, 1.5, 3.0], np.float32), path)
    assert read_wav(path) == pytest.approx([-1.0, -1.0, 0.5, 1.0, 1.0], abs=1 / 32767)


def test_read_wav_refuses_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(b"\0" * 400)
    with pytest.raises(ValueError, match="expected 16-bit mono"):
        read_wav(path)


def test_narration_is_deterministic(engine: SpeechEngine) -> None:
    first = narrate(TEXT, fps=30, min_duration_s=0.0, engine=engine)
    narrate("Something else entirely, in between.", fps=30, min_duration_s=0.0, engine=engine)
    second = narrate(TEXT, fps=30, min_duration_s=0.0, engine=engine)
    assert first.frames == second.frames
    assert first.cues == second.cues
    assert np.array_equal(first.samples, second.samples)


def test_synthesis_in_parallel_jobs_is_hibaris_own(engine: SpeechEngine) -> None:
    """Jobs run in threads and speak at once: each gets exactly what hibari's own call gives."""
    from hibari import Hibari

    texts = [TEXT, "Something else entirely, in between.", "A third one. With two sentences!"] * 2
    expected = {text: Hibari()(text, speed=1.0, seed=0) for text in set(texts)}
    with ThreadPoolExecutor(max_workers=3) as pool:
        spoken = list(pool.map(engine.synthesize, texts))
    for text, samples in zip(texts, spoken, strict=True):
        assert samples.dtype == np.float32
        assert np.array_equal(samples, expected[text]), text


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Dr. Smith went home. Mrs. Jones stayed.", ["Dr. Smith went home.", "Mrs. Jones stayed."]),
        ("Bring fruit, e.g. apples. Then leave.", ["Bring fruit, e.g. apples.", "Then leave."]),
        ("「行こう。」と言った。", ["「行こう。」", "と言った。"]),
    ],
)
def test_split_sentences_abbreviations_and_quotes(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences
