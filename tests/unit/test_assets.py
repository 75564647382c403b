"""Scene visuals: every bad file gets a UserError naming it and saying what to do; good ones are measured."""

from __future__ import annotations

import os
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from helpers import make_image, make_video
from PIL import Image

from reelmake.assets import MAX_IMAGE_PIXELS, AssetCache, AssetInfo, inspect_asset, resolve_asset
from reelmake.errors import UserError
from reelmake.plan import plan_project

SCRIPT = """---
title: Assets
---
## Intro
Hello there.

## The picture
A look at the picture.

![the visual](VISUAL)
"""
SCENE = "scene 2 'The picture'"
BIG = 10**9  # max_bytes that never applies


@pytest.fixture(scope="module")
def real_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "clip.mp4", 1.0)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    (folder / "assets").mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"width": 320, "height": 180}))
    return folder


def use_visual(project: Path, ref: str) -> None:
    (project / "script.md").write_text(SCRIPT.replace("VISUAL", ref), encoding="utf-8")


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares a huge 1-bit image but holds almost no data: opening it must not decode it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    return path


# Each maker puts a bad file in the project and returns (the reference the script uses, words the error
# must contain besides that reference: what is wrong and what to do).
Maker = Callable[[Path, Path], tuple[str, list[str]]]


def _missing(project: Path, mp4: Path) -> tuple[str, list[str]]:
    return "assets/missing.png", ["does not exist", "add the file or fix the path"]


def _truncated_jpeg(project: Path, mp4: Path) -> tuple[str, list[str]]:
    full = make_image(project / "full.jpg", (320, 240), (30, 120, 200))
    data = full.read_bytes()
    (project / "assets" / "cut.jpg").write_bytes(data[: len(data) // 2])
    return "assets/cut.jpg", ["broken image", "re-export or replace it"]


def _text_as_png(project: Path, mp4: Path) -> tuple[str, list[str]]:
    (project / "assets" / "notes.png").write_text("This is a text file, not a picture.\n" * 20)
    return "assets/notes.png", ["neither an image nor a video", "re-export it as JPEG, PNG or MP4"]


def _empty_image(project: Path, mp4: Path) -> tuple[str, list[str]]:
    (project / "assets" / "empty.png").write_bytes(b"")
    return "assets/empty.png", ["empty (0 bytes)", "replace it"]


def _empty_video(project: Path, mp4: Path) -> tuple[str, list[str]]:
    (project / "assets" / "empty.mp4").write_bytes(b"")
    return "assets/empty.mp4", ["empty (0 bytes)", "replace it"]


def _bomb(project: Path, mp4: Path) -> tuple[str, list[str]]:
    Image.new("1", (9000, 9000)).save(project / "assets" / "bomb.png")
    return "assets/bomb.png", ["decompression bomb", "scale it down"]


def _random_mp4(project: Path, mp4: Path) -> tuple[str, list[str]]:
    (project / "assets" / "noise.mp4").write_bytes(os.urandom(8192))
    return "assets/noise.mp4", ["neither an image nor a video", "re-export it as JPEG, PNG or MP4"]


def _truncated_mp4(project: Path, mp4: Path) -> tuple[str, list[str]]:
    (project / "assets" / "cut.mp4").write_bytes(mp4.read_bytes()[:2048])
    return "assets/cut.mp4", ["neither an image nor a video", "re-export it as JPEG, PNG or MP4"]


def _dot_dot(project: Path, mp4: Path) -> tuple[str, list[str]]:
    make_image(project.parent / "outside.png", (32, 32), (0, 0, 0))
    return "../proj/../outside.png", ["points outside the project folder", "copy the file into assets/"]


def _dot_dot_deep(project: Path, mp4: Path) -> tuple[str, list[str]]:
    return "assets/../../../etc/hostname", ["points outside the project folder", "copy the file into assets/"]


def _absolute(project: Path, mp4: Path) -> tuple[str, list[str]]:
    outside = make_image(project.parent / "abs.png", (32, 32), (0, 0, 0))
    return str(outside), ["is not a path relative to the project folder", "put the file in assets/"]


def _symlink_out(project: Path, mp4: Path) -> tuple[str, list[str]]:
    outside = make_image(project.parent / "secret.png", (32, 32), (0, 0, 0))
    (project / "assets" / "link.png").symlink_to(outside)
    return "assets/link.png", ["points outside the project folder", "copy the file into assets/"]


BAD: dict[str, Maker] = {
    "missing": _missing,
    "truncated-jpeg": _truncated_jpeg,
    "text-named-png": _text_as_png,
    "empty-image": _empty_image,
    "empty-video": _empty_video,
    "decompression-bomb": _bomb,
    "random-bytes-mp4": _random_mp4,
    "truncated-mp4": _truncated_mp4,
    "dot-dot": _dot_dot,
    "dot-dot-deep": _dot_dot_deep,
    "absolute": _absolute,
    "symlink-outside": _symlink_out,
}
# Those whose file exists inside the project, so reelmake.assets can be asked about the file itself.
MEDIA = ["truncated-jpeg", "text-named-png", "empty-image", "empty-video", "decompression-bomb"]
MEDIA += ["random-bytes-mp4", "truncated-mp4"]


@pytest.mark.parametrize("case", list(BAD))
def test_plan_refuses_bad_visual_naming_script_scene_and_file(
    project: Path, real_mp4: Path, case: str
) -> None:
    ref, words = BAD[case](project, real_mp4)
    use_visual(project, ref)
    with pytest.raises(UserError) as caught:
        plan_project(project)
    message = str(caught.value)
    assert message.startswith("script.md:"), message
    assert SCENE in message
    assert f"'{ref}'" in message
    for word in words:
        assert word in message
    assert "\n" not in message
    assert not (project / "build").exists()


@pytest.mark.parametrize("case", MEDIA)
def test_inspect_refuses_bad_media_naming_the_file(project: Path, real_mp4: Path, case: str) -> None:
    ref, words = BAD[case](project, real_mp4)
    path = resolve_asset(project, ref, shown_as="script.md")
    cache = AssetCache(project / "cache.json")
    with pytest.raises(UserError) as caught:
        cache.inspect(path, shown_as=ref, max_bytes=BIG)
    message = str(caught.value)
    assert f"'{ref}'" in message
    for word in words:
        assert word in message
    assert cache.entries == {}  # a refused file is never cached


@pytest.mark.parametrize(
    "ref",
    ["assets/missing.png", "../outside.png", "/etc/hostname", "assets/../../x.png", "https://x.org/a.png"],
)
def test_resolve_asset_names_the_reference_and_the_file_it_is_in(project: Path, ref: str) -> None:
    with pytest.raises(UserError) as caught:
        resolve_asset(project, ref, shown_as="script.md")
    assert caught.value.file == "script.md"
    assert f"'{ref}'" in str(caught.value)


def test_folder_is_not_a_file(project: Path) -> None:
    (project / "assets" / "folder.png").mkdir()
    with pytest.raises(UserError, match=r"'assets/folder.png' is not a file"):
        resolve_asset(project, "assets/folder.png", shown_as="script.md")


def test_symlink_inside_the_project_is_followed(project: Path) -> None:
    real = make_image(project / "assets" / "real.png", (40, 30), (10, 20, 30))
    (project / "assets" / "alias.png").symlink_to(real)
    assert resolve_asset(project, "assets/alias.png", shown_as="script.md") == real.resolve()


@pytest.mark.parametrize(("size", "mode"), [((9000, 9000), "1"), ((9000, 9000), "P"), ((12000, 12000), "1")])
def test_decompression_bomb_is_refused_quickly(tmp_path: Path, size: tuple[int, int], mode: str) -> None:
    path = tmp_path / "bomb.png"
    Image.new(mode, size).save(path)
    assert path.stat().st_size < 200_000  # small on disk, huge once decoded
    start = time.perf_counter()
    with pytest.raises(UserError, match=r"'assets/bomb.png' is an image of absurd size.*scale it down"):
        inspect_asset(path, shown_as="assets/bomb.png")
    assert time.perf_counter() - start < 2.0


def test_decompression_bomb_is_refused_from_its_header_alone(tmp_path: Path) -> None:
    # 60000 x 60000 declared, 64 bytes of pixel data: decoding would fail as truncated, not as a bomb.
    path = png_header_only(tmp_path / "header.png", 60_000, 60_000)
    assert 2 * MAX_IMAGE_PIXELS < 60_000 * 60_000
    start = time.perf_counter()
    with pytest.raises(UserError, match=r"absurd size.*decompression bomb"):
        inspect_asset(path, shown_as="assets/header.png")
    assert time.perf_counter() - start < 2.0


def test_image_at_the_pixel_limit_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "large.png"
    Image.new("1", (10_000, 5_000)).save(path)  # exactly MAX_IMAGE_PIXELS
    assert inspect_asset(path, shown_as="assets/large.png").width == 10_000


def test_file_over_the_size_limit_names_the_setting(tmp_path: Path) -> None:
    path = make_image(tmp_path / "photo.png", (200, 200), (1, 2, 3))
    with pytest.raises(UserError, match=r"'assets/photo.png' is .* MB; the limit is .*max_asset_mb"):
        AssetCache(tmp_path / "cache.json").inspect(path, shown_as="assets/photo.png", max_bytes=100)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "1", "I;16"])
def test_good_images_of_any_mode_are_accepted(tmp_path: Path, mode: str) -> None:
    path = make_image(tmp_path / f"photo-{mode.replace(';', '')}.png", (123, 45), (200, 100, 50), mode=mode)
    info = inspect_asset(path, shown_as=path.name)
    assert (info.kind, info.width, info.height, info.duration_s) == ("image", 123, 45, None)
    assert len(info.sha256) == 64


def test_good_jpeg_is_accepted(tmp_path: Path) -> None:
    path = make_image(tmp_path / "photo.jpg", (64, 48), (200, 100, 50))
    assert inspect_asset(path, shown_as="photo.jpg").kind == "image"


def test_real_mp4_is_a_video_with_its_size_and_duration(real_mp4: Path) -> None:
    info = inspect_asset(real_mp4, shown_as="clip.mp4")
    assert (info.kind, info.width, info.height) == ("video", 240, 160)
    assert info.duration_s == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA"])
def test_plan_accepts_png_modes(project: Path, mode: str) -> None:
    make_image(project / "assets" / "photo.png", (80, 60), (10, 200, 30), mode=mode)
    use_visual(project, "assets/photo.png")
    scene = plan_project(project).scenes[1]
    assert scene.kind == "image"
    assert (scene.spec["asset"]["width"], scene.spec["asset"]["height"]) == (80, 60)


def test_plan_takes_a_silent_video_scene_length_from_the_clip(project: Path, real_mp4: Path) -> None:
    (project / "assets" / "clip.mp4").write_bytes(real_mp4.read_bytes())
    (project / "script.md").write_text("## Clip\n\n![clip](assets/clip.mp4)\n")
    scene = plan_project(project).scenes[0]
    assert scene.kind == "video"
    assert (scene.spec["asset"]["width"], scene.spec["asset"]["height"]) == (240, 160)
    assert scene.spec["min_duration_s"] == pytest.approx(1.0, abs=0.1)


def test_cache_reuses_info_while_size_and_mtime_are_unchanged(tmp_path: Path) -> None:
    cache_file = tmp_path / "cache" / "assets.json"
    photo = make_image(tmp_path / "photo.png", (64, 48), (200, 40, 40))
    first = AssetCache(cache_file)
    info = first.inspect(photo, shown_as="photo.png", max_bytes=BIG)
    assert first.dirty
    first.save()
    assert cache_file.is_file()

    # Same size, same mtime, different bytes (garbage): the cache must answer without reading the file.
    stat = photo.stat()
    photo.write_bytes(b"\0" * stat.st_size)
    os.utime(photo, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = AssetCache(cache_file)
    assert again.inspect(photo, shown_as="photo.png", max_bytes=BIG) == info
    assert not again.dirty
    mtime_before = cache_file.stat().st_mtime_ns
    again.save()
    assert cache_file.stat().st_mtime_ns == mtime_before  # nothing new: not rewritten

    # A new mtime: inspected again, and the garbage is now caught.
    os.utime(photo, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(UserError, match=r"'photo\.png'"):
        again.inspect(photo, shown_as="photo.png", max_bytes=BIG)

    # A different real image with the old mtime: the size differs, so it is inspected again.
    make_image(photo, (100, 20), (40, 200, 40))
    os.utime(photo, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    fresh = again.inspect(photo, shown_as="photo.png", max_bytes=BIG)
    assert fresh != info
    assert (fresh.width, fresh.height) == (100, 20)
    assert again.dirty


def test_cache_survives_a_corrupt_cache_file(tmp_path: Path) -> None:
    cache_file = tmp_path / "assets.json"
    cache_file.write_text("{not json")
    photo = make_image(tmp_path / "photo.png", (10, 10), (1, 2, 3))
    info = AssetCache(cache_file).inspect(photo, shown_as="photo.png", max_bytes=BIG)
    assert info == AssetInfo("image", info.sha256, 10, 10)
