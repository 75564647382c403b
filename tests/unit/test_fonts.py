"""Font fallback, coverage, layout, wrapping and auto-sizing, with real fonts and real rendering."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from reelmake.fonts import BOLD, ELLIPSIS, REGULAR, default_stack, font_identity, missing_characters

SAMPLES = {
    "accented": ("Crème brûlée à Ærøskøbing, Ελληνικά, Кириллица", 0),
    "arabic": ("مرحبا بالعالم", 1),
    "hebrew": ("שלום עולם", 2),
    "japanese": ("日本語のテキスト", 3),
    "chinese": ("繁體中文字", 3),
}
# A private-use character: no font has it, so it draws as the fallback box ("tofu").
UNCOVERED = "\U000f0000"


def _ink(text: str, size: int = 24, weight: int = REGULAR) -> Image.Image:
    """``text`` drawn white on black with the default stack."""
    line = default_stack().layout(text, size, weight)
    image = Image.new("L", (int(line.width) + 20, size * 2), 0)
    line.draw(ImageDraw.Draw(image), 10, size * 1.4, (255,))
    return image


def _ink_count(image: Image.Image) -> int:
    """How many pixels of a greyscale image are more than half lit."""
    return sum(image.histogram()[129:])


def test_missing_characters_reports_emoji() -> None:
    assert missing_characters("Hi 😀") == ["😀"]


def test_missing_characters_deduplicates_in_order_and_ignores_invisibles() -> None:
    text = "🎉 a\u200db\ufe0f\t\n😀🎉\u00a0" + UNCOVERED
    assert missing_characters(text) == ["🎉", "😀", UNCOVERED]


@pytest.mark.parametrize("name", SAMPLES)
def test_scripts_are_covered_by_the_expected_font(name: str) -> None:
    text, face = SAMPLES[name]
    assert missing_characters(text) == []
    assert {index for index, _ in default_stack().runs(text)} == {face}


@pytest.mark.parametrize("name", SAMPLES)
def test_scripts_draw_real_glyphs_not_boxes(name: str) -> None:
    text, _ = SAMPLES[name]
    drawn = _ink(text)
    tofu = _ink(UNCOVERED * len(text.replace(" ", "")))
    assert _ink_count(drawn) > 20
    assert drawn.tobytes() != tofu.resize(drawn.size).tobytes()


def test_font_identity_is_stable_and_names_each_package() -> None:
    identity = font_identity()
    assert identity == font_identity()
    for package in (
        "fontpkg-noto-sans",
        "fontpkg-noto-sans-arabic",
        "fontpkg-heebo",
        "cvttf-NotoSansCJK-Regular",
    ):
        assert package in identity
    assert "Heebo" in identity


def test_runs_keep_spaces_and_punctuation_with_their_neighbours() -> None:
    assert default_stack().runs("Hello שלום world!") == [(0, "Hello "), (2, "שלום "), (0, "world!")]
    assert default_stack().runs("«שלום» 2024") == [(2, "«שלום» 2024")]


def test_right_to_left_line_puts_its_first_run_on_the_right() -> None:
    line = default_stack().layout("שלום world", 24)
    assert line.rtl
    by_text = {run.text.strip(): run for run in line.runs}
    assert by_text["שלום"].x > by_text["world"].x
    assert not default_stack().layout("world שלום", 24).rtl


@pytest.mark.parametrize("text", ["Heavy title", "日本語のタイトル"])
def test_bold_draws_heavier_than_regular(text: str) -> None:
    # Variable fonts get a heavier weight; the static CJK font gets a thin outline instead.
    assert _ink_count(_ink(text, weight=BOLD)) > _ink_count(_ink(text, weight=REGULAR)) * 1.15


def test_wrap_breaks_at_spaces_within_the_width() -> None:
    stack = default_stack()
    text = "The quick brown fox jumps over the lazy dog " * 4
    lines = stack.wrap(text, 16, 150)
    assert len(lines) > 3
    assert " ".join(lines) == text.strip()
    assert all(stack.layout(line, 16).width <= 150 for line in lines)


def test_wrap_breaks_cjk_between_characters_but_not_before_closing_punctuation() -> None:
    stack = default_stack()
    text = "日本語のテキストは、スペースなしで折り返されます。"
    lines = stack.wrap(text, 16, 80)
    assert len(lines) > 2
    assert "".join(lines) == text
    assert all(stack.layout(line, 16).width <= 80 for line in lines)
    assert not any(line[0] in "、。" for line in lines)


def test_wrap_breaks_an_overlong_word_by_characters() -> None:
    stack = default_stack()
    lines = stack.wrap("Supercalifragilisticexpialidocious fits", 16, 60)
    assert len(lines) > 3
    assert "".join(lines).replace(" ", "") == "Supercalifragilisticexpialidociousfits"
    assert all(stack.layout(line, 16).width <= 60 for line in lines)


def test_fit_uses_the_largest_size_that_fits() -> None:
    block = default_stack().fit("Short", 300, 100, max_size=40, min_size=10)
    assert block.size == 40
    assert [line.text for line in block.lines] == ["Short"]


def test_fit_shrinks_long_text_and_stays_in_the_box() -> None:
    text = "A sentence of narration that goes on for a while. " * 4
    block = default_stack().fit(text, 300, 120, max_size=40, min_size=6)
    assert 6 <= block.size < 40
    assert block.height <= 120
    assert all(line.width <= 300 for line in block.lines)
    assert ELLIPSIS not in "".join(line.text for line in block.lines)


def test_fit_truncates_with_an_ellipsis_at_the_floor_and_respects_max_lines() -> None:
    text = "word " * 500
    block = default_stack().fit(text, 200, 1000, max_size=30, min_size=14, max_lines=3)
    assert block.size == 14
    assert len(block.lines) == 3
    assert block.lines[-1].text.endswith("word" + ELLIPSIS)
    assert all(line.width <= 200 for line in block.lines)


def test_fit_of_empty_text_has_no_lines() -> None:
    block = default_stack().fit("  ", 200, 100, max_size=30, min_size=10)
    assert block.lines == ()
    assert block.height == 0


def test_balance_evens_out_line_lengths() -> None:
    stack = default_stack()
    text = "How reelmake turns a script into a video"
    # Just too narrow for one line: plain wrapping leaves one word alone on the second line.
    width = stack.layout(text, 48, BOLD).width * 0.92
    plain = stack.fit(text, width, 200, max_size=48, min_size=48, weight=BOLD)
    balanced = stack.fit(text, width, 200, max_size=48, min_size=48, weight=BOLD, balance=True)
    assert len(plain.lines) == len(balanced.lines) == 2
    assert plain.lines[1].text == "video"
    assert balanced.lines[1].width > plain.lines[1].width * 2
    assert balanced.width < plain.width
