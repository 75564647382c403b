"""probe, check and validate on real MP4 files made with the bundled ffmpeg (small clips, to stay fast)."""

from __future__ import annotations

import io
import json
import random
import subprocess
from pathlib import Path

import av
import imageio_ffmpeg
import pytest

from reelmake.errors import UserError
from reelmake.probe import (
    EDGE_SECONDS,
    Expectation,
    ValidationError,
    _moov_before_mdat,
    check,
    probe,
    validate,
)

W, H, FPS, SECONDS = 320, 180, 30, 2.0
EXPECTED = Expectation(width=W, height=H, fps=FPS, duration_s=SECONDS)


def _ffmpeg(*args: str) -> None:
    """Run the bundled ffmpeg quietly; a failure fails the test."""
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True
    )


def _render(out: Path, *, audio_s: float | None = SECONDS) -> Path:
    """Encode a test pattern (and a tone) the way the renderer does: x264 High yuv420p + AAC 48 kHz."""
    video = ["-f", "lavfi", "-t", str(SECONDS), "-i", f"testsrc2=size={W}x{H}:rate={FPS}"]
    audio = (
        ["-f", "lavfi", "-t", str(audio_s), "-i", "sine=frequency=440:sample_rate=48000"] if audio_s else []
    )
    codecs = ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p"]
    codecs += ["-c:a", "aac", "-ar", "48000"] if audio_s else ["-an"]
    _ffmpeg(*video, *audio, *codecs, "-movflags", "+faststart", str(out))
    return out


def _mdat(data: bytes) -> tuple[int, int]:
    """Start and end of the top-level mdat box's payload (the test files use 32-bit box sizes)."""
    offset = 0
    while offset < len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        if data[offset + 4 : offset + 8] == b"mdat":
            return offset + 8, offset + size
        offset += size
    raise AssertionError("no mdat box")


@pytest.fixture(scope="session")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s clip that meets EXPECTED, made once per session."""
    return _render(tmp_path_factory.mktemp("probe") / "good.mp4")


def test_good_file_is_measured_and_passes(good: Path) -> None:
    report = validate(good, EXPECTED)
    assert check(report, EXPECTED) == []
    assert (report.video_codec, report.profile, report.pix_fmt) == ("h264", "High", "yuv420p")
    assert (report.width, report.height) == (W, H)
    assert (report.fps, report.fps_float, report.constant_frame_rate) == ("30/1", 30.0, True)
    assert report.frame_count == 60
    assert report.video_duration_s == pytest.approx(SECONDS, abs=1e-6)
    # The AAC encoder's priming samples are excluded, so audio ends within a few ms of the video.
    assert report.audio_duration_s == pytest.approx(SECONDS, abs=0.01)
    assert (report.audio_codec, report.sample_rate, report.channels) == ("aac", 48000, 1)
    assert report.faststart is True
    assert report.decode_errors == []
    assert report.size_bytes == good.stat().st_size


def test_packet_scan_measures_the_same(good: Path) -> None:
    assert probe(good, decode="none") == probe(good)


def test_to_dict_round_trips_through_json(good: Path) -> None:
    report = probe(good, decode="none")
    assert json.loads(json.dumps(report.to_dict())) == report.to_dict()


def test_without_faststart_fails(good: Path, tmp_path: Path) -> None:
    # The same streams, remuxed without +faststart: the muxer then writes moov after mdat.
    slow = tmp_path / "slow.mp4"
    _ffmpeg("-i", str(good), "-c", "copy", str(slow))
    report = probe(slow)
    assert report.faststart is False
    assert [p for p in check(report, EXPECTED) if "fast-start" in p]
    with pytest.raises(ValidationError, match="fast-start"):
        validate(slow, EXPECTED)


def test_truncated_file_fails(good: Path, tmp_path: Path) -> None:
    data = good.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises((UserError, ValidationError)):
        validate(cut, EXPECTED)


@pytest.mark.parametrize("seed", range(5))
def test_corrupt_mdat_is_caught_by_full_decode(good: Path, tmp_path: Path, seed: int) -> None:
    # 8 KB of noise in the middle of the ~80 KB mdat. Small spans can land where the decoders conceal
    # damage silently; 1 KB was already caught for all of seeds 0-99, so 8 KB leaves a wide margin.
    data = bytearray(good.read_bytes())
    start, end = _mdat(bytes(data))
    middle = (start + end) // 2
    data[middle - 4096 : middle + 4096] = random.Random(seed).randbytes(8192)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValidationError, match="decode error"):
        validate(bad, EXPECTED)


@pytest.mark.parametrize(
    ("expectation", "problem"),
    [
        (Expectation(width=1920, height=1080, fps=FPS, duration_s=SECONDS), "frame size is 320x180"),
        (Expectation(width=W, height=H, fps=25, duration_s=SECONDS), "frame rate is 30 fps, expected 25"),
        (Expectation(width=W, height=H, fps=FPS, duration_s=3.0), "video lasts 2.000 s, expected 3.000 s"),
        (Expectation(width=W, height=H, fps=FPS, duration_s=3.0), "has 60 video frames, expected 90"),
        (Expectation(width=W, height=H, fps=FPS, duration_s=SECONDS, profile="Main"), "profile is High"),
        (Expectation(width=W, height=H, fps=FPS, duration_s=SECONDS, sample_rate=44100), "48000 Hz"),
    ],
)
def test_wrong_expectation_names_the_problem(good: Path, expectation: Expectation, problem: str) -> None:
    problems = check(probe(good, decode="none"), expectation)
    assert any(problem in p for p in problems), problems


def test_short_audio_is_reported(tmp_path: Path) -> None:
    clip = _render(tmp_path / "short_audio.mp4", audio_s=SECONDS - 0.5)
    report = probe(clip)
    assert report.audio_duration_s == pytest.approx(SECONDS - 0.5, abs=0.01)
    assert [p for p in check(report, EXPECTED) if p.startswith("audio lasts 1.5")]


def test_missing_audio_stream(tmp_path: Path) -> None:
    report = probe(_render(tmp_path / "silent.mp4", audio_s=None))
    assert (report.audio_streams, report.audio_codec, report.audio_duration_s) == (0, None, None)
    assert check(report, EXPECTED) == ["has 0 audio streams, expected exactly 1"]


def test_text_file_is_not_a_video(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("This is a shot list, not a video.\n" * 50)
    with pytest.raises(UserError, match=r"notes\.mp4.*not a readable video"):
        probe(fake)


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a readable video"):
        probe(tmp_path / "absent.mp4")


def test_validation_error_lists_one_problem_per_line() -> None:
    error = ValidationError(["first", "second"], path="out.mp4")
    assert str(error).splitlines() == ["out.mp4 failed validation:", "first", "second"]
    assert error.problems == ["first", "second"]


def _box(kind: bytes, payload: bytes = b"", *, wide: bool = False) -> bytes:
    """One MP4 box; ``wide`` writes its size in the 64-bit form."""
    if wide:
        return (1).to_bytes(4, "big") + kind + (16 + len(payload)).to_bytes(8, "big") + payload
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


@pytest.mark.parametrize(
    ("layout", "faststart"),
    [
        (_box(b"ftyp", b"isom") + _box(b"free", b"x" * 20, wide=True) + _box(b"moov") + _box(b"mdat"), True),
        (_box(b"ftyp", b"isom") + _box(b"mdat", b"y" * 40, wide=True) + _box(b"moov"), False),
        (_box(b"ftyp", b"isom") + (0).to_bytes(4, "big") + b"mdat" + b"z" * 30, False),
        (_box(b"ftyp", b"isom"), False),
    ],
)
def test_box_order_handles_64_bit_and_open_ended_sizes(layout: bytes, faststart: bool) -> None:
    assert _moov_before_mdat(io.BytesIO(layout)) is faststart


@pytest.mark.parametrize("where", ["first", "last"])
def test_edges_decode_finds_damage_at_either_end(tmp_path: Path, where: str) -> None:
    # 8 s with a keyframe every second: the start and the end (read by a second reader while the first
    # reads every packet) are decoded, each EDGE_SECONDS long. Noise over the first or the last keyframe
    # shows up as decode errors at that end only.
    clip = tmp_path / "long.mp4"
    _ffmpeg(
        "-f", "lavfi", "-t", "8", "-i", f"testsrc2=size={W}x{H}:rate={FPS}",
        "-f", "lavfi", "-t", "8", "-i", "sine=frequency=440:sample_rate=48000",
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p",
        "-g", str(FPS), "-sc_threshold", "0", "-c:a", "aac", "-movflags", "+faststart", str(clip),
    )  # fmt: skip
    assert probe(clip, decode="edges").decode_errors == []
    with av.open(str(clip)) as container:
        keyframes = [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.is_keyframe]
    position, size = keyframes[0 if where == "first" else -1]
    data = bytearray(clip.read_bytes())
    data[position + size // 4 : position + size * 3 // 4] = random.Random(1).randbytes(
        size * 3 // 4 - size // 4
    )
    clip.write_bytes(bytes(data))
    errors = probe(clip, decode="edges").decode_errors
    assert errors
    times = [float(e.split(" at ")[1].split(" s")[0]) for e in errors if " at " in e]
    assert times and all(t < EDGE_SECONDS if where == "first" else t > 8 - EDGE_SECONDS - 1 for t in times)
