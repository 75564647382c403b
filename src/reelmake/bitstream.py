"""H.264 NAL units in both framings, and a digest of the coded pictures that survives remuxing.

The join streams the scene segments (Annex B, start codes) into an MP4 (length-prefixed NAL units). The
digest of the picture data (VCL NAL units) is the same on both sides when nothing was lost or damaged, so
comparing the two checks every byte of video in the final file without decoding it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import av

_VCL_TYPES = {1, 5}  # coded slices: non-IDR and IDR


def _start_codes(data: bytes) -> list[int]:
    """Offsets of every 3-byte start code (00 00 01) in an Annex B stream."""
    found = []
    at = data.find(b"\x00\x00\x01")
    while at >= 0:
        found.append(at)
        at = data.find(b"\x00\x00\x01", at + 3)
    return found


def annexb_units(data: bytes) -> Iterator[bytes]:
    """NAL units of an Annex B stream (start codes removed, trailing zero bytes dropped)."""
    starts = _start_codes(data)
    for begin, end in zip(starts, [*starts[1:], len(data)], strict=False):
        unit = data[begin + 3 : end].rstrip(b"\x00")
        if unit:
            yield unit


def first_frames(data: bytes, count: int) -> bytes:
    """The bytes of the first ``count`` frames of an Annex B stream with one slice per frame."""
    if count == 0:
        return b""
    seen = 0
    for at in _start_codes(data):
        if data[at + 3] & 0x1F in _VCL_TYPES:
            if seen == count:
                # A 4-byte start code's leading zero belongs to the next frame.
                return data[: at - 1 if at > 0 and data[at - 1] == 0 else at]
            seen += 1
    if seen == count:
        return data
    raise ValueError(f"the stream has {seen} frames, fewer than {count}")


def length_prefixed_units(packet: bytes, size: int = 4) -> Iterator[bytes]:
    """NAL units of one MP4 sample (each preceded by its length in ``size`` bytes)."""
    offset = 0
    while offset + size <= len(packet):
        length = int.from_bytes(packet[offset : offset + size], "big")
        offset += size
        yield packet[offset : offset + length]
        offset += length


class PictureDigest:
    """sha256 over the coded slices, in order, each with its length."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.slices = 0

    def update(self, units: Iterable[bytes]) -> None:
        for unit in units:
            if unit and unit[0] & 0x1F in _VCL_TYPES:
                self._hash.update(len(unit).to_bytes(4, "big"))
                self._hash.update(unit)
                self.slices += 1

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def mp4_picture_digest(path: Path) -> PictureDigest:
    """The picture digest of the first video stream of an MP4 (packets read, nothing decoded)."""
    digest = PictureDigest()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        extradata = stream.codec_context.extradata or b""
        # avcC's fifth byte holds the NAL length size minus one.
        size = (extradata[4] & 0x03) + 1 if len(extradata) > 4 and extradata[0] == 1 else 4
        for packet in container.demux(stream):
            if packet.size:
                digest.update(length_prefixed_units(bytes(packet), size))
    return digest
