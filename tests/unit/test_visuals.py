"""Slides, fitted images and title overlays, rendered for real with Pillow (mostly at 320x180)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageChops

from reelmake.visuals import _title_band, caption_layer, fit_image, render_slide, render_title_overlay

W, H = 320, 180
LONG_BODY = ("Narration goes on and on, sentence after sentence, longer than a slide can hold. " * 30)[:2000]
RED, BLUE = (230, 20, 20), (20, 20, 230)


def _slide(
    tmp_path: Path, title: str, body: str, size: tuple[int, int] = (W, H), theme: str = "dark"
) -> Image.Image:
    out = tmp_path / f"slide-{len(list(tmp_path.iterdir()))}.png"
    render_slide(title, body, size[0], size[1], theme, out)
    with Image.open(out) as image:
        image.load()
        return image


def _bright(image: Image.Image, threshold: int = 200) -> int:
    """How many pixels are brighter than ``threshold``."""
    return sum(image.convert("L").histogram()[threshold + 1 :])


def _rgb(image: Image.Image, x: int, y: int) -> tuple[int, ...]:
    return tuple(int(value) for value in np.asarray(image)[y, x])


def _fit(
    tmp_path: Path,
    source: Image.Image | Path,
    fit: str,
    size: tuple[int, int] = (W, H),
    title: str | None = None,
) -> Image.Image:
    if isinstance(source, Image.Image):
        path = (
            tmp_path / f"source-{source.mode.replace(';', '_')}.{'jpg' if source.mode == 'CMYK' else 'png'}"
        )
        source.save(path)
        source = path
    out = tmp_path / "fitted.png"
    fit_image(source, size[0], size[1], fit, out, title)
    with Image.open(out) as image:
        image.load()
        return image


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920), (1080, 1080), (W, H)])
def test_slide_has_the_requested_size(tmp_path: Path, size: tuple[int, int]) -> None:
    image = _slide(tmp_path, "A title", "Some narration for the body.", size)
    assert image.size == size
    assert image.mode == "RGB"


def test_slide_draws_the_title_in_the_title_area(tmp_path: Path) -> None:
    blank = _slide(tmp_path, "", "")
    titled = _slide(tmp_path, "Bright title", "")
    middle = (0, H // 4, W, 3 * H // 4)
    assert _bright(blank) == 0
    assert _bright(titled.crop(middle)) > 100


def test_light_theme_has_a_light_background_and_dark_text(tmp_path: Path) -> None:
    grey = np.asarray(_slide(tmp_path, "Title", "Body", theme="light").convert("L"))
    assert grey[2, 2] > 200
    assert grey.min() < 80


def test_unknown_theme_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neon"):
        render_slide("T", "B", W, H, "neon", tmp_path / "x.png")


@pytest.mark.parametrize("size", [(W, H), (1080, 1920)])
def test_long_body_stays_inside_the_safe_margins(tmp_path: Path, size: tuple[int, int]) -> None:
    width, height = size
    blank = _slide(tmp_path, "", "", size)
    full = _slide(tmp_path, "A title for a long scene", LONG_BODY, size)
    margin_x, margin_y = round(width * 0.06), round(height * 0.06)
    for box in [
        (0, 0, width, margin_y),
        (0, height - margin_y, width, height),
        (0, 0, margin_x, height),
        (width - margin_x, 0, width, height),
    ]:
        assert ImageChops.difference(full.crop(box), blank.crop(box)).getbbox() is None, box
    # The body filled the safe area down to its lowest third.
    lower = (margin_x, round(height * 0.7), width - margin_x, height - margin_y)
    assert ImageChops.difference(full.crop(lower), blank.crop(lower)).getbbox() is not None


def test_right_to_left_title_is_aligned_right(tmp_path: Path) -> None:
    image = _slide(tmp_path, "שלום", "", (W, H))
    left, right = image.crop((0, 0, W // 2, H)), image.crop((W // 2, 0, W, H))
    assert _bright(right) > 4 * max(1, _bright(left))


@pytest.mark.parametrize("script", ["مرحبا بالعالم", "שלום עולם", "日本語のテキスト", "Crème brûlée"])
def test_slide_text_in_each_script_draws_pixels(tmp_path: Path, script: str) -> None:
    blank = _slide(tmp_path, "", "")
    assert _bright(_slide(tmp_path, script, script)) > _bright(blank) + 50


def _sample(mode: str) -> Image.Image:
    """A 64x48 source in ``mode``: the left half at full value, the right half transparent or dark."""
    if mode == "I;16":
        image = Image.new("I;16", (64, 48), 32768)  # mid grey in 16 bits
    elif mode == "P":
        image = Image.new("RGB", (64, 48), RED).quantize(4)
    elif mode == "CMYK":
        image = Image.new("CMYK", (64, 48), (0, 255, 255, 0))  # red
    else:
        image = Image.new(mode, (64, 48), (200,) * (len(mode) - 1) + (255,) if len(mode) > 1 else 200)
    if mode in ("LA", "RGBA"):
        image.paste((0,) * len(mode), (32, 0, 64, 48))  # transparent right half
    return image


@pytest.mark.parametrize("fit", ["cover", "contain"])
@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16"])
def test_fit_image_accepts_every_mode(tmp_path: Path, mode: str, fit: str) -> None:
    image = _fit(tmp_path, _sample(mode), fit)
    assert image.size == (W, H)
    assert image.mode == "RGB"
    r, g, b = _rgb(image, W // 2 - 20, H // 2)
    if mode == "I;16":
        assert 110 < r < 145 and r == g == b  # scaled down, not clipped to white
    elif mode in ("P", "CMYK"):
        assert r > 180 and g < 60 and b < 60
    else:
        assert r > 180
    if mode in ("LA", "RGBA"):
        assert _rgb(image, W // 2 + 20, H // 2) == (0, 0, 0)  # transparency over black


@pytest.mark.parametrize("fit", ["cover", "contain"])
@pytest.mark.parametrize("source_size", [(2000, 20), (20, 2000), (1, 1)])
def test_fit_image_handles_extreme_aspect_ratios(
    tmp_path: Path, fit: str, source_size: tuple[int, int]
) -> None:
    image = _fit(tmp_path, Image.new("RGB", source_size, RED), fit)
    assert image.size == (W, H)
    assert _rgb(image, W // 2, H // 2) == RED


def test_contain_shows_the_whole_image_over_a_darkened_fill(tmp_path: Path) -> None:
    source = Image.new("RGB", (100, 100), RED)
    image = _fit(tmp_path, source, "contain")
    assert _rgb(image, W // 2, H // 2) == RED
    assert _rgb(image, 5, H // 2)[0] < 120  # the fill is darkened


def test_cover_crops_to_the_centre(tmp_path: Path) -> None:
    # A tall source with red top and bottom thirds: cover at 16:9 keeps only the blue middle.
    source = Image.new("RGB", (90, 300), RED)
    source.paste(BLUE, (0, 100, 90, 200))
    image = _fit(tmp_path, source, "cover")
    assert {_rgb(image, x, y) for x in (0, W - 1) for y in (0, H - 1)} == {BLUE}


def test_fit_image_applies_exif_orientation(tmp_path: Path) -> None:
    # Stored landscape with a red top-left quarter; orientation 6 means "rotate 90° clockwise to view",
    # so the marker must end up top-right in a portrait picture.
    source = Image.new("RGB", (80, 40), BLUE)
    source.paste(RED, (0, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.png"
    source.save(path, exif=exif)
    image = _fit(tmp_path, path, "cover", size=(90, 180))
    assert image.size == (90, 180)
    assert _rgb(image, 70, 20) == RED
    assert _rgb(image, 20, 20) == BLUE
    assert _rgb(image, 70, 160) == BLUE


def test_fit_image_draws_a_title_band(tmp_path: Path) -> None:
    source = Image.new("RGB", (64, 48), (128, 128, 128))
    plain = _fit(tmp_path, source, "cover")
    titled = _fit(tmp_path, source, "cover", title="Lower third")
    top = (0, 0, W, H // 2)
    assert ImageChops.difference(plain.crop(top), titled.crop(top)).getbbox() is None
    band = titled.crop((0, H // 2, W, H))
    assert _bright(band, 240) > 30  # white text
    assert np.asarray(band.convert("L")).min() < 60  # the dark box


def test_unknown_fit_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="stretch"):
        fit_image(tmp_path / "missing.png", W, H, "stretch", tmp_path / "out.png", None)


def test_title_overlay_is_transparent_except_for_the_band(tmp_path: Path) -> None:
    out = tmp_path / "overlay.png"
    render_title_overlay("Lower third", W, H, out)
    # Written atomically: nothing else is left in the folder.
    assert [path.name for path in tmp_path.iterdir()] == ["overlay.png"]
    with Image.open(out) as image:
        assert image.mode == "RGBA"
        assert image.size == (W, H)
        alpha = image.getchannel("A")
        assert alpha.crop((0, 0, W, H // 2)).getextrema() == (0, 0)
        band = alpha.getbbox()
        assert band is not None
        assert (band[0], band[3]) == (round(W * 0.06), H - round(H * 0.06))  # inside the safe margin
        assert np.asarray(alpha.crop(band)).min() >= 128
        assert _bright(image.convert("RGB").crop(band), 240) > 30


def test_title_overlay_of_an_rtl_title_sits_on_the_right(tmp_path: Path) -> None:
    out = tmp_path / "overlay.png"
    render_title_overlay("עברית", W, H, out)
    with Image.open(out) as image:
        box = image.getchannel("A").getbbox()
    assert box is not None
    assert box[2] == W - round(W * 0.06)
    assert box[0] > W // 2


LONGEST_CUE = ("W" * 42, "M" * 42)  # the widest letters, a full two-line cue


def ink_box(layer: Image.Image) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a layer's visible pixels, right and bottom exclusive."""
    box = layer.getchannel("A").getbbox()
    assert box is not None
    return box


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920), (1080, 1080), (320, 180)])
@pytest.mark.parametrize("cue", [LONGEST_CUE, ("Short.",), ("漢" * 21, "字" * 21), ("مرحبا بالعالم",)])
def test_captions_stay_inside_the_title_safe_area(size: tuple[int, int], cue: tuple[str, ...]) -> None:
    width, height = size
    left, top, right, bottom = ink_box(caption_layer(cue, width, height))
    # The title-safe area is the centred 90% box; captions keep the slides' stricter 6% margin.
    assert left >= 0.05 * width and right <= 0.95 * width
    assert top >= 0.05 * height and bottom <= 0.95 * height
    assert abs((left + right) / 2 - width / 2) <= 1  # centred


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920), (1080, 1080), (320, 180)])
def test_a_title_band_at_the_top_never_meets_a_caption(size: tuple[int, int]) -> None:
    width, height = size
    caption = ink_box(caption_layer(LONGEST_CUE, width, height))
    title = "A title long enough to take two lines of the band in every single format"
    band = ink_box(_title_band(title, width, height, at_top=True))
    assert band[3] < caption[1]  # the band ends above where the caption box begins
    low_band = ink_box(_title_band(title, width, height))
    assert low_band[3] > caption[1]  # where it would have collided


def test_caption_text_is_drawn_literally() -> None:
    """Subtitle and filter markup in a cue is text: every character is drawn and adds ink."""
    plain = ink_box(caption_layer(("AB",), W, H))
    for markup in ("{\\an8}", "<b>", "</b>", "%", ":", "'", "\\N"):
        drawn = ink_box(caption_layer((f"A{markup}B",), W, H))
        assert drawn[2] - drawn[0] > plain[2] - plain[0], markup


def test_caption_lines_are_two_separate_lines() -> None:
    one = ink_box(caption_layer(("Line one",), W, H))
    two = ink_box(caption_layer(("Line one", "Line two"), W, H))
    # The box keeps its bottom and grows upwards by one line (11 px at 320x180).
    assert two[3] == one[3] and (two[3] - two[1]) - (one[3] - one[1]) >= 10


@pytest.mark.parametrize("size", [(1080, 1920), (360, 640)])  # full size and its preview
def test_portrait_text_keeps_clear_of_short_video_apps(size: tuple[int, int]) -> None:
    """Shorts, Reels and TikTok cover a portrait video's top tenth, bottom fifth and right edge."""
    width, height = size
    for box in (
        ink_box(caption_layer(LONGEST_CUE, width, height)),
        ink_box(_title_band("A title long enough to take two lines of the band", width, height)),
        ink_box(_title_band("A title long enough to take two lines of the band", width, height, at_top=True)),
    ):
        left, top, right, bottom = box
        assert top >= 0.10 * height and bottom <= 0.78 * height + 1
        assert left >= 0.12 * width - 1 and right <= 0.88 * width + 1
