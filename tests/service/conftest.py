"""Fixtures of the service tests: one server per test module, a small photo."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import make_image

from service.support import Server, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for a test module (no token, one worker)."""
    base = tmp_path_factory.mktemp("service")
    running = start_server(base / "data", "--max-upload-mb", "5", "--max-archive-files", "50")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_image(tmp_path_factory.mktemp("img") / "photo.png", (96, 64), (200, 40, 40)).read_bytes()
