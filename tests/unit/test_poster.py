"""The poster: which frame, and a title card that stays readable in every shape."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from reelmake.poster import SHADE, poster_time, title_card


def test_poster_time_is_mid_first_scene_or_the_chosen_second() -> None:
    assert poster_time("frame", (0.0, 4.0), 10.0) == 2.0
    assert poster_time("title", (0.0, 3.0), 10.0) == 1.5
    assert poster_time(6.5, (0.0, 4.0), 10.0) == 6.5
    assert poster_time(0, (0.0, 4.0), 10.0) == 0.0
    assert poster_time(60, (0.0, 4.0), 10.0) < 10.0  # past the end: the last frame


@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (720, 720)])
def test_title_card_darkens_the_frame_and_draws_the_title_inside_the_safe_area(size: tuple[int, int]) -> None:
    frame = Image.new("RGB", size, (120, 160, 200))
    card = np.asarray(title_card(frame, "Launch day: what we built"), np.int16)
    background = np.round(np.array([120, 160, 200]) * SHADE)
    text = np.abs(card - background).max(axis=2) > 40
    assert text.mean() > 0.01  # the title is drawn, large
    rows, cols = np.nonzero(text)
    width, height = size
    assert cols.min() >= 0.05 * width and cols.max() <= 0.95 * width
    assert rows.min() >= 0.05 * height and rows.max() <= 0.95 * height
    assert np.abs(card[0, 0] - background).max() <= 1  # the frame itself is darkened
