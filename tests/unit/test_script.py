"""Parsing Markdown scripts into scenes, and the clear errors a bad script gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelmake.errors import UserError
from reelmake.script import load_script, parse_markdown

SCRIPT = """---
title: Launch day
fps: 25
---
A note before the first scene is not a scene.

## Hello, world
First paragraph
continues here.

Second paragraph.

![a photo](assets/photo.jpg)

## Quiet
<!-- duration: 2.5, fit: contain -->

## Hello, world
Again.
"""


def test_scenes_titles_narration_visuals_and_options() -> None:
    script = parse_markdown(SCRIPT)
    assert script.title == "Launch day"
    assert script.settings == {"fps": 25}
    assert [s.title for s in script.scenes] == ["Hello, world", "Quiet", "Hello, world"]
    first, quiet, _ = script.scenes
    assert first.narration == "First paragraph continues here.\n\nSecond paragraph."
    assert first.visual == "assets/photo.jpg"
    assert first.line == 7
    assert quiet.narration == "" and quiet.options == {"duration": 2.5, "fit": "contain"}
    assert [s.id for s in script.scenes] == ["hello-world", "quiet", "hello-world-2"]


def test_canonical_form_round_trips_through_yaml(tmp_path: Path) -> None:
    import yaml

    script = parse_markdown(SCRIPT)
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(script.to_canonical(), allow_unicode=True))
    again = load_script(path)
    assert again.to_canonical() == script.to_canonical()


def test_title_defaults_to_first_scene() -> None:
    assert parse_markdown("## Only scene\nWords.").title == "Only scene"


def test_unicode_text_is_kept() -> None:
    script = parse_markdown("## Café 東京 مرحبا שלום\nNaïve façade.")
    assert script.scenes[0].title == "Café 東京 مرحبا שלום"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# Title only\nno scenes here", "has no scenes"),
        ("", "has no scenes"),
        ("---\ntitle: [unclosed\n---\n## A\nx", "not valid YAML"),
        ("---\ntitle: x\n## A\nx", "no closing ---"),
        ("---\n- a list\n---\n## A\nx", "front matter must be a YAML mapping"),
        ("## A\n![one](a.png)\n![two](b.png)", "more than one image"),
        ("## A\n<!-- duration: -3 -->", "duration"),
        ("## A\n<!-- speed: fast -->", "unknown setting"),
        ("---\nfps: 31\n---\n## A\nx", None),  # settings are validated with the project config, not here
    ],
)
def test_bad_scripts_get_clear_errors(text: str, expected: str | None) -> None:
    if expected is None:
        parse_markdown(text)
        return
    with pytest.raises(UserError, match=expected) as info:
        parse_markdown(text)
    assert str(info.value).startswith("script.md")


def test_error_names_scene_and_line() -> None:
    with pytest.raises(UserError) as info:
        parse_markdown("## One\nfine\n\n## Two\n<!-- fit: stretch -->\n")
    assert info.value.scene == "2" and info.value.line == 4
    assert "'stretch' is not one of 'cover', 'contain'" in str(info.value)


def test_yaml_alias_bomb_is_refused_quickly() -> None:
    bomb = "---\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    bomb += (
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n---\n## A\nx"
    )
    with pytest.raises(UserError, match="alias"):
        parse_markdown(bomb)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00junk", "not a text file"),
        ("## Caf\xe9\n".encode("latin-1"), "not UTF-8"),
        ("## A\n".encode("utf-16"), "not"),
    ],
)
def test_non_utf8_files_are_refused(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "script.md"
    path.write_bytes(data)
    with pytest.raises(UserError, match=expected):
        load_script(path)


def test_utf8_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "script.md"
    path.write_bytes("\ufeff## A\r\nWords.\r\n".encode())
    assert load_script(path).scenes[0].narration == "Words."


def test_overlong_narration_and_too_many_scenes() -> None:
    with pytest.raises(UserError, match="limit is 5,000"):
        parse_markdown("## A\n" + "word " * 2000)
    with pytest.raises(UserError, match="limit is 500"):
        parse_markdown("".join(f"## S{i}\nx\n\n" for i in range(501)))
