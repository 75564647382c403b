"""Skip frames written directly: they must decode, with real decoders, to exactly the keyframe's picture."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from reelmake.bitstream import annexb_units, parameter_sets
from reelmake.clips import encode_keyframes, still_segment
from reelmake.ffmpeg import ffmpeg_exe
from reelmake.skipframes import (
    SKIP_PPS_ID,
    SequenceLayout,
    _BitReader,
    _BitWriter,
    _escape,
    _unescape,
    sequence_layout,
    with_skip_pps,
)


def test_exp_golomb_codes_read_back() -> None:
    writer = _BitWriter()
    values = [0, 1, 2, 3, 7, 8, 254, 255, 8160, 65535]
    signed = [0, 1, -1, 2, -2, 25, -26]
    for value in values:
        writer.ue(value)
    for value in signed:
        writer.se(value)
    writer.bits(5, 3)
    reader = _BitReader(writer.rbsp())
    assert [reader.ue() for _ in values] == values
    assert [reader.se() for _ in signed] == signed
    assert reader.bits(3) == 5 and reader.bits(1) == 1  # then the stop bit


@pytest.mark.parametrize(
    "rbsp", [b"\x00\x00\x00", b"\x00\x00\x01\x00\x00\x02", b"\x12\x00\x00\x03\x00\x00", bytes(range(8)) * 3]
)
def test_escaping_hides_start_codes_and_reads_back(rbsp: bytes) -> None:
    escaped = _escape(rbsp)
    hidden = (b"\x00\x00\x00", b"\x00\x00\x01", b"\x00\x00\x02")
    assert all(escaped[i : i + 3] not in hidden for i in range(len(escaped)))
    assert _unescape(escaped) == rbsp


def keyframe(tmp_path: Path, size: tuple[int, int], fps: int = 30) -> bytes:
    rng = np.random.default_rng(size[0])
    picture = Image.fromarray((rng.random((size[1] // 4, size[0] // 4, 3)) * 255).astype(np.uint8))
    return encode_keyframes([picture.resize(size)], fps, tmp_path / "clip.h264")[0]


@pytest.mark.parametrize(("size", "macroblocks"), [((320, 180), 20 * 12), ((1920, 1080), 120 * 68)])
def test_the_layout_is_read_from_the_encoders_sps(
    tmp_path: Path, size: tuple[int, int], macroblocks: int
) -> None:
    layout = sequence_layout(keyframe(tmp_path, size))
    assert layout.macroblocks == macroblocks
    assert layout.poc_type in (0, 2) and 4 <= layout.frame_num_bits <= 16


def test_a_keyframe_carries_both_parameter_sets(tmp_path: Path) -> None:
    data = keyframe(tmp_path, (320, 180))
    kinds = [unit[0] & 0x1F for unit in annexb_units(data)]
    assert kinds.count(8) == 2 and kinds[-1] == 5  # x264's PPS and the skip frames' PPS, then the IDR
    assert sequence_layout(data).skip_pps() in parameter_sets(data)
    assert with_skip_pps(data).count(sequence_layout(data).skip_pps()) == 2  # a second pass adds another


def decoded(stream: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(stream), format="h264") as container:
        return [frame.to_ndarray(format="yuv420p") for frame in container.decode(video=0)]


@pytest.mark.parametrize("frames", [1, 2, 59, 60, 61, 75, 200])
def test_a_still_segment_decodes_to_its_keyframe_on_every_frame(tmp_path: Path, frames: int) -> None:
    data = keyframe(tmp_path, (320, 180))
    stream = still_segment(data, frames, 30)
    pictures = decoded(stream)
    assert len(pictures) == frames
    assert all(np.array_equal(picture, pictures[0]) for picture in pictures)
    assert np.array_equal(pictures[0], decoded(data)[0])
    slices = [unit[0] & 0x1F for unit in annexb_units(stream) if unit[0] & 0x1F in (1, 5)]
    assert [i for i, kind in enumerate(slices) if kind == 5] == list(range(0, frames, 60))


def test_ffmpeg_decodes_skip_frames_without_a_complaint_and_frame_numbers_wrap(tmp_path: Path) -> None:
    """More skip frames than frame_num can count (it wraps): strict decoding, every frame the same."""
    data = keyframe(tmp_path, (320, 180))
    layout = sequence_layout(data)
    count = (1 << layout.frame_num_bits) * 3
    (tmp_path / "long.h264").write_bytes(data + layout.skip_frames(count))
    result = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-xerror", "-err_detect", "explode", "-f", "h264",
         "-i", str(tmp_path / "long.h264"), "-f", "framemd5", "-"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0 and result.stderr == ""
    digests = {line.split(",")[-1].strip() for line in result.stdout.splitlines() if not line.startswith("#")}
    frames = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    assert len(frames) == count + 1 and len(digests) == 1


def test_a_skip_frame_is_a_p_slice_on_the_skip_pps(tmp_path: Path) -> None:
    layout = sequence_layout(keyframe(tmp_path, (320, 180)))
    unit = layout.skip_frame(3)[4:]
    assert unit[0] & 0x1F == 1 and unit[0] >> 5 != 0  # a reference slice
    reader = _BitReader(_unescape(unit[1:]))
    assert (reader.ue(), reader.ue(), reader.ue()) == (0, 0, SKIP_PPS_ID)
    assert reader.bits(layout.frame_num_bits) == 3
    with pytest.raises(ValueError, match="follows its keyframe"):
        layout.skip_frame(0)


def test_unsupported_parameter_sets_are_refused() -> None:
    with pytest.raises(ValueError, match="not a sequence parameter set"):
        SequenceLayout.parse(b"\x68\xee")
    with pytest.raises(ValueError, match="no sequence parameter set"):
        sequence_layout(b"\x00\x00\x00\x01\x65\x88")


def test_pictures_encoded_together_are_keyframes_of_their_own(tmp_path: Path) -> None:
    """One encoder run makes every caption state's keyframe: each starts with both parameter sets and
    decodes alone to its own picture."""
    colours = ((200, 30, 30), (30, 200, 30), (30, 30, 200))
    pictures = [Image.new("RGB", (64, 48), colour) for colour in colours]
    keyframes = encode_keyframes(pictures, 30, tmp_path / "clip.h264")
    assert len(keyframes) == 3
    for picture, data in zip(pictures, keyframes, strict=True):
        kinds = [unit[0] & 0x1F for unit in annexb_units(data)]
        assert kinds[:3] == [7, 8, 8] and kinds[-1] == 5 and kinds.count(5) == 1
        rgb = decoded_rgb(data)
        assert np.abs(rgb[24, 32].astype(int) - picture.getpixel((32, 24))).max() <= 4
    assert len({parameter_sets(data) for data in keyframes}) == 1
    assert not list(tmp_path.iterdir())  # the encoder's scratch file is gone


def decoded_rgb(stream: bytes) -> np.ndarray:
    with av.open(io.BytesIO(stream), format="h264") as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")
