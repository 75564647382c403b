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
from av.video.stream import VideoStream

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


def _frames(data: bytes) -> list[tuple[int, int]]:
    """(offset, slice NAL type) of each frame of a stream with one slice per frame.

    A frame begins with the first NAL unit after the previous frame's slice, so the parameter sets and SEI
    that precede an IDR slice belong to that IDR's frame.
    """
    frames = []
    begin: int | None = None
    for at in _start_codes(data):
        if begin is None:
            # A 4-byte start code's leading zero belongs to the frame it starts.
            begin = at - 1 if at > 0 and data[at - 1] == 0 else at
        kind = data[at + 3] & 0x1F if at + 3 < len(data) else 0
        if kind in _VCL_TYPES:
            frames.append((begin, kind))
            begin = None
    return frames


def split_frames(data: bytes, count: int) -> tuple[bytes, bytes]:
    """The first ``count`` frames of an Annex B stream, and the rest (which decodes on its own if it
    starts with an IDR and the decoder has seen the stream's parameter sets)."""
    frames = _frames(data)
    if count > len(frames):
        raise ValueError(f"the stream has {len(frames)} frames, fewer than {count}")
    at = frames[count][0] if count < len(frames) else len(data)
    return data[:at], data[at:]


def frames_of(data: bytes) -> list[bytes]:
    """Each frame's bytes (with the parameter sets and SEI that lead it) of a stream with one slice per
    frame."""
    starts = [at for at, _ in _frames(data)]
    return [data[begin:end] for begin, end in zip(starts, [*starts[1:], len(data)], strict=True)]


def first_frames(data: bytes, count: int) -> bytes:
    """The bytes of the first ``count`` frames of an Annex B stream with one slice per frame."""
    return split_frames(data, count)[0]


def idr_frames(data: bytes) -> list[int]:
    """Indexes of the IDR frames (where a decoder may start) of a stream with one slice per frame."""
    return [index for index, (_, kind) in enumerate(_frames(data)) if kind == 5]


def last_gop(data: bytes) -> bytes:
    """The stream's last GOP, from its last IDR, led by the stream's parameter sets: decodable alone."""
    frames = _frames(data)
    last = max(index for index, (_, kind) in enumerate(frames) if kind == 5)
    return parameter_sets(data) + data[frames[last][0] :]


def parameter_sets(data: bytes) -> bytes:
    """The stream's first SPS and its picture parameter sets, as Annex B (the join needs them equal in
    every segment). A segment repeats them at each keyframe; they are read up to the first picture."""
    found: list[bytes] = []
    for unit in annexb_units(data):
        kind = unit[0] & 0x1F
        if kind in _VCL_TYPES:
            break
        if kind in (7, 8) and unit not in found:
            found.append(unit)
    return b"".join(b"\x00\x00\x00\x01" + unit for unit in found)


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


class PacketDigest:
    """sha256 over packets, in order, each with its length: what the join copies as it is (its sound)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def update(self, packet: bytes) -> None:
        self._hash.update(len(packet).to_bytes(4, "big"))
        self._hash.update(packet)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class Mp4Digests:
    """What an MP4 carries, hashed from its packets: the picture digest of its video and the packet digest
    of its sound. Fed the packets of one video and one audio stream in file order (``add``), so that a
    reader that demuxes the file anyway (reelmake.probe) hashes it in the same pass."""

    def __init__(self) -> None:
        self.pictures = PictureDigest()
        self._audio = PacketDigest()
        self._length_size: int | None = None

    def add(self, packet: av.Packet) -> None:
        """Hash one packet (the empty packet that ends a stream carries nothing)."""
        if not packet.size:
            return
        if not isinstance(packet.stream, VideoStream):
            self._audio.update(bytes(packet))
            return
        if self._length_size is None:
            extradata = packet.stream.codec_context.extradata or b""
            # avcC's fifth byte holds the NAL length size minus one.
            self._length_size = (extradata[4] & 0x03) + 1 if len(extradata) > 4 and extradata[0] == 1 else 4
        self.pictures.update(length_prefixed_units(bytes(packet), self._length_size))

    @property
    def audio(self) -> str:
        return self._audio.hexdigest()


def mp4_digests(path: Path) -> Mp4Digests:
    """Both digests of an MP4, in one pass over its packets (nothing decoded)."""
    digests = Mp4Digests()
    with av.open(str(path)) as container:
        for packet in container.demux([*container.streams.video[:1], *container.streams.audio[:1]]):
            digests.add(packet)
    return digests
