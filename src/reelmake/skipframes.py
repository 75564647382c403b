"""Frames that repeat the picture before them, written directly as H.264 instead of encoded.

A still scene is one picture shown for hundreds of frames. x264 spends milliseconds on each identical
frame, only to produce a P slice whose macroblocks are all skipped. Such a slice is a few bytes that
depend only on the stream's parameters and the frame's number, so it is written here: the keyframe is
encoded once, and every other frame of the still is a "skip frame" that decodes to exactly the picture
before it (P_Skip copies its reference with a zero motion vector, and no edge of it is filtered).

x264's slices use CABAC, whose skip flags would need an arithmetic coder; instead the skip frames refer
to a second picture parameter set (CAVLC, id ``SKIP_PPS_ID``) in which the whole slice is one
``mb_skip_run``. The keyframe's stream carries both parameter sets, so a joined file does too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from reelmake.bitstream import annexb_units

SKIP_PPS_ID = 1
_NAL_SPS, _NAL_PPS, _NAL_SLICE = 7, 8, 1
# Skip frames are reference frames: pic_order_cnt_type 2 (x264's without B-frames) forbids two
# non-reference frames in a row.
_NAL_REF_IDC = 2
_P_SLICE = 0
# Profiles whose SPS carries chroma format and bit depths (H.264 7.3.2.1.1).
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}
START_CODE = b"\x00\x00\x00\x01"


class _BitReader:
    def __init__(self, rbsp: bytes) -> None:
        self._bits = "".join(f"{byte:08b}" for byte in rbsp)
        self._at = 0

    def bits(self, count: int) -> int:
        if self._at + count > len(self._bits):
            raise ValueError("the parameter set ends early")
        value = int(self._bits[self._at : self._at + count] or "0", 2)
        self._at += count
        return value

    def flag(self) -> bool:
        return self.bits(1) == 1

    def ue(self) -> int:
        zeros = 0
        while self.bits(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("an Exp-Golomb code is too long")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code % 2 else -(code // 2)


class _BitWriter:
    def __init__(self) -> None:
        self._bits: list[str] = []

    def bits(self, value: int, count: int) -> None:
        if count:
            self._bits.append(format(value, f"0{count}b"))

    def ue(self, value: int) -> None:
        code = format(value + 1, "b")
        self._bits.append("0" * (len(code) - 1) + code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def rbsp(self) -> bytes:
        """The bits with rbsp_trailing_bits: a stop bit, then zeros to the byte boundary."""
        bits = "".join(self._bits) + "1"
        bits += "0" * (-len(bits) % 8)
        return int(bits, 2).to_bytes(len(bits) // 8, "big")


def _unescape(payload: bytes) -> bytes:
    """The RBSP of a NAL unit's payload: emulation prevention bytes (00 00 03) removed."""
    return payload.replace(b"\x00\x00\x03", b"\x00\x00")


def _escape(rbsp: bytes) -> bytes:
    """A NAL payload from an RBSP: 03 inserted wherever 00 00 is followed by a byte ≤ 3."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _nal(ref_idc: int, kind: int, rbsp: bytes) -> bytes:
    return START_CODE + bytes([ref_idc << 5 | kind]) + _escape(rbsp)


@dataclass(frozen=True)
class SequenceLayout:
    """What a slice header needs from the sequence parameter set."""

    sps_id: int
    frame_num_bits: int
    poc_type: int
    poc_lsb_bits: int
    macroblocks: int

    @classmethod
    def parse(cls, sps_unit: bytes) -> SequenceLayout:
        """From an SPS NAL unit (header byte included, no start code)."""
        if sps_unit[0] & 0x1F != _NAL_SPS:
            raise ValueError("not a sequence parameter set")
        reader = _BitReader(_unescape(sps_unit[1:]))
        profile = reader.bits(8)
        reader.bits(16)  # constraint flags, level
        sps_id = reader.ue()
        if profile in _HIGH_PROFILES:
            chroma_format = reader.ue()
            if chroma_format == 3:
                reader.flag()
            reader.ue(), reader.ue()  # bit depths
            reader.flag()  # qpprime_y_zero_transform_bypass
            if reader.flag():
                raise ValueError("scaling matrices in the SPS are not supported")
        frame_num_bits = reader.ue() + 4
        poc_type = reader.ue()
        poc_lsb_bits = reader.ue() + 4 if poc_type == 0 else 0
        if poc_type == 1:
            raise ValueError("pic_order_cnt_type 1 is not supported")
        reader.ue()  # max_num_ref_frames
        reader.flag()  # gaps_in_frame_num_value_allowed
        width_mbs = reader.ue() + 1
        height_units = reader.ue() + 1
        if not reader.flag():
            raise ValueError("interlaced streams are not supported")
        return cls(sps_id, frame_num_bits, poc_type, poc_lsb_bits, width_mbs * height_units)

    def skip_pps(self) -> bytes:
        """The CAVLC picture parameter set the skip frames refer to (Annex B, start code included)."""
        pps = _BitWriter()
        pps.ue(SKIP_PPS_ID)
        pps.ue(self.sps_id)
        pps.bits(0, 1)  # entropy_coding_mode_flag: CAVLC
        pps.bits(0, 1)  # bottom_field_pic_order_in_frame_present_flag
        pps.ue(0)  # num_slice_groups_minus1
        pps.ue(0), pps.ue(0)  # one reference picture in each list
        pps.bits(0, 1), pps.bits(0, 2)  # no weighted prediction
        pps.se(0), pps.se(0), pps.se(0)  # initial QP, QS, chroma QP offset
        pps.bits(1, 1)  # deblocking_filter_control_present_flag: the slice turns it off
        pps.bits(0, 1), pps.bits(0, 1)  # constrained intra prediction, redundant_pic_cnt
        return _nal(3, _NAL_PPS, pps.rbsp())

    def skip_frame(self, frames_since_keyframe: int) -> bytes:
        """The frame ``frames_since_keyframe`` (≥ 1) after an IDR: every macroblock skipped."""
        if frames_since_keyframe < 1:
            raise ValueError("a skip frame follows its keyframe")
        header = _BitWriter()
        header.ue(0)  # first_mb_in_slice
        header.ue(_P_SLICE)
        header.ue(SKIP_PPS_ID)
        header.bits(frames_since_keyframe % (1 << self.frame_num_bits), self.frame_num_bits)
        if self.poc_type == 0:
            header.bits(2 * frames_since_keyframe % (1 << self.poc_lsb_bits), self.poc_lsb_bits)
        header.bits(0, 1)  # num_ref_idx_active_override_flag
        header.bits(0, 1)  # ref_pic_list_modification_flag_l0
        header.bits(0, 1)  # adaptive_ref_pic_marking_mode_flag: sliding window
        header.se(0)  # slice_qp_delta
        header.ue(1)  # disable_deblocking_filter_idc: the copy stays exact
        header.ue(self.macroblocks)  # mb_skip_run: the whole picture
        return _nal(_NAL_REF_IDC, _NAL_SLICE, header.rbsp())

    @functools.lru_cache(maxsize=8)  # noqa: B019 - a few layouts per process, each kept for its stills
    def skip_frames(self, count: int) -> bytes:
        """The ``count`` skip frames that follow a keyframe."""
        return b"".join(self.skip_frame(number) for number in range(1, count + 1))


def with_skip_pps(stream: bytes) -> bytes:
    """An encoder's Annex B stream with the skip frames' PPS after each of its own picture parameter sets.

    Every segment carries the same parameter sets, so that any segment may be joined to any other.
    """
    out = bytearray()
    layout: SequenceLayout | None = None
    for unit in annexb_units(stream):
        kind = unit[0] & 0x1F
        if kind == _NAL_SPS:
            layout = SequenceLayout.parse(unit)
        out += START_CODE + unit
        if kind == _NAL_PPS and layout is not None and (skip := layout.skip_pps()) != START_CODE + unit:
            out += skip
    return bytes(out)


def sequence_layout(stream: bytes) -> SequenceLayout:
    """The layout of the first SPS of an Annex B stream."""
    sps = next((unit for unit in annexb_units(stream) if unit[0] & 0x1F == _NAL_SPS), None)
    if sps is None:
        raise ValueError("the stream has no sequence parameter set")
    return SequenceLayout.parse(sps)
