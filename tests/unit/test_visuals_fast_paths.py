"""The cheap ways scene pictures are made: scaled JPEG decoding, box-only compositing, shared gradients
and remembered font lookups give the pictures the slow ways gave (or, for scaled decoding, ones that
differ from them only invisibly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from reelmake.fonts import FontStack
from reelmake.visuals import (
    _cover,
    _decode_scaled,
    _gradient,
    _lay_over,
    burn_caption,
    caption_layer,
    fit_image,
)


def _jpeg(path: Path, size: tuple[int, int], orientation: int | None = None) -> Path:
    """A photo-like JPEG: smooth colour ramps, soft waves, hard-edged shapes and small text."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = np.stack([x / width * 200 + 30, y / height * 180 + 40, (x + y) / (width + height) * 150 + 60], -1)
    waves = 20 * np.sin(x / width * 11)[..., None] * np.cos(y / height * 7)[..., None]
    image = Image.fromarray(np.clip(ramp + waves, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for i in range(8):
        left, top = width * i // 9, height * ((i * 5) % 8) // 9
        draw.ellipse((left, top, left + width // 7, top + width // 7), outline=(250, 240, 20), width=4)
        draw.text((left, top + height // 10), "Harbour 42", fill=(255, 255, 255))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(path, format="JPEG", quality=90, exif=exif)
    return path


def _decoded_size(path: Path, size: tuple[int, int], fit: str) -> tuple[int, int]:
    with Image.open(path) as opened:
        _decode_scaled(opened, size, fit)
        opened.load()
        return opened.size


@pytest.mark.parametrize(
    ("source", "frame", "fit", "decoded"),
    [
        ((1600, 1200), (320, 180), "cover", (400, 300)),  # 5x too many pixels: 1/4 still covers it
        ((1600, 1200), (320, 180), "contain", (400, 300)),
        ((1600, 1200), (1920, 1080), "cover", (1600, 1200)),  # an enlargement: every pixel is used
        ((1602, 1200), (320, 180), "cover", (801, 600)),  # 1/4 would not divide 1602 exactly
        ((1601, 1201), (320, 180), "cover", (1601, 1201)),  # no factor divides both sides
    ],
)
def test_a_jpeg_decodes_at_the_smallest_scale_that_keeps_every_pixel_the_fit_uses(
    tmp_path: Path, source: tuple[int, int], frame: tuple[int, int], fit: str, decoded: tuple[int, int]
) -> None:
    assert _decoded_size(_jpeg(tmp_path / "photo.jpg", source), frame, fit) == decoded


def test_a_quarter_turned_jpeg_is_scaled_for_the_frame_it_is_shown_in(tmp_path: Path) -> None:
    # Stored 1200x1600, shown 1600x1200 (orientation 6): a 320x180 cover needs 320x240 of the shown
    # picture, so a quarter of the stored one (300x400) is enough; read unturned it would seem to need half.
    path = _jpeg(tmp_path / "turned.jpg", (1200, 1600), orientation=6)
    assert _decoded_size(path, (320, 180), "cover") == (300, 400)


def test_other_formats_decode_at_full_size(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    Image.new("RGB", (1600, 1200), (10, 200, 30)).save(path)
    assert _decoded_size(path, (320, 180), "cover") == (1600, 1200)


@pytest.mark.parametrize("frame", [(320, 180), (480, 270)])
def test_a_scaled_decode_looks_like_the_full_decode(tmp_path: Path, frame: tuple[int, int]) -> None:
    path = _jpeg(tmp_path / "photo.jpg", (1920, 1440))
    out = tmp_path / "fitted.png"
    fit_image(path, *frame, "cover", out, None)
    with Image.open(path) as full:
        reference = np.asarray(_cover(full.convert("RGB"), frame, Image.Resampling.LANCZOS), dtype=int)
    with Image.open(out) as fitted:
        difference = np.abs(np.asarray(fitted, dtype=int) - reference)
    # Measured: mean 0.3-0.5, 99.9th percentile 8-19 (at the shapes' one-pixel edges) on 0..255.
    assert difference.mean() < 1.0
    assert np.percentile(difference, 99.9) < 32


def _random_layer(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    """A frame-sized RGBA layer, transparent but for ``box``, which holds every alpha value."""
    rng = np.random.default_rng(3)
    layer = np.zeros((size[1], size[0], 4), np.uint8)
    left, top, right, bottom = box
    layer[top:bottom, left:right] = rng.integers(0, 256, (bottom - top, right - left, 4), dtype=np.uint8)
    return Image.fromarray(layer)


def test_laying_over_a_box_gives_the_pixels_of_a_whole_frame_composite() -> None:
    rng = np.random.default_rng(5)
    frame = Image.fromarray(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8))
    layer = _random_layer((160, 90), (21, 50, 130, 77))
    expected = Image.alpha_composite(frame.convert("RGBA"), layer).convert("RGB")
    _lay_over(frame, layer)
    assert np.array_equal(np.asarray(frame), np.asarray(expected))


def test_a_transparent_layer_leaves_the_frame_as_it_was() -> None:
    frame = Image.new("RGB", (64, 36), (12, 34, 56))
    _lay_over(frame, Image.new("RGBA", (64, 36), (255, 255, 255, 0)))
    assert frame.getcolors() == [(64 * 36, (12, 34, 56))]


def test_a_burned_cue_gives_the_pixels_of_a_whole_frame_composite() -> None:
    rng = np.random.default_rng(9)
    picture = Image.fromarray(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8))
    kept = picture.copy()
    lines = ("A cue", "two lines")
    burned = burn_caption(picture, lines)
    expected = Image.alpha_composite(picture.convert("RGBA"), caption_layer(lines, 160, 90)).convert("RGB")
    assert burned.mode == "RGB"
    assert np.array_equal(np.asarray(burned), np.asarray(expected))
    assert np.array_equal(np.asarray(picture), np.asarray(kept))  # the scene's picture is not drawn on


def test_each_slide_gets_its_own_copy_of_the_shared_gradient() -> None:
    top, bottom = (200, 10, 10), (10, 10, 200)
    first = _gradient(64, 36, top, bottom)
    ImageDraw.Draw(first).rectangle((0, 0, 63, 35), fill=(0, 255, 0))  # a slide drawing on its copy
    second = _gradient(64, 36, top, bottom)
    pixels = np.asarray(second, dtype=int)
    assert (pixels[0] - top).__abs__().max() <= 4 and (pixels[-1] - bottom).__abs__().max() <= 4
    assert (pixels[:, :, 1] < 20).all()  # none of the first slide's green


def test_remembered_faces_are_the_faces_the_cmaps_give() -> None:
    stack = FontStack()
    text = "Aب א漢😀 A漢😀"  # Latin, Arabic, Hebrew, CJK, and an emoji no font has; then again
    first = [stack.face_of(ch) for ch in text]
    again = [stack.face_of(ch) for ch in text]
    from_cmaps = [
        next((index for index in range(len(stack.faces)) if stack.covers(index, ch)), None) for ch in text
    ]
    assert first == again == from_cmaps
    assert first[:6] == [0, 1, 0, 2, 3, None]
