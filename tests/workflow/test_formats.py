"""Vertical and square renders at full size: the frame, the poster and the slide layout."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from conftest import Project
from PIL import Image

from reelmake.probe import probe


@pytest.mark.parametrize(("shape", "size", "poster"), [("vertical", (1080, 1920), (720, 1280)),
                                                      ("square", (1080, 1080), (720, 720))])  # fmt: skip
def test_format_renders_full_size(
    new_project: Callable[..., Project], shape: str, size: tuple[int, int], poster: tuple[int, int]
) -> None:
    project = new_project(
        f"## A {shape} video\nShort and sweet.\n", format=shape, width=size[0], height=size[1]
    )
    project.snakemake()
    report = probe(project.path / "build" / "final.mp4")
    assert (report.width, report.height, report.decode_errors) == (*size, [])
    assert Image.open(project.path / "build" / "poster.jpg").size == poster
    # The slide's text stays inside the title-safe margin (6% of each side): the border rows are plain.
    scene = project.manifest()["scenes"][0]["hash"]
    slide = np.asarray(
        Image.open(project.path / "build" / "scenes" / scene / "image.png").convert("L"), np.int16
    )
    margin = int(0.06 * min(size))
    for border in (slide[:margin], slide[-margin:], slide[:, :margin], slide[:, -margin:]):
        assert np.abs(np.diff(border, axis=1)).max() <= 2  # a smooth vertical gradient, no glyph edges


def test_poster_setting_picks_a_frame_or_makes_a_title_card(new_project: Callable[..., Project]) -> None:
    from helpers import make_image

    project = new_project(
        "---\ntitle: Colours of the sea\n---\n"
        "## Red\n![red](assets/red.png)\n<!-- duration: 2 -->\n\n## Blue\n![blue](assets/blue.png)\n"
        "<!-- duration: 2 -->\n",
        poster=3.0,
    )
    make_image(project.path / "assets" / "red.png", (320, 180), (200, 30, 30))
    make_image(project.path / "assets" / "blue.png", (320, 180), (30, 30, 200))
    project.snakemake()
    poster = np.asarray(Image.open(project.path / "build" / "poster.jpg").convert("RGB"), np.int16)
    assert poster[5:40, 5:60].mean(axis=(0, 1))[2] > 150  # the second scene's blue, at 3 s

    scenes = project.scene_files()
    (project.path / "config.yaml").write_text("width: 320\nheight: 180\nposter: title\n")
    project.snakemake()
    assert project.scene_files() == scenes  # the poster is the join's business: no scene re-rendered
    card = np.asarray(Image.open(project.path / "build" / "poster.jpg").convert("RGB"), np.int16)
    assert card.shape == (720, 1280, 3)
    assert card[5:40, 5:60].mean() < 0.6 * 200  # the red first scene, darkened
    assert (card.min(axis=2) > 200).mean() > 0.01  # light title text over it


def test_a_silent_video_has_strict_json_in_its_manifest(new_project: Callable[..., Project]) -> None:
    import json

    project = new_project("## Quiet\n<!-- duration: 1 -->\n")
    project.snakemake()
    text = (project.path / "build" / "manifest.json").read_text()

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in manifest.json")

    data = json.loads(text, parse_constant=refuse)
    assert data["loudness_lufs"] is None and data["duration_s"] == 1.0
