"""Ken Burns motion: which scenes move, and the window of the picture each frame shows.

A moving scene's picture is rendered larger than the frame (``zoom`` times), and every frame shows a
window of it scaled to the frame. Windows have sub-pixel positions and sizes (no integer rounding, so no
jitter) and follow a smoothstep curve, so the motion starts and ends at rest. Zooms are interpolated in
log scale so that the apparent speed of a zoom is even.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DIRECTIONS = ("zoom-in", "zoom-out", "pan-left", "pan-right")

Box = tuple[float, float, float, float]  # left, top, right, bottom in source pixels


@dataclass(frozen=True)
class Motion:
    """How a scene moves: one of DIRECTIONS, and how far (the picture's scale at the close end)."""

    direction: str
    zoom: float

    def to_spec(self) -> dict[str, object]:
        return {"direction": self.direction, "zoom": self.zoom}


def choose(setting: str, kind: str, asset_sha256: str | None, zoom: float) -> Motion | None:
    """The motion a scene gets from its ``motion`` setting (scene option, else project), or None.

    ``auto`` moves photos and keeps slides still. Its direction comes from the photo's own bytes, never
    from the scene's position, so reordering scenes changes no scene's motion (and re-renders nothing).
    Video clips are the caller's to reject: this is only asked about still pictures.
    """
    if setting == "none" or (setting == "auto" and kind != "image"):
        return None
    if setting == "auto":
        assert asset_sha256 is not None
        setting = DIRECTIONS[int(asset_sha256[:8], 16) % len(DIRECTIONS)]
    if setting not in DIRECTIONS:
        raise ValueError(f"unknown motion {setting!r}")
    return Motion(setting, zoom)


def canvas_size(width: int, height: int, zoom: float) -> tuple[int, int]:
    """The size a moving scene's picture is rendered at: at least ``zoom`` times the frame, in even pixels.

    At the close end of a motion the frame shows the picture 1:1 (or a hair larger), so no frame is
    ever upscaled.
    """
    return 2 * math.ceil(width * zoom / 2), 2 * math.ceil(height * zoom / 2)


def smoothstep(t: float) -> float:
    """0 → 1 with zero speed at both ends: the motion eases in and out."""
    return t * t * (3 - 2 * t)


def windows(motion: Motion, frames: int, canvas: tuple[int, int], frame: tuple[int, int]) -> list[Box]:
    """Each frame's window of the canvas (sub-pixel), with the frame's aspect ratio."""
    canvas_w, canvas_h = canvas
    aspect = frame[1] / frame[0]
    # The widest window of the frame's shape (the canvas's even rounding can differ from it by a pixel).
    full = min(canvas_w, canvas_h / aspect)
    boxes = []
    for index in range(frames):
        progress = smoothstep(index / (frames - 1)) if frames > 1 else 0.0
        if motion.direction in ("zoom-in", "zoom-out"):
            closeness = progress if motion.direction == "zoom-in" else 1 - progress
            width = full / motion.zoom**closeness
            left = (canvas_w - width) / 2
        else:
            width = full / motion.zoom
            travel = canvas_w - width
            # pan-right: the view travels right across the picture; pan-left: from right to left.
            left = travel * (progress if motion.direction == "pan-right" else 1 - progress)
        height = width * aspect
        top = (canvas_h - height) / 2
        # min/max only absorb float rounding: Pillow rejects a box a hair outside the picture.
        right, bottom = min(canvas_w, left + width), min(canvas_h, top + height)
        boxes.append((max(0.0, left), max(0.0, top), right, bottom))
    return boxes


def always_shown(
    motion: Motion, canvas: tuple[int, int], frame: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The part of the canvas every frame shows (whole pixels, inside): where a moving slide's text goes.

    Windows only shrink, grow or slide one way, so what the first and the last show in common, all show.
    """
    first, last = windows(motion, 2, canvas, frame)
    left, top = max(first[0], last[0]), max(first[1], last[1])
    right, bottom = min(first[2], last[2]), min(first[3], last[3])
    return math.ceil(left), math.ceil(top), math.floor(right), math.floor(bottom)
