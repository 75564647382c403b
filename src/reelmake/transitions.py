"""Crossfades between scenes, each rendered as its own short segment from the two neighbouring clips.

A fade of D frames into scene B takes B's first D frames: frame j shows (1 - a_j)·A + a_j·B_j, where A is
the last picture of the scene before (held) and a_j an eased ramp that reaches 1 on the fade's last frame.
The segment covers B's frames up to its first IDR at or after D (or all of B), so the join plays the scene
before whole, this segment, then B's own bytes from that IDR: no scene is re-encoded, and the total length
and the audio stay exactly where they were. Blending is done on the decoded YUV planes, which are what the
encoder takes, so a weight of 1 passes B's picture through unchanged. Into a still scene only the D faded
frames are encoded; the still's own keyframe and skip frames make up the rest of the segment.
"""

from __future__ import annotations

import io
import json
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from reelmake.bitstream import first_frames, idr_frames, last_gop, parameter_sets
from reelmake.clips import (
    FRAME_TAGS,
    encoder_args,
    encoder_output,
    still_keyframe,
    still_segment,
    write_segment,
)
from reelmake.ffmpeg import RenderError, feed_ffmpeg, video_time_limit


def fade_weights(frames: int) -> np.ndarray:
    """The incoming scene's weight on each of ``frames`` frames: smoothstep, rising to exactly 1."""
    t = np.arange(1, frames + 1, dtype=np.float64) / frames
    return t * t * (3 - 2 * t)


def segment_length(after: bytes, after_frames: int, fade: int) -> int:
    """How many of the incoming clip's frames the segment replaces: up to its first IDR at or after the
    fade's end, where the rest of the clip can be played as it is; else all of them."""
    return next((index for index in idr_frames(after) if index >= fade), after_frames)


def render_fade(
    before: Path, after: Path, after_record: Path, fade: int, fps: int, out: Path, record: Path
) -> None:
    """The segment that fades from ``before``'s last picture into ``after`` over ``fade`` frames."""
    after_stream = after.read_bytes()
    after_frames = json.loads(after_record.read_text())["frames"]
    fade = min(fade, after_frames)  # a scene shorter than the fade is faded in over its whole length
    length = segment_length(after_stream, after_frames, fade)
    # Into a still, only the fade's frames are encoded: the still's keyframe and skip frames follow.
    keyframe = still_keyframe(after_stream, length, fps)
    encoded = fade if keyframe is not None else length
    # Only the last GOP is decoded: the held picture depends on nothing before its IDR.
    last = deque(_decoded(last_gop(before.read_bytes())), maxlen=1)
    if not last:
        raise RenderError(f"{before} holds no picture to fade from")
    width, height = last[0].width, last[0].height
    from_picture = last[0].to_ndarray(format="yuv420p").astype(np.float32)
    weights = fade_weights(fade)

    def blended() -> Iterator[bytes]:
        count = 0
        for index, frame in enumerate(_decoded(first_frames(after_stream, encoded))):
            picture = frame.to_ndarray(format="yuv420p")
            if index < fade:
                mixed = from_picture + weights[index] * (picture.astype(np.float32) - from_picture)
                picture = np.rint(mixed).astype(np.uint8)
            count += 1
            yield picture.tobytes()
        if count != encoded:
            raise RenderError(f"{after} decoded to {count} frames, not {encoded}")

    def encode(piece: Path) -> None:
        feed_ffmpeg(
            [
                "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-framerate", str(fps),
                "-i", "pipe:0", "-vf", FRAME_TAGS, "-frames:v", str(encoded), *encoder_args(fps), str(piece),
            ],
            blended(),
            what=f"encoding {out}",
            # Each frame is decoded, blended and encoded.
            time_limit_s=video_time_limit(encoded, 3 * width * height / 1e6),
        )  # fmt: skip

    segment = encoder_output(encode, out)
    if keyframe is not None and length > fade:
        segment += still_segment(keyframe, length - fade, fps)
    # Equal parameter sets make the fade, and the clip played on from its keyframe, one stream.
    if parameter_sets(segment) != parameter_sets(after_stream):
        raise RenderError(f"{out} was encoded with other stream parameters than {after}; cannot join them")
    write_segment(segment, length, out, record)


def _decoded(stream: bytes) -> Iterator[av.VideoFrame]:
    """The pictures of a raw H.264 stream, in order."""
    with av.open(io.BytesIO(stream), format="h264") as container:
        yield from container.decode(video=0)
