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


def annexb_units(data: bytes) -> Iterator[bytes]:
    """NAL units of an Annex B stream (start codes removed, trailing zero bytes dropped)."""
    start = data.find(b"\x00\x00\x01")
    while start >= 0:
        begin = start + 3
        end = data.find(b"\x00\x00\x01", begin)
        unit = data[begin : end if end >= 0 else len(data)].rstrip(b"\x00")
        if unit:
            yield unit
        start = end


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
