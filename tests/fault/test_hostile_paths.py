"""Asset paths that try to escape the project, hang a reader, or be read as something else.

Symlinks (files, folders, chains, loops) that lead outside the project are refused; a hard link is a
real file of the project and is accepted (it cannot be told from any other file, and its bytes are what
gets rendered). Devices and FIFOs are refused before anything reads them. Names that ffmpeg or PyAV
would take for an option ('-i.png'), standard input ('-') or a protocol ('pipe:0') are opened as the
files they are, and names with newlines, quotes and spaces render like any other.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import make_image, make_sound, make_video

from fault.fuzz_support import check_error, check_ok, rendered, write_project


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the project with a good image, clip and sound in it."""
    folder = tmp_path / "outside"
    make_image(folder / "photo.png", (64, 48), (200, 30, 30))
    make_sound(folder / "voice.wav", 1.2)
    return folder


def _project(tmp_path: Path, line: str, *front: str) -> Path:
    matter = "---\n" + "\n".join(front) + "\n---\n" if front else ""
    return write_project(tmp_path / "proj", f"{matter}## Scene\n\nWords.\n\n{line}\n")


def _visual(tmp_path: Path, ref: str) -> Path:
    return _project(tmp_path, f"![]({ref})")


def test_symlink_to_a_file_outside_is_refused(tmp_path: Path, outside: Path) -> None:
    project = _visual(tmp_path, "assets/photo.png")
    (project / "assets" / "photo.png").symlink_to(outside / "photo.png")
    line = check_error(project)
    assert "scene 1 'Scene'" in line and "'assets/photo.png' points outside the project folder" in line


def test_symlinked_assets_folder_outside_is_refused(tmp_path: Path, outside: Path) -> None:
    project = _visual(tmp_path, "assets/photo.png")
    (project / "assets").rmdir()
    (project / "assets").symlink_to(outside, target_is_directory=True)
    assert "'assets/photo.png' points outside the project folder" in check_error(project)


def test_symlink_chains(tmp_path: Path, outside: Path) -> None:
    project = _visual(tmp_path, "assets/a.png")
    assets = project / "assets"
    make_image(assets / "real.png", (64, 48), (0, 90, 200))
    (assets / "b.png").symlink_to("real.png")
    (assets / "a.png").symlink_to("b.png")
    check_ok(project)  # a chain that stays inside is followed
    (assets / "b.png").unlink()
    (assets / "b.png").symlink_to(outside / "photo.png")
    assert "points outside the project folder" in check_error(project)  # ... one that leaves is not


def test_symlink_loop_is_refused(tmp_path: Path) -> None:
    project = _visual(tmp_path, "assets/a.png")
    (project / "assets" / "a.png").symlink_to("b.png")
    (project / "assets" / "b.png").symlink_to("a.png")
    line = check_error(project)
    assert "'assets/a.png'" in line and "symbolic link" in line.lower()


def test_hard_link_to_a_file_outside_is_a_file_of_the_project(tmp_path: Path, outside: Path) -> None:
    project = _visual(tmp_path, "assets/photo.png")
    os.link(outside / "photo.png", project / "assets" / "photo.png")
    assert "image  Scene  assets/photo.png" in check_ok(project)


@pytest.mark.parametrize("role", ["visual", "voice_file", "music"])
@pytest.mark.parametrize("kind", ["fifo", "device", "link-to-device"])
def test_devices_and_fifos_are_refused_before_anything_reads_them(
    tmp_path: Path, role: str, kind: str
) -> None:
    ref = "assets/thing.wav"
    line = {
        "visual": f"![]({ref})",
        "voice_file": f"<!-- voice_file: {ref} -->",
        "music": "",
    }[role]
    project = _project(tmp_path, line, *([f"music: {ref}"] if role == "music" else []))
    path = project / ref
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root (CI runs as root)")
        os.mknod(path, 0o600 | 0o020000, os.makedev(1, 5))  # a character device: /dev/zero's numbers
    else:
        path.symlink_to("/dev/zero")
    message = check_error(project)  # returns at once: nothing was read from the file
    assert f"'{ref}'" in message
    assert "points outside the project" in message if kind == "link-to-device" else "is not a file" in message


@pytest.mark.parametrize("name", ["script.md", "config.yaml"])
@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "/dev/urandom"])
def test_script_or_config_that_is_no_file_is_refused(tmp_path: Path, name: str, kind: str) -> None:
    project = _project(tmp_path, "")
    (project / name).unlink()
    if kind == "fifo":
        os.mkfifo(project / name)
    else:
        (project / name).symlink_to(kind)
    assert f"reelmake: error: {name}: is not a regular file" in check_error(project)


def test_a_broken_config_link_is_an_error_not_no_config(tmp_path: Path) -> None:
    project = _project(tmp_path, "")
    (project / "config.yaml").unlink()
    (project / "config.yaml").symlink_to("nowhere.yaml")
    assert "config.yaml: cannot read it (No such file or directory)" in check_error(project)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("../outside/photo.png", "points outside the project folder"),
        ("assets/../../outside/photo.png", "points outside the project folder"),
        ("/etc/passwd", "is not a path relative to the project folder"),
        ("file:///etc/passwd", "is not a path relative to the project folder"),
        ("http://example.com/a.png", "is not a path relative to the project folder"),
        ("\\\\server\\share\\a.png", "is not a path relative to the project folder"),
        ("C:\\photos\\a.png", "does not exist"),  # on POSIX just an odd relative name
        ("assets\\photo.png", "does not exist"),
        ("assets/" + "a" * 256 + ".png", "cannot be opened (File name too long)"),
        ("assets/" + "/".join(["d" * 200] * 25) + ".png", "is too long"),  # over the schema's 1000
    ],
)
def test_paths_that_are_not_files_of_the_project(
    tmp_path: Path, outside: Path, ref: str, expected: str
) -> None:
    project = _project(tmp_path, f'<!-- visual: "{ref.replace(chr(92), chr(92) * 2)}" -->')
    line = check_error(project)
    assert expected in line, line
    assert "scene 1" in line


def test_a_255_byte_name_is_fine(tmp_path: Path) -> None:
    name = "é" * 125 + "a.png"  # 255 bytes in UTF-8, the most a name may have
    assert len(name.encode()) == 255
    project = _visual(tmp_path, f"assets/{name}")
    make_image(project / "assets" / name, (64, 48), (0, 90, 200))
    check_ok(project)


def test_hostile_names_render_as_the_files_they_are(tmp_path: Path) -> None:
    """'-' and 'pipe:0' (a clip), '-i.png' and a name with a newline, quotes and spaces (photos), and a
    recording named '-i.wav': each is read as its own file. ffmpeg would read '-' and 'pipe:0' from
    standard input (empty here, so the render would fail) and take '-i.png' for an option."""
    odd = "assets/new\nline \"quoted\" 'single' $(x) .png"
    odd_yaml = '"assets/new\\nline \\"quoted\\" \'single\' $(x) .png"'  # a YAML string of ``odd``
    script = (
        "## Dash\n\n![](-)\n\n<!-- duration: 1 -->\n\n"
        "## Pipe\n\n![](pipe:0)\n\n<!-- duration: 1 -->\n\n"
        "## Option\n\n![](-i.png)\n\n<!-- duration: 1 -->\n\n"
        f"## Odd\n\n<!-- visual: {odd_yaml}, duration: 1 -->\n\n"
        "## Recorded\n\n<!-- voice_file: -i.wav -->\n"
    )
    project = write_project(tmp_path / "proj", script, motion="none", captions="off")
    clip = make_video(tmp_path / "clip.mp4", 1.0, "64x48")
    for name in ("-", "pipe:0"):
        shutil.copyfile(clip, project / name)
    make_image(project / "-i.png", (64, 48), (0, 0, 255))
    make_image(project / odd, (64, 48), (0, 255, 0))
    make_sound(project / "-i.wav", 1.0, lead_s=0.2)
    (project / "-i.mp4").write_bytes(b"")  # were '-i.png' an option, this would be the file to break it
    manifest = rendered(project)
    assert [s["title"] for s in manifest["scenes"]] == ["Dash", "Pipe", "Option", "Odd", "Recorded"]
    from reelmake.probe import probe

    assert probe(project / "build" / "final.mp4").decode_errors == []
    _assert_photo_colour(project, "Option", (0, 0, 255))
    _assert_photo_colour(project, "Odd", (0, 255, 0))


def _assert_photo_colour(project: Path, title: str, rgb: tuple[int, int, int]) -> None:
    """The scene's picture is its own photo: a corner of the frame (outside the disc) has its colour."""
    import json

    from PIL import Image

    composition = json.loads((project / "build" / "composition.json").read_text())
    scene = next(s for s in composition["scenes"] if s["title"] == title)
    picture = np.asarray(
        Image.open(project / "build" / "scenes" / scene["hash"] / "image.png").convert("RGB")
    )
    corner = picture[:10, :10].reshape(-1, 3).mean(axis=0)
    assert np.abs(corner - np.array(rgb)).max() < 40, corner
