"""Still frames for scenes: typeset slides, pictures fitted to the frame, and lower-third title overlays.

Every function writes a PNG of exactly ``width`` x ``height`` through ``atomic_output``. Sizes are
fractions of min(width, height), so one layout serves landscape, portrait and square frames.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

from PIL import ExifTags, Image, ImageDraw, ImageFilter, ImageOps

from reelmake.fonts import BOLD, REGULAR, TextBlock, default_stack
from reelmake.fsutil import atomic_output

# Title-safe margin on each side, as a fraction of that dimension.
SAFE_MARGIN = 0.06
# TikTok, Shorts and Reels draw their tabs over the top tenth of a portrait video, the post's text and
# sound over roughly its bottom fifth, and a column of buttons at its right edge (fractions of the frame).
PORTRAIT_APP_UI = {"top": 0.10, "bottom": 0.22, "side": 0.12}
FITS = ("cover", "contain")

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Theme:
    """The colours of a slide."""

    top: RGB
    bottom: RGB
    accent: RGB
    title: RGB
    body: RGB


THEMES = {
    "dark": Theme(
        top=(30, 36, 50),
        bottom=(13, 16, 24),
        accent=(255, 183, 3),
        title=(247, 248, 250),
        body=(200, 207, 218),
    ),
    "light": Theme(
        top=(252, 251, 248),
        bottom=(232, 228, 219),
        accent=(214, 72, 38),
        title=(22, 26, 33),
        body=(64, 71, 84),
    ),
}
BAND_FILL = (0, 0, 0, 170)
CAPTION_FILL = (0, 0, 0, 160)
CAPTION_SIZE = 0.045  # of min(width, height): 49 px on a 1080-line frame
BAND_ACCENT = THEMES["dark"].accent
WHITE = (255, 255, 255, 255)
PNG_COMPRESS_LEVEL = 1  # zlib's fastest: see _save


def safe_margins(width: int, height: int) -> tuple[int, int]:
    """The title-safe margin in pixels: (horizontal, vertical)."""
    return round(width * SAFE_MARGIN), round(height * SAFE_MARGIN)


def overlay_area(width: int, height: int) -> tuple[int, int, int, int]:
    """Where captions and title bands go (left, top, right, bottom): the title-safe area, and on a portrait
    frame also clear of what short-video apps draw over it (see PORTRAIT_APP_UI)."""
    margin_x, margin_y = safe_margins(width, height)
    if height <= width:
        return margin_x, margin_y, width - margin_x, height - margin_y
    side = max(margin_x, round(width * PORTRAIT_APP_UI["side"]))
    top = max(margin_y, round(height * PORTRAIT_APP_UI["top"]))
    bottom = max(margin_y, round(height * PORTRAIT_APP_UI["bottom"]))
    return side, top, width - side, height - bottom


def _save(image: Image.Image, out: Path) -> None:
    """Write ``image`` as a PNG that appears at ``out`` complete or not at all.

    These PNGs are intermediate files, read once or twice by the encoder: zlib's fastest level halves
    the encoding time (the default, 6, spent half of a picture job on it) for files about 1.5x larger.
    """
    with atomic_output(out) as tmp:
        image.save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL)


def _gradient(width: int, height: int, top: RGB, bottom: RGB) -> Image.Image:
    """A vertical gradient from ``top`` to ``bottom`` (a new image: the caller may draw on it)."""
    return _cached_gradient(width, height, top, bottom).copy()


@functools.lru_cache(maxsize=4)
def _cached_gradient(width: int, height: int, top: RGB, bottom: RGB) -> Image.Image:
    """The gradient, made once per size and theme in a process: every slide of a build shares it."""
    mask = Image.linear_gradient("L").resize((width, height), Image.Resampling.BILINEAR)
    return Image.composite(
        Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top), mask
    )


def render_slide(
    title: str, body: str, width: int, height: int, theme: str, out: Path,
    text_box: tuple[int, int, int, int] | None = None,
) -> None:  # fmt: skip
    """A typeset slide: gradient background, accent bar, bold title, then the body auto-sized below it.

    ``text_box`` (left, top, right, bottom) is the part of the slide the text is laid out in, by default
    all of it; a moving slide puts it where every frame of the motion shows it.
    """
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r} (known: {', '.join(THEMES)})")
    colours = THEMES[theme]
    stack = default_stack()
    box_left, box_top, box_right, box_bottom = text_box or (0, 0, width, height)
    unit = min(box_right - box_left, box_bottom - box_top)
    margin_x, margin_y = safe_margins(box_right - box_left, box_bottom - box_top)
    box_width = box_right - box_left - 2 * margin_x
    box_height = box_bottom - box_top - 2 * margin_y
    bar_width, bar_height = round(unit * 0.09), max(2, round(unit * 0.008))
    bar_gap, body_gap = round(unit * 0.035), round(unit * 0.035)
    # Glyph ink can overhang its advance by a pixel or so: keep the text column that far inside the margin.
    inset = max(1, round(unit * 0.004))
    text_x, text_width = box_left + margin_x + inset, box_width - 2 * inset

    # The title may take up to 40% of the box when there is a body, all of it otherwise.
    title_room = (box_height - bar_height - bar_gap) * (0.4 if body.strip() else 1.0)
    title_block = stack.fit(
        title,
        text_width,
        title_room,
        max_size=round(unit * 0.085),
        min_size=round(unit * 0.045),
        max_lines=3,
        weight=BOLD,
        line_spacing=1.18,
        balance=True,
    )
    head_height = bar_height + bar_gap + title_block.height
    body_top_gap = body_gap if title_block.lines else 0
    body_block = stack.fit(
        body,
        text_width,
        box_height - head_height - body_top_gap,
        max_size=round(unit * 0.048),
        min_size=round(unit * 0.026),
        weight=REGULAR,
        line_spacing=1.4,
    )
    total = head_height + (body_top_gap + body_block.height if body_block.lines else 0)

    image = _gradient(width, height, colours.top, colours.bottom)
    draw = ImageDraw.Draw(image)
    # Slightly above centre reads as balanced; a full box starts at the top margin.
    y = box_top + margin_y + (box_height - total) * 0.45
    rtl = title_block.rtl if title_block.lines else body_block.rtl
    bar_x = box_right - margin_x - bar_width if rtl else box_left + margin_x
    draw.rectangle((bar_x, round(y), bar_x + bar_width - 1, round(y) + bar_height - 1), fill=colours.accent)
    y += bar_height + bar_gap
    title_block.draw(draw, text_x, y, text_width, colours.title)
    y += title_block.height + body_top_gap
    body_block.draw(draw, text_x, y, text_width, colours.body)
    _save(image, out)


def _fit_scale(image_size: tuple[int, int], size: tuple[int, int], fit: str) -> float:
    """How much a picture of ``image_size`` is scaled, at most, to fit ``size``."""
    cover = max(size[0] / image_size[0], size[1] / image_size[1])
    if fit == "cover":
        return cover
    # "contain" also makes its blurred fill from a cover-scaled copy, at 1/16 size (see _contain).
    return max(min(size[0] / image_size[0], size[1] / image_size[1]), cover / 16)


def _decode_scaled(opened: Image.Image, size: tuple[int, int], fit: str) -> None:
    """Let a JPEG decode at 1/2, 1/4 or 1/8 of its size when that still has every pixel the fit keeps.

    libjpeg scales in the DCT, for a fraction of the cost of decoding every pixel and resampling them
    all; the final resampling to the frame stays LANCZOS. Only a factor that divides both sides is used,
    so the smaller picture covers exactly the same area (no fractional last pixel to shift the crop).
    Other formats ignore the request.
    """
    turned = opened.getexif().get(ExifTags.Base.Orientation, 1) in (5, 6, 7, 8)  # a quarter turn
    stored = (size[1], size[0]) if turned else size  # the frame as the file stores the picture
    room = 1 / _fit_scale(opened.size, stored, fit)  # how many times too many pixels the file has
    factor = next((f for f in (8, 4, 2) if f <= room and opened.width % f == 0 and opened.height % f == 0), 1)
    if factor > 1:
        opened.draft(None, (opened.width // factor, opened.height // factor))


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten any mode to 8-bit RGB; transparency is composited over black (an RGB image is returned
    as it is, not copied)."""
    if image.mode == "I" or image.mode.startswith("I;16"):
        wide = image.convert("I")
        # 16-bit samples would clip to white in a plain conversion: scale 0..65535 down to 0..255.
        if image.mode != "I" or wide.getextrema()[1] > 255:  # type: ignore[operator]
            wide = wide.point(lambda value: value * (1 / 257))
        image = wide.convert("L")
    if image.has_transparency_data:
        black = Image.new("RGBA", image.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, image.convert("RGBA")).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _cover(image: Image.Image, size: tuple[int, int], resample: Image.Resampling) -> Image.Image:
    """Scale ``image`` to fill ``size``, cropping the overflow equally from both sides."""
    width, height = size
    scale = max(width / image.width, height / image.height)
    crop_width, crop_height = width / scale, height / scale
    left, top = (image.width - crop_width) / 2, (image.height - crop_height) / 2
    box = (left, top, left + crop_width, top + crop_height)
    # reducing_gap first shrinks by whole factors (fast on large photos), then resamples the rest properly.
    return image.resize(size, resample, box=box, reducing_gap=3.0)


def _contain(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The whole image scaled to fit ``size``, over a blurred, darkened, cover-scaled copy of itself."""
    width, height = size
    scale = min(width / image.width, height / image.height)
    inner_size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    inner = image.resize(inner_size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    # Blur at 1/16 scale and enlarge: a wide, smooth blur for a fraction of the cost of blurring full size.
    small = _cover(image, (max(1, width // 16), max(1, height // 16)), Image.Resampling.BOX)
    fill = small.filter(ImageFilter.GaussianBlur(2)).resize(size, Image.Resampling.BICUBIC)
    fill = fill.point(lambda value: value * 0.4)
    fill.paste(inner, ((width - inner.width) // 2, (height - inner.height) // 2))
    return fill


def _title_band(title: str, width: int, height: int, at_top: bool = False) -> Image.Image:
    """A transparent RGBA layer holding ``title`` on a dark translucent box in the lower third.

    ``at_top`` puts it at the top of the title-safe area instead: burned-in captions take the bottom.
    """
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    unit = min(width, height)
    area_left, area_top, area_right, area_bottom = overlay_area(width, height)
    padding = max(2, round(unit * 0.022))
    stripe = max(2, round(unit * 0.008))
    block = default_stack().fit(
        title,
        area_right - area_left - 2 * padding - stripe,
        height * 0.22,
        max_size=round(unit * 0.055),
        min_size=round(unit * 0.03),
        max_lines=2,
        weight=BOLD,
        line_spacing=1.2,
        balance=True,
    )
    if not block.lines:
        return layer
    band_width = math.ceil(block.width) + 2 * padding + stripe
    band_height = block.height + 2 * padding
    top = area_top if at_top else area_bottom - band_height
    bottom = top + band_height
    # The band hugs the text and sits on the reading side: left for LTR titles, right for RTL ones.
    left = area_right - band_width if block.rtl else area_left
    draw = ImageDraw.Draw(layer)
    draw.rectangle((left, top, left + band_width - 1, bottom - 1), fill=BAND_FILL)
    stripe_x = left + band_width - stripe if block.rtl else left
    draw.rectangle((stripe_x, top, stripe_x + stripe - 1, bottom - 1), fill=BAND_ACCENT)
    text_x = left + padding + (0 if block.rtl else stripe)
    block.draw(draw, text_x, top + padding, block.width, WHITE)
    return layer


def _lay_over(frame: Image.Image, layer: Image.Image) -> None:
    """Composite a frame-sized RGBA ``layer`` onto the RGB ``frame`` in place.

    Only the layer's visible box is converted and composited (a band or a cue is a small part of the
    frame); the pixels are the same as compositing the whole frame.
    """
    box = layer.getbbox()
    if box is not None:
        region = Image.alpha_composite(frame.crop(box).convert("RGBA"), layer.crop(box))
        frame.paste(region.convert("RGB"), box[:2])


def fit_image(
    src: Path, width: int, height: int, fit: str, out: Path, title: str | None, band_at_top: bool = False
) -> None:
    """Fit a picture of any mode to the frame ("cover" crops, "contain" letterboxes over a blurred fill)."""
    if fit not in FITS:
        raise ValueError(f"unknown fit {fit!r} (known: {', '.join(FITS)})")
    size = (width, height)
    with Image.open(src) as opened:
        _decode_scaled(opened, size, fit)
        # In place, and fitted before the file closes (closing frees the pixels): no full-size copies.
        ImageOps.exif_transpose(opened, in_place=True)
        image = _to_rgb(opened)
        frame = _cover(image, size, Image.Resampling.LANCZOS) if fit == "cover" else _contain(image, size)
    if title:
        _lay_over(frame, _title_band(title, width, height, band_at_top))
    _save(frame, out)


def render_title_overlay(title: str, width: int, height: int, out: Path, at_top: bool = False) -> None:
    """An RGBA PNG, transparent but for the title band, to lay over a video."""
    _save(_title_band(title, width, height, at_top), out)


def caption_layer(lines: tuple[str, ...], width: int, height: int) -> Image.Image:
    """A transparent RGBA frame with one cue's lines, centred on a dark box at the bottom of the safe area.

    The lines are drawn as given (the sidecar files carry the same ones) and never read as markup. The
    type is as large as the frame allows: a line too wide for the title-safe width gets a smaller size.
    """
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    stack = default_stack()
    unit = min(width, height)
    area_left, _, area_right, area_bottom = overlay_area(width, height)
    padding = max(2, round(unit * 0.014))
    room = area_right - area_left - 2 * padding
    size = max(6, round(unit * CAPTION_SIZE))
    laid = [stack.layout(line, size) for line in lines]
    while size > 6 and max(line.width for line in laid) > room:
        # Widths scale about linearly with size: jump close, then step down to what fits.
        size = max(6, min(size - 1, math.floor(size * room / max(line.width for line in laid))))
        laid = [stack.layout(line, size) for line in lines]
    line_height = math.ceil(size * 1.3)
    box_width = math.ceil(max(line.width for line in laid)) + 2 * padding
    box_height = line_height * len(laid) + 2 * padding
    left, top = (width - box_width) // 2, area_bottom - box_height
    draw = ImageDraw.Draw(layer)
    draw.rectangle((left, top, left + box_width - 1, top + box_height - 1), fill=CAPTION_FILL)
    for index, line in enumerate(laid):
        # A one-line block, as wide as its line: each line is centred on its own.
        block = TextBlock((line,), size, line_height, line.rtl)
        block.draw(draw, (width - line.width) / 2, top + padding + index * line_height, line.width, WHITE)
    return layer


def render_caption(lines: tuple[str, ...], width: int, height: int, out: Path) -> None:
    """One cue as an RGBA PNG to lay over a scene's frames."""
    _save(caption_layer(lines, width, height), out)


def burn_caption(picture: Image.Image, lines: tuple[str, ...]) -> Image.Image:
    """A still (RGB) with a cue burned in, under the cue's layer as render_caption draws it."""
    frame = picture.convert("RGB")  # a copy: the picture itself stays as it was
    _lay_over(frame, caption_layer(lines, picture.width, picture.height))
    return frame
