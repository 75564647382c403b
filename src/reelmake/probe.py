"""Probe and validate MP4 files with PyAV: the final gate that says a rendered video is really done.

Everything that matters is measured from the packets (and, by default, by decoding every frame) rather
than trusted from the header, because a truncated or corrupt file can carry a perfectly good header.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO, Literal

import av
import av.error
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.video.stream import VideoStream

from reelmake.errors import UserError

DecodeMode = Literal["full", "edges", "none"]
# "edges" decodes this much of the video and the sound at the start (a whole GOP), and the last GOP (a
# decoder needs nothing before its keyframe) with the sound beside it.
EDGE_SECONDS = 2.5

# A badly damaged file can fail on every packet; the first few messages say all there is to say.
_MAX_ERRORS = 20


@dataclass(frozen=True)
class MediaReport:
    """What a file contains, as measured; the fields of a missing stream are None."""

    path: str
    size_bytes: int
    format_name: str
    duration_s: float | None
    video_streams: int
    audio_streams: int
    video_codec: str | None
    profile: str | None
    width: int | None
    height: int | None
    pix_fmt: str | None
    fps: str | None
    fps_float: float | None
    constant_frame_rate: bool | None
    frame_count: int | None
    video_duration_s: float | None
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None
    audio_duration_s: float | None
    faststart: bool
    decode_errors: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-serialisable values."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Expectation:
    """What a finished video must be."""

    width: int
    height: int
    fps: int
    duration_s: float
    video_codec: str = "h264"
    audio_codec: str = "aac"
    pix_fmt: str = "yuv420p"
    sample_rate: int = 48000
    profile: str = "High"


class ValidationError(Exception):
    """A video that does not meet its Expectation; ``problems`` lists why."""

    def __init__(self, problems: list[str], *, path: str | None = None) -> None:
        self.problems = list(problems)
        self.path = path
        header = [f"{path} failed validation:"] if path else []
        super().__init__("\n".join(header + self.problems))


@dataclass
class _Timeline:
    """Packet timestamps of one stream, in its time base."""

    time_base: Fraction
    pts: list[int] = dataclasses.field(default_factory=list)
    end: int | None = None

    def add(self, pts: int, duration: int | None) -> None:
        """Record one packet."""
        self.pts.append(pts)
        packet_end = pts + (duration or 0)
        self.end = packet_end if self.end is None else max(self.end, packet_end)

    def seconds(self, start: int) -> float | None:
        """Seconds from ``start`` to the end of the last packet."""
        return None if self.end is None else float((self.end - start) * self.time_base)


def probe(
    path: str | os.PathLike[str],
    *,
    decode: DecodeMode = "full",
    on_packet: Callable[[av.Packet], None] | None = None,
) -> MediaReport:
    """Measure ``path``; with ``decode="full"`` every frame is decoded so damage shows up in decode_errors.

    ``on_packet`` is given every packet of the measured video and audio stream as they are read (e.g.
    bitstream.Mp4Digests.add), so that a caller who also hashes the file reads it only once.
    """
    if decode not in ("full", "edges", "none"):
        raise ValueError(f"decode must be 'full', 'edges' or 'none', not {decode!r}")
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            faststart = _moov_before_mdat(fh)
        container = av.open(str(path))
    except (OSError, av.error.FFmpegError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UserError(f"not a readable video ({reason})", file=str(path)) from exc
    with container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        # Each end is decoded by a reader of its own while this one reads every packet: decoders work
        # without the GIL, the packet loop mostly with it.
        ends = (False, True) if decode == "edges" and (video or audio) else ()
        with ThreadPoolExecutor(2, thread_name_prefix="probe-edge") as pool:
            edges = [pool.submit(_decode_edge, path, at_end) for at_end in ends]
            vline, aline, errors = _scan(container, video, audio, decode == "full", on_packet)
            errors += [error for edge in edges for error in edge.result()]
        rate = (video.average_rate or video.guessed_rate) if video else None
        vstart = min(vline.pts) if vline and vline.pts else 0
        # Audio packets before pts 0 are the encoder's priming samples, which the edit list tells players
        # to skip; they are never heard, so they are not part of the audio's duration.
        astart = max(min(aline.pts), 0) if aline and aline.pts else 0
        return MediaReport(
            path=str(path),
            size_bytes=size,
            format_name=container.format.name,
            duration_s=container.duration / av.time_base if container.duration is not None else None,
            video_streams=len(container.streams.video),
            audio_streams=len(container.streams.audio),
            video_codec=video.codec_context.name if video else None,
            profile=video.codec_context.profile if video else None,
            width=video.codec_context.width if video else None,
            height=video.codec_context.height if video else None,
            pix_fmt=video.codec_context.pix_fmt if video else None,
            fps=f"{rate.numerator}/{rate.denominator}" if rate else None,
            fps_float=float(rate) if rate else None,
            constant_frame_rate=_is_constant(vline.pts) if vline else None,
            frame_count=len(vline.pts) if vline else None,
            video_duration_s=vline.seconds(vstart) if vline else None,
            audio_codec=audio.codec_context.name if audio else None,
            sample_rate=audio.codec_context.sample_rate if audio else None,
            channels=audio.codec_context.channels if audio else None,
            audio_duration_s=aline.seconds(astart) if aline else None,
            faststart=faststart,
            decode_errors=errors,
        )


def _scan(
    container: InputContainer,
    video: VideoStream | None,
    audio: AudioStream | None,
    decode: bool,
    on_packet: Callable[[av.Packet], None] | None,
) -> tuple[_Timeline | None, _Timeline | None, list[str]]:
    """Read every packet of the two streams (decoding them all if ``decode``); return timelines and
    errors."""
    vline = _Timeline(video.time_base) if video and video.time_base else None
    aline = _Timeline(audio.time_base) if audio and audio.time_base else None
    streams = [s for s in (video, audio) if s is not None]
    errors: list[str] = []
    if not streams:
        return vline, aline, errors
    if decode:
        for stream in streams:
            stream.codec_context.thread_type = "AUTO"
    decoded_video = 0
    try:
        for packet in container.demux(streams):
            line = vline if packet.stream is video else aline
            # The demuxer ends each stream with an empty packet: it carries no frame, only the signal to
            # flush the decoder.
            if packet.size and packet.pts is not None and line is not None:
                line.add(packet.pts, packet.duration)
            if on_packet is not None:
                on_packet(packet)
            if decode:
                decoded_video += _decode(packet, errors)
    except av.error.FFmpegError as exc:
        errors.append(f"reading stopped early: {exc.strerror}")
    _limit(errors)
    # A cut-off file still carries the full sample table in its header; the demuxer just stops early.
    if video and vline is not None and len(vline.pts) < video.frames:
        errors.append(
            f"only {len(vline.pts)} of the {video.frames} video frames listed could be read (truncated?)"
        )
    # The H.264 decoder drops frames it cannot reconstruct, often without raising.
    if decode and vline is not None and decoded_video != len(vline.pts):
        errors.append(f"decoded {decoded_video} video frames, but the file has {len(vline.pts)}")
    return vline, aline, errors


def _decode(packet: av.Packet, errors: list[str]) -> int:
    """Decode one packet, adding its errors to ``errors``; return how many video frames it gave."""
    try:
        frames = packet.decode()
    except av.error.FFmpegError as exc:
        errors.append(f"{_at(packet.stream.type, packet.pts, packet.time_base)}: {exc.strerror}")
        return 0
    if packet.stream.type != "video":
        return 0
    errors.extend(f"{_at('video', f.pts, f.time_base)}: frame is corrupt" for f in frames if f.is_corrupt)
    return len(frames)


def _decode_edge(path: Path, at_end: bool) -> list[str]:
    """Decode the video and the sound of one end of the file with a reader of its own: the first
    EDGE_SECONDS, or from the last keyframe to the end. Returns the errors."""
    errors: list[str] = []
    try:
        with av.open(str(path)) as container:
            streams = [*container.streams.video[:1], *container.streams.audio[:1]]
            for stream in streams:
                # One thread each: the ends are decoded beside each other and the packet scan, and frame
                # threads cost more CPU than they save on a few seconds of video (measured: a third more).
                stream.codec_context.thread_count = 1
            if at_end:
                first = streams[0]  # the video, if there is one
                if container.duration is None or first.time_base is None:
                    return []  # nowhere to seek to: the start's decoding and the packet scan are all
                end = int(container.duration / av.time_base / first.time_base)
                container.seek(end, stream=first, backward=True)  # to the last keyframe
            # Where the start's decoding stops, in each stream's own time base (no Fraction per packet).
            edge = {s: int(EDGE_SECONDS / s.time_base) if s.time_base else 0 for s in streams}
            past: set[av.stream.Stream] = set()
            for packet in container.demux(streams):
                if not at_end and (packet.pts is None or packet.pts >= edge[packet.stream]):
                    past.add(packet.stream)
                    if len(past) == len(streams):  # the rest of the file is not decoded: stop reading
                        break
                    continue
                _decode(packet, errors)
    except av.error.FFmpegError as exc:
        errors.append(f"decoding the {'end' if at_end else 'start'} failed: {exc.strerror}")
    return _limit(errors)


def _limit(errors: list[str]) -> list[str]:
    """Cut ``errors`` to the first few (a badly damaged file fails on every packet)."""
    if len(errors) > _MAX_ERRORS:
        errors[_MAX_ERRORS:] = [f"... and {len(errors) - _MAX_ERRORS} more errors"]
    return errors


def _at(kind: str, pts: int | None, time_base: Fraction | None) -> str:
    """Where in the file an error is, for its message: the stream kind and the time."""
    if pts is None or time_base is None:
        return kind
    return f"{kind} at {float(pts * time_base):.3f} s"


def _is_constant(pts: list[int]) -> bool:
    """True when frames are evenly spaced (allowing one tick of rounding, e.g. 33/34 ms at 1/1000)."""
    steps = [b - a for a, b in itertools.pairwise(sorted(pts))]
    return not steps or max(steps) - min(steps) <= 1


def _moov_before_mdat(fh: BinaryIO) -> bool:
    """True when the top-level 'moov' box precedes 'mdat', so playback can start before the download ends."""
    fh.seek(0, os.SEEK_END)
    file_size = fh.tell()
    offset = 0
    while offset + 8 <= file_size:
        fh.seek(offset)
        header = fh.read(8)
        size = int.from_bytes(header[:4], "big")
        box = header[4:8]
        if size == 1:  # 64-bit size follows the type
            size = int.from_bytes(fh.read(8), "big")
        elif size == 0:  # the box runs to the end of the file
            size = file_size - offset
        if box == b"moov":
            return True
        if box == b"mdat" or size < 8:  # mdat first, or a malformed box we cannot step over
            return False
        offset += size
    return False


def check(report: MediaReport, expected: Expectation) -> list[str]:
    """Every way ``report`` falls short of ``expected``, as sentences; empty when it is fine."""
    problems: list[str] = []
    if report.video_streams != 1:
        problems.append(f"has {report.video_streams} video streams, expected exactly 1")
    if report.audio_streams != 1:
        problems.append(f"has {report.audio_streams} audio streams, expected exactly 1")
    frame = 1 / expected.fps
    # Floating-point slack so that a difference of exactly one frame still passes.
    slack = 1e-6
    if report.video_streams:
        if report.video_codec != expected.video_codec:
            problems.append(f"video codec is {report.video_codec}, expected {expected.video_codec}")
        if report.profile != expected.profile:
            problems.append(f"video profile is {report.profile}, expected {expected.profile}")
        if (report.width, report.height) != (expected.width, expected.height):
            problems.append(
                f"frame size is {report.width}x{report.height}, expected {expected.width}x{expected.height}"
            )
        if report.pix_fmt != expected.pix_fmt:
            problems.append(f"pixel format is {report.pix_fmt}, expected {expected.pix_fmt}")
        if report.fps_float is None or abs(report.fps_float - expected.fps) > 1e-3:
            shown = "unknown" if report.fps_float is None else f"{report.fps_float:.6g}"
            problems.append(f"frame rate is {shown} fps, expected {expected.fps} fps")
        if not report.constant_frame_rate:
            problems.append(f"frame rate is variable, expected a constant {expected.fps} fps")
        wanted_frames = round(expected.duration_s * expected.fps)
        if report.frame_count is None or abs(report.frame_count - wanted_frames) > 1:
            problems.append(f"has {report.frame_count} video frames, expected {wanted_frames} (±1)")
        vdur = report.video_duration_s
        if vdur is None or abs(vdur - expected.duration_s) > frame + slack:
            problems.append(
                f"video lasts {_secs(vdur)}, expected {expected.duration_s:.3f} s (±{frame:.3f} s)"
            )
    if report.audio_streams:
        if report.audio_codec != expected.audio_codec:
            problems.append(f"audio codec is {report.audio_codec}, expected {expected.audio_codec}")
        if report.sample_rate != expected.sample_rate:
            problems.append(f"audio sample rate is {report.sample_rate} Hz, expected {expected.sample_rate}")
        adur, vdur = report.audio_duration_s, report.video_duration_s
        if vdur is not None and (adur is None or abs(adur - vdur) > frame + slack):
            problems.append(
                f"audio lasts {_secs(adur)} but video lasts {_secs(vdur)} (more than one frame apart)"
            )
    if not report.faststart:
        problems.append("not fast-start: the 'moov' box is not before 'mdat' (mux with -movflags +faststart)")
    problems.extend(f"decode error: {e}" for e in report.decode_errors)
    return problems


def _secs(value: float | None) -> str:
    """A duration for a message."""
    return "an unknown time" if value is None else f"{value:.3f} s"


def validate(
    path: str | os.PathLike[str], expected: Expectation, *, decode: DecodeMode = "full"
) -> MediaReport:
    """Probe ``path`` and check it; raise ValidationError listing every problem, else return the report."""
    report = probe(path, decode=decode)
    problems = check(report, expected)
    if problems:
        raise ValidationError(problems, path=report.path)
    return report
