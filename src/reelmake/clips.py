"""Per-scene video: a still or a clip becomes a raw H.264 segment (Annex B) of an exact number of frames.

Every segment uses the same encoder settings, starts with an IDR frame and has no B-frames, so segments
can be joined by concatenating bytes. A still is encoded once, as one keyframe; every other frame of it
is a generated skip frame that repeats the picture (reelmake.skipframes), and the keyframe is repeated
every GOP_SECONDS so that players can seek.

A moving still (Ken Burns) has a new picture every frame: its frames are made here, as YUV 4:2:0 planes
scaled with sub-pixel accuracy from a picture rendered larger than the frame, with overlays (the title
band, burned captions) composited on top, and streamed raw into the same encoder.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from reelmake.bitstream import first_frames, frames_of, idr_frames
from reelmake.ffmpeg import RenderError, feed_ffmpeg, local_file, run_ffmpeg, video_time_limit
from reelmake.fsutil import atomic_output, scratch_path
from reelmake.motion import Box, Motion, windows
from reelmake.skipframes import sequence_layout, with_skip_pps

GOP_SECONDS = 2  # a keyframe every 2 s: seekable, and one IDR per 2 s keeps stills' bitrate low
# A still's keyframe is all of its picture: x264 would refine it over the GOP's P frames, which skip frames
# do not, so its quantizer is capped instead (43 dB PSNR on slides, against 42.5 dB for the first frame of
# a 60-frame x264 GOP, at about twice the bytes of one IDR: 0.15 Mbit/s). The cap is not in the parameter
# sets, which stay those of every other segment.
KEYFRAME_QP_MAX = 19
# The frames' own tags: ffmpeg takes the encoder's colour fields and pixel aspect from the frames, and
# every segment must carry the same ones (an identical SPS) for the join to copy them into one stream.
FRAME_TAGS = "setsar=1,setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"
# RGB → BT.709 limited range, tagged as such, so players show the colours the slide was drawn with.
BT709 = "out_color_matrix=bt709:out_range=tv"
TO_YUV = f"scale={BT709},format=yuv420p,{FRAME_TAGS}"
# BT.709 luma weights of red and blue (green's is the rest).
KR, KB = 0.2126, 0.0722
KG = 1 - KR - KB
SOURCE_FRAMES_PER_FRAME = 4
# Making a moving frame (Pillow scales three planes, overlays are pasted) costs more than encoding it.
MOVING_WORK_PER_FRAME = 3


@dataclass(frozen=True)
class Overlay:
    """A full-frame RGBA picture shown over frames [start, end) of a scene."""

    image: Path
    start: int
    end: int


@dataclass(frozen=True)
class Planes:
    """A picture as 8-bit BT.709 limited-range YUV 4:2:0: Y at full size, U and V at half (mode "L")."""

    y: Image.Image
    u: Image.Image
    v: Image.Image


@dataclass(frozen=True)
class _Layer:
    """An overlay, cut to its visible (even-aligned) box, as planes and alpha at both plane sizes."""

    origin: tuple[int, int]
    planes: Planes
    alpha: Image.Image
    alpha_half: Image.Image
    start: int
    end: int


def encoder_args(fps: int) -> list[str]:
    """x264 settings shared by every segment (identical SPS/PPS, so the joined stream is one stream)."""
    gop = GOP_SECONDS * fps
    return [
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-profile:v", "high",
        "-bf", "0", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-x264-params", "open-gop=0", "-pix_fmt", "yuv420p", "-color_range", "tv",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-f", "h264",
    ]  # fmt: skip


def video_args(
    clip: Path, title: Path, overlays: Sequence[Overlay], frames: int, fps: int, width: int, height: int,
    fit: str, out: Path,
) -> list[str]:  # fmt: skip
    """ffmpeg arguments for a video asset: scaled, frame-rate converted, trimmed or held, title on top.

    The title and each overlay (a burned-in cue) are one decoded picture, cut to their visible box (the
    blend then costs a band, not the frame): the overlay filter repeats its last (only) frame, and a
    cue's ``enable`` limits it to its range.
    """
    # The colour conversion is part of the fitting scale: a second pass over every full-size frame cost
    # more than the scaling itself.
    if fit == "cover":
        fitted = (
            f"scale={width}:{height}:force_original_aspect_ratio=increase:{BT709},format=yuv420p,"
            f"crop={width}:{height}"
        )
    else:
        fitted = (
            f"scale={width}:{height}:force_original_aspect_ratio=decrease:{BT709},format=yuv420p,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black"
        )
    duration = frames / fps
    graph = [f"[0:v]fps={fps},{fitted},tpad=stop_mode=clone:stop_duration={duration:.3f}[v0]"]
    # The clip is the user's file: named so that no name can be taken for an option or a protocol.
    inputs = ["-i", local_file(clip)]
    title_layer = Overlay(title, 0, frames)
    shown = 0
    for overlay in (title_layer, *overlays):
        with Image.open(overlay.image) as opened:
            box = visible_box(opened)
        if box is None:
            continue
        left, top, right, bottom = box
        inputs += ["-i", str(overlay.image)]
        shown += 1
        enable = "" if overlay is title_layer else f":enable='between(n,{overlay.start},{overlay.end - 1})'"
        cut = f"crop={right - left}:{bottom - top}:{left}:{top}"
        graph.append(
            f"[{shown}:v]{cut},scale={BT709},format=yuva420p[o{shown}];"
            f"[v{shown - 1}][o{shown}]overlay={left}:{top}:format=auto{enable}[v{shown}]"
        )
    graph.append(f"[v{shown}]{FRAME_TAGS}[v]")
    return [
        *inputs, "-filter_complex", ";".join(graph), "-map", "[v]", "-frames:v", str(frames), "-an",
        *encoder_args(fps), str(out),
    ]  # fmt: skip


def visible_box(picture: Image.Image) -> tuple[int, int, int, int] | None:
    """The box of a picture's visible pixels (its alpha), on even coordinates (chroma has half the
    resolution); None if nothing shows."""
    visible = picture.convert("RGBA").getchannel("A").getbbox()
    if visible is None:
        return None
    left, top, right, bottom = visible
    return left // 2 * 2, top // 2 * 2, -(-right // 2) * 2, -(-bottom // 2) * 2


def encode_keyframes(pictures: Sequence[Image.Image], fps: int, out: Path) -> list[bytes]:
    """Each RGB picture as a keyframe (the parameter sets, then one IDR frame), all from one encoder run.

    ``out`` names the segment they are for (the encoder's scratch file goes beside it).
    """
    width, height = pictures[0].size
    args = encoder_args(fps)
    # Every frame an IDR led by the parameter sets, each to be repeated on its own.
    args[args.index("-x264-params") + 1] += f":qpmax={KEYFRAME_QP_MAX}:repeat-headers=1"

    def encode(piece: Path) -> None:
        feed_ffmpeg(
            [
                "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", str(fps),
                "-i", "pipe:0", "-vf", TO_YUV, "-force_key_frames", "expr:1",
                "-frames:v", str(len(pictures)), *args, str(piece),
            ],
            (picture.convert("RGB").tobytes() for picture in pictures),
            what=f"encoding the pictures of {out}",
            time_limit_s=video_time_limit(len(pictures), width * height / 1e6),
        )  # fmt: skip

    stream = encoder_output(encode, out)
    keyframes = frames_of(stream)
    if len(keyframes) != len(pictures) or idr_frames(stream) != list(range(len(pictures))):
        raise RenderError(f"the encoder made {len(keyframes)} keyframes of {len(pictures)} pictures ({out})")
    return keyframes


def still_segment(keyframe: bytes, frames: int, fps: int) -> bytes:
    """``frames`` frames of a still: its keyframe every GOP_SECONDS, skip frames between."""
    gop = GOP_SECONDS * fps
    skips = sequence_layout(keyframe).skip_frames
    repeats, rest = divmod(frames, gop)
    return (keyframe + skips(gop - 1)) * repeats + (keyframe + skips(rest - 1) if rest else b"")


def still_keyframe(stream: bytes, frames: int, fps: int) -> bytes | None:
    """The keyframe of a stream whose first ``frames`` frames are one still (as still_segment makes
    them), else None."""
    keyframe = first_frames(stream, 1)
    return keyframe if stream.startswith(still_segment(keyframe, frames, fps)) else None


def render_still_clip(
    pictures: Sequence[Image.Image], runs: Sequence[tuple[int, int]], fps: int, out: Path, record: Path
) -> None:  # fmt: skip
    """A still scene as runs of (picture index, frames): each picture encoded once, as a keyframe.

    A scene without burned captions is one run; with them, each state of the picture (no cue, cue i)
    is a picture of its own, and every run starts with its keyframe.
    """
    keyframes = encode_keyframes(pictures, fps, out)
    stream = b"".join(still_segment(keyframes[index], frames, fps) for index, frames in runs)
    write_segment(stream, sum(frames for _, frames in runs), out, record)


def caption_runs(states: Sequence[tuple[int, int]], frames: int) -> list[tuple[int, int]]:
    """The runs of a still scene whose cue i is shown on frames [start, end): picture 0 (no cue)
    between cues, picture i + 1 over cue i."""
    runs: list[tuple[int, int]] = []
    cursor = 0
    for cue, (start, end) in sorted(enumerate(states), key=lambda state: state[1][0]):
        if not cursor <= start < end <= frames:
            raise ValueError(f"caption frames [{start}, {end}) do not fit in the scene's {frames}")
        if start > cursor:
            runs.append((0, start - cursor))
        runs.append((cue + 1, end - start))
        cursor = end
    return [*runs, (0, frames - cursor)] if frames > cursor else runs


def render_video_clip(
    clip: Path, title: Path, overlays: Sequence[Overlay], frames: int, spec: dict[str, Any], out: Path,
    record: Path, time_limit_s: float | None = None,
) -> None:  # fmt: skip
    """A video scene: every frame encoded, at the spec's size, rate and fit, with its overlays.

    Errors name the scene and its file: a clip that passed its check (which decodes its first frame)
    may still be damaged further on. ``time_limit_s`` overrides the limit derived from the work.
    """
    fps, width, height = spec["fps"], spec["width"], spec["height"]
    # The source is decoded at up to SOURCE_FRAMES_PER_FRAME of its frames per frame made (a 120 fps clip
    # in a 30 fps video), each costing its own size.
    source = spec["asset"]["width"] * spec["asset"]["height"] * SOURCE_FRAMES_PER_FRAME
    limit = time_limit_s or video_time_limit(frames, (width * height + source) / 1e6)

    def encode(piece: Path) -> None:
        args = video_args(clip, title, overlays, frames, fps, width, height, spec["fit"], piece)
        what = f"decoding {spec['asset']['path']} for scene '{spec['title']}'"
        run_ffmpeg(args, what=what, time_limit_s=limit)

    _encode_clip(encode, frames, out, record)


def encoder_output(encode: Callable[[Path], None], out: Path) -> bytes:
    """What ``encode`` writes to a scratch file beside ``out``, with the skip frames' PPS added: every
    encoded segment carries it, so that any segment joins any other."""
    piece = scratch_path(out, "piece")
    try:
        encode(piece)
        return with_skip_pps(piece.read_bytes())
    finally:
        piece.unlink(missing_ok=True)


def _encode_clip(encode: Callable[[Path], None], frames: int, out: Path, record: Path) -> None:
    """Run ``encode``, then write the segment and its record from what it made."""
    write_segment(encoder_output(encode, out), frames, out, record)


def write_segment(stream: bytes, frames: int, out: Path, record: Path) -> None:
    """A segment and its record (frame count, checksum): the join verifies every segment it reads."""
    with atomic_output(out) as tmp:
        tmp.write_bytes(stream)
    with atomic_output(record) as tmp:
        tmp.write_text(json.dumps({"frames": frames, "sha256": hashlib.sha256(stream).hexdigest()}))


def to_planes(rgb: np.ndarray, alpha: np.ndarray | None = None) -> Planes:
    """RGB (H x W x 3, uint8, even sides) → BT.709 limited-range YUV 4:2:0, the same matrix as TO_YUV.

    Chroma is the mean of each 2x2 block, weighted by ``alpha`` when given, so that an overlay's
    transparent pixels (whose colour means nothing) do not tint its edges.
    """
    r, g, b = (rgb[..., i].astype(np.float32) / 255 for i in range(3))
    luma = KR * r + KG * g + KB * b
    cb, cr = (b - luma) / (2 * (1 - KB)), (r - luma) / (2 * (1 - KR))
    weight = None if alpha is None else alpha.astype(np.float32) + 1e-3
    return Planes(
        _plane(16 + 219 * luma), _plane(128 + 224 * _half(cb, weight)), _plane(128 + 224 * _half(cr, weight))
    )


def _half(plane: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """Each 2x2 block's mean (weighted, if given): a plane at half size, as 4:2:0 chroma is."""
    height, width = plane.shape

    def blocks(values: np.ndarray) -> np.ndarray:
        return values.reshape(height // 2, 2, width // 2, 2).sum(axis=(1, 3))

    if weight is None:
        return blocks(plane) / 4
    return blocks(plane * weight) / blocks(weight)


def _plane(values: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def _layer(overlay: Overlay, size: tuple[int, int]) -> _Layer | None:
    """An overlay ready to composite: only its visible part (None if none), converted once."""
    with Image.open(overlay.image) as opened:
        rgba = opened.convert("RGBA")
    if rgba.size != size:
        raise ValueError(f"overlay {overlay.image} is {rgba.size}, not the frame's {size}")
    box = visible_box(rgba)
    if box is None:
        return None
    pixels = np.asarray(rgba.crop(box))
    alpha = pixels[..., 3]
    return _Layer(
        box[:2], to_planes(pixels[..., :3], alpha), Image.fromarray(alpha),
        _plane(_half(alpha.astype(np.float32))),
        overlay.start, overlay.end,
    )  # fmt: skip


def _composite(picture: Planes, layers: Sequence[_Layer], index: int) -> Planes:
    """``picture`` with the layers shown at frame ``index`` on top (a new picture; the input is kept)."""
    shown = [layer for layer in layers if layer.start <= index < layer.end]
    if not shown:
        return picture
    y, u, v = picture.y.copy(), picture.u.copy(), picture.v.copy()
    for layer in shown:
        x0, y0 = layer.origin
        y.paste(layer.planes.y, (x0, y0), layer.alpha)
        u.paste(layer.planes.u, (x0 // 2, y0 // 2), layer.alpha_half)
        v.paste(layer.planes.v, (x0 // 2, y0 // 2), layer.alpha_half)
    return Planes(y, u, v)


def encode_pictures(
    pictures: Iterable[Planes], overlays: Sequence[Overlay], frames: int, fps: int,
    size: tuple[int, int], out: Path,
) -> None:  # fmt: skip
    """Encode ``frames`` pictures (one per frame, each with the overlays due then) as a raw H.264 segment.

    Frames are streamed into ffmpeg as they are made, so memory holds a few frames, not the scene, and
    making the next frame (Pillow releases the GIL) overlaps with the encoder working on the last ones.
    """
    layers = [layer for overlay in overlays if (layer := _layer(overlay, size)) is not None]

    def raw() -> Iterator[bytes]:
        made = 0
        for picture in itertools.islice(pictures, frames):
            shown = _composite(picture, layers, made)
            yield shown.y.tobytes() + shown.u.tobytes() + shown.v.tobytes()
            made += 1
        if made < frames:
            raise ValueError(f"{made} pictures for a segment of {frames} frames")

    width, height = size
    args = [
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-framerate", str(fps),
        "-i", "pipe:0", "-vf", FRAME_TAGS, "-frames:v", str(frames), *encoder_args(fps), str(out),
    ]  # fmt: skip
    limit = video_time_limit(frames, MOVING_WORK_PER_FRAME * width * height / 1e6)
    feed_ffmpeg(args, raw(), what=f"encoding {out}", time_limit_s=limit)


def moving_pictures(canvas: Path, motion: Motion, frames: int, size: tuple[int, int]) -> Iterator[Planes]:
    """The frames of a Ken Burns move over ``canvas`` (the picture rendered ``motion.zoom`` times larger).

    The canvas is converted to YUV once; each frame scales its window of each plane with Pillow's
    resampling filter at a fractional box (sub-pixel exact, antialiased when it shrinks), which costs
    a fraction of scaling RGB and leaves ffmpeg no colour conversion to do.
    """
    with Image.open(canvas) as opened:
        planes = to_planes(np.asarray(opened.convert("RGB")))
    width, height = size
    for box in windows(motion, frames, planes.y.size, size):
        half: Box = (box[0] / 2, box[1] / 2, box[2] / 2, box[3] / 2)
        yield Planes(
            planes.y.resize(size, Image.Resampling.BILINEAR, box=box),
            planes.u.resize((width // 2, height // 2), Image.Resampling.BILINEAR, box=half),
            planes.v.resize((width // 2, height // 2), Image.Resampling.BILINEAR, box=half),
        )


def render_moving_clip(
    canvas: Path, overlays: Sequence[Overlay], motion: Motion, frames: int, spec: dict[str, Any],
    out: Path, record: Path,
) -> None:  # fmt: skip
    """A moving still scene: every frame made from the canvas and encoded."""
    size = (spec["width"], spec["height"])

    def encode(piece: Path) -> None:
        pictures = moving_pictures(canvas, motion, frames, size)
        encode_pictures(pictures, overlays, frames, spec["fps"], size, piece)

    _encode_clip(encode, frames, out, record)
