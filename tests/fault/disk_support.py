"""Helpers of the full-disk tests: a small tmpfs to render on, a filler that leaves a chosen free space."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import make_sound
from PIL import Image

from reelmake.cli import main as reelmake_main

# A 640x360 project whose stages each write more than the margin reelmake keeps for Snakemake's records
# (diskspace.MIN_FREE_BYTES): a photo of noise (a PNG and keyframe that barely compress), a 30 s recorded
# narration (the joined AAC track is about 480 kB), no TTS (a render takes seconds).
SCRIPT = """\
---
title: Full disk
---

## Recorded
<!-- voice_file: assets/voice.m4a -->
A recorded narration.

## The photo
<!-- duration: {seconds}, motion: none -->
![Noise](assets/noise.png)
"""


@contextlib.contextmanager
def small_disk(folder: Path, size_mb: int, files: int | None = None) -> Iterator[Path]:
    """A tmpfs of ``size_mb`` (and at most ``files`` files) mounted at ``folder`` (needs root; skips
    otherwise), always unmounted."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m" + (f",nr_inodes={files}" if files else ""),
         "tmpfs", str(folder)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def make_disk_project(folder: Path) -> Path:
    """The project above, made with `reelmake new` in ``folder``."""
    assert reelmake_main(["new", str(folder)]) == 0
    (folder / "config.yaml").write_text(yaml.safe_dump({"width": 640, "height": 360}))
    noise = np.random.default_rng(8).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "assets" / "noise.png")
    make_sound(
        folder / "assets" / "voice.m4a",
        30.0,
        (220.0, 330.0, 440.0),
        lead_s=0.5,
        tail_s=0.5,
        rate=48_000,
        channels=1,
    )  # silence at both ends: see the report on a recording that fills its scene to the last sample
    set_photo_seconds(folder, 4)
    return folder


def set_photo_seconds(project: Path, seconds: int) -> None:
    """An edit that changes one scene (the photo's duration): its media and the join are made again."""
    (project / "script.md").write_text(SCRIPT.format(seconds=seconds), encoding="utf-8")


def free_bytes(folder: Path) -> int:
    usage = os.statvfs(folder)
    return usage.f_bavail * usage.f_frsize


@contextlib.contextmanager
def filled(folder: Path, leave: int) -> Iterator[None]:
    """A filler file that leaves about ``leave`` bytes free on ``folder``'s disk; deleted afterwards."""
    filler = folder / "filler"
    # A render running beside us may write between measuring and filling: then measure again.
    for _ in range(5):
        size = free_bytes(folder) - leave
        if size <= 0:
            break
        try:
            with filler.open("wb") as out:
                os.posix_fallocate(out.fileno(), 0, size)
            break
        except OSError as error:
            filler.unlink(missing_ok=True)
            if error.errno != errno.ENOSPC:
                raise
    else:
        raise RuntimeError(f"could not fill {folder} to {leave} bytes free: something keeps writing there")
    try:
        yield
    finally:
        filler.unlink(missing_ok=True)


def leftovers(project: Path) -> list[str]:
    """Partial media: zero-byte files and temporary names (fsutil.atomic_output's) outside Snakemake's
    own folder (its job markers are empty files by design)."""
    found = []
    for path in project.rglob("*"):
        if ".snakemake" in path.relative_to(project).parts or not path.is_file():
            continue
        if path.stat().st_size == 0 or (path.name.startswith(".") and ".tmp-" in path.name):
            found.append(str(path.relative_to(project)))
    return found


def media_bytes(project: Path) -> dict[str, int]:
    """The size of each file under build/ (what a render wrote), a file with several hard links once."""
    sizes: dict[str, int] = {}
    seen: set[int] = set()
    for path in sorted((project / "build").rglob("*")):
        if path.is_file() and path.stat().st_ino not in seen:
            seen.add(path.stat().st_ino)
            sizes[str(path.relative_to(project))] = path.stat().st_size
    return sizes
