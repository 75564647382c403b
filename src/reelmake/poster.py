"""build/poster.jpg: a frame of the video, or a title card made from one, 720p in the video's shape.

Settings: ``poster: frame`` (the middle of the first scene), ``poster: title`` (that frame darkened, with
the video's title typeset over it: a thumbnail) or a number of seconds (the frame shown at that time).
"""

from __future__ import annotations

import io
import itertools

import av
from PIL import Image, ImageDraw

from reelmake.ffmpeg import RenderError
from reelmake.fonts import BOLD, default_stack
from reelmake.visuals import THEMES, safe_margins

POSTER_SHORT_SIDE = 720  # 1280x720 for landscape, 720x1280 vertical, 720x720 square
SHADE = 0.45  # how bright the frame stays under a title card's text


def poster_time(choice: str | float, first_scene: tuple[float, float], duration_s: float) -> float:
    """When the poster's frame is shown: a number of seconds (within the video), else mid first scene."""
    if isinstance(choice, int | float) and not isinstance(choice, bool):
        last_frame_start = max(0.0, duration_s - 1e-3)
        return min(float(choice), last_frame_start)
    return (first_scene[0] + first_scene[1]) / 2


def frame_in_stream(stream: bytes, index: int) -> Image.Image:
    """Picture ``index`` of a raw H.264 stream that starts with a keyframe."""
    with av.open(io.BytesIO(stream), format="h264") as container:
        frame = next(itertools.islice(container.decode(video=0), index, None), None)
        if frame is None:
            raise RenderError(f"the video has no frame {index} after its keyframe for the poster")
        return frame.to_image()


def title_card(frame: Image.Image, title: str) -> Image.Image:
    """``frame`` darkened, with ``title`` large and bold in the title-safe area, under an accent bar."""
    width, height = frame.size
    unit = min(width, height)
    card = frame.convert("RGB").point(lambda value: value * SHADE)
    margin_x, margin_y = safe_margins(width, height)
    block = default_stack().fit(
        title,
        width - 2 * margin_x,
        (height - 2 * margin_y) * 0.6,
        max_size=round(unit * 0.13),
        min_size=round(unit * 0.06),
        max_lines=3,
        weight=BOLD,
        line_spacing=1.12,
        balance=True,
    )
    bar_height, bar_gap = max(2, round(unit * 0.012)), round(unit * 0.04)
    top = (height - block.height - bar_height - bar_gap) / 2
    draw = ImageDraw.Draw(card)
    bar_width = round(unit * 0.14)
    bar_x = width - margin_x - bar_width if block.rtl else margin_x
    accent = THEMES["dark"].accent
    draw.rectangle((bar_x, round(top), bar_x + bar_width - 1, round(top) + bar_height - 1), fill=accent)
    block.draw(draw, margin_x, top + bar_height + bar_gap, width - 2 * margin_x, THEMES["dark"].title)
    return card


def poster_jpeg(image: Image.Image, title: str | None) -> bytes:
    """The poster JPEG of a frame: 720 pixels on its short side; a title card if ``title``."""
    scale = POSTER_SHORT_SIDE / min(image.size)
    size = (round(image.width * scale / 2) * 2, round(image.height * scale / 2) * 2)
    image = image.resize(size, Image.Resampling.LANCZOS)
    if title:
        image = title_card(image, title)
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG", quality=90)
    return jpeg.getvalue()
