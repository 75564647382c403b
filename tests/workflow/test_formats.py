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
