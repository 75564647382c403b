"""The join's check of the muxed file: each kind of damage done between the scenes and the final MP4 is
caught, named, and leaves no video, poster or manifest behind (the join is run in-process on a real
project, with the damage done by wrapping one of its steps)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from conftest import make_project

from reelmake import aac, compose, jobs
from reelmake.bitstream import split_frames
from reelmake.ffmpeg import RenderError
from reelmake.plan import PUBLISHED_FILES

SCRIPT = """---
title: Join check
---
## One
The first scene speaks for a while, so that its picture repeats.

## Two
The second scene speaks too.
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("joincheck") / "proj", SCRIPT)
    project.snakemake()
    return project.path


def join(project: Path, out: Path) -> dict[str, Path]:
    """Run the join (jobs.compose_final, as the rule does) into ``out``; return where it writes."""
    outputs = {key: out / name for key, name in PUBLISHED_FILES.items()}
    jobs.compose_final(
        str(project / "build" / "composition.json"),
        str(out / "checked.json"),
        **{key: str(path) for key, path in outputs.items()},
    )
    return outputs


def flip_in_packet(path: Path, kind: str) -> None:
    """Flip one byte in the middle of the largest packet of ``kind`` ("video" or "audio") in ``path``."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        packet = max((p for p in container.demux(stream) if p.size), key=lambda p: p.size)
        position, size = packet.pos, packet.size
    data = bytearray(path.read_bytes())
    data[position + size // 2] ^= 0x5A
    path.write_bytes(bytes(data))


def after_mux(monkeypatch: pytest.MonkeyPatch, damage: Callable[[Path], None]) -> None:
    """Damage the muxed file just after ffmpeg wrote it."""
    real = compose._mux

    def mux(*args: object) -> str:
        expected = real(*args)
        damage(Path(str(args[5])))
        return expected

    monkeypatch.setattr(compose, "_mux", mux)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 7 // 10])


def refused(project: Path, out: Path, match: str) -> None:
    """The join fails naming ``match``, and writes nothing that would be published."""
    with pytest.raises(RenderError, match="failed validation") as error:
        join(project, out)
    assert match in str(error.value), str(error.value)
    assert not out.exists() or not any(out.iterdir())


def test_an_undamaged_join_passes(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(built)
    outputs = join(built, tmp_path / "out")
    manifest = json.loads(outputs["manifest"].read_text())
    assert manifest["size_bytes"] == outputs["video"].stat().st_size
    assert outputs["poster"].read_bytes()[:2] == b"\xff\xd8"  # a JPEG


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda path: flip_in_packet(path, "video"), "its video data differs from the scenes' segments"),
        (lambda path: flip_in_packet(path, "audio"), "its sound data differs"),
        (truncate, "video frames listed could be read"),
    ],
    ids=["video-bit", "audio-bit", "truncated"],
)
def test_damage_in_the_muxed_file_is_caught(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: Callable[[Path], None], problem: str
) -> None:
    monkeypatch.chdir(built)
    after_mux(monkeypatch, damage)
    refused(built, tmp_path / "out", problem)


def test_a_sound_track_damaged_after_it_was_joined_is_caught(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The muxed sound is compared with the packets the AAC join wrote, not with the file it left: a track
    # damaged on disk before ffmpeg copied it is caught too.
    monkeypatch.chdir(built)
    real = compose._mux

    def mux(*args: object) -> str:
        flip_in_packet(Path(str(args[1])), "audio")
        return real(*args)

    monkeypatch.setattr(compose, "_mux", mux)
    refused(built, tmp_path / "out", "its sound data differs")


def test_missing_frames_are_caught(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The last scene loses its last 3 frames before it is fed (so its digest agrees): the count does not.
    monkeypatch.chdir(built)
    real = compose._played_segments
    last = json.loads((built / "build" / "composition.json").read_text())["scenes"][-1]["hash"]

    def played(scene: compose.SceneMedia) -> list[bytes]:
        pieces = real(scene)
        if scene.hash != last:
            return pieces
        frames = json.loads(scene.file("clip.json").read_text())["frames"]
        return [*pieces[:-1], split_frames(pieces[-1], frames - 3)[0]]

    monkeypatch.setattr(compose, "_played_segments", played)
    refused(built, tmp_path / "out", "video frames, expected")


def test_sound_shorter_than_the_video_is_caught(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(built)
    real = aac.join

    def short(placed: list, total: int, rate: int, out: Path) -> str:
        return real(placed, total - rate // 5, rate, out)  # 0.2 s short: six frames at 30 fps

    monkeypatch.setattr(aac, "join", short)
    refused(built, tmp_path / "out", "more than one frame apart")
