"""The join's cheap check: the picture digest of an MP4 equals its segments', and damage changes it."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from reelmake import aac
from reelmake.bitstream import (
    PictureDigest,
    annexb_units,
    first_frames,
    length_prefixed_units,
    mp4_digests,
)
from reelmake.chapters import Chapter, ffmetadata
from reelmake.clips import GOP_SECONDS, caption_runs, render_still_clip
from reelmake.compose import SceneMedia, _mux
from reelmake.ffmpeg import RenderError
from reelmake.plan import scene_folder
from reelmake.probe import probe
from reelmake.speech import SAMPLE_RATE

FPS = 30


@pytest.fixture
def joined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, list[SceneMedia]]:
    """Two real still segments (one longer than a GOP) muxed by the real join."""
    monkeypatch.chdir(tmp_path)
    scenes = []
    for index, (colour, frames) in enumerate([((200, 30, 30), 75), ((30, 30, 200), 40)], start=1):
        scene = SceneMedia(index, f"s{index}", f"S{index}", f"{index:016x}")
        folder = scene_folder(scene.hash)
        folder.mkdir(parents=True)
        picture = Image.new("RGB", (320, 180), colour)
        render_still_clip([picture], [(0, frames)], FPS, folder / "clip.h264", folder / "clip.json")
        scenes.append(scene)
    track = tmp_path / "narration.m4a"
    aac.encode(np.zeros(115 * SAMPLE_RATE // FPS, np.float32), SAMPLE_RATE, track)
    metadata = tmp_path / "chapters.ffmeta"
    metadata.write_text(ffmetadata([Chapter(0, 2.5, "S1"), Chapter(2.5, 115 / FPS, "S2")]))
    out = tmp_path / "joined.mp4"
    expected = _mux(scenes, track, metadata, FPS, "t", out, 60.0)
    return out, expected, scenes


def test_segments_are_whole_gops_then_the_rest(joined: tuple[Path, str, list[SceneMedia]]) -> None:
    _, _, scenes = joined
    record = json.loads(scenes[0].file("clip.json").read_text())
    assert record["frames"] == 75
    units = list(annexb_units(scenes[0].file("clip.h264").read_bytes()))
    idr = sum(1 for u in units if u[0] & 0x1F == 5)
    assert idr == 2  # one GOP of GOP_SECONDS * FPS frames and the 15-frame remainder
    assert 75 // (GOP_SECONDS * FPS) == 1


def test_digest_survives_the_mux(joined: tuple[Path, str, list[SceneMedia]]) -> None:
    out, expected, _ = joined
    digests = mp4_digests(out)
    assert digests.pictures.hexdigest() == expected and digests.pictures.slices == 115
    assert digests.audio == mp4_digests(out.parent / "narration.m4a").audio  # copied packet for packet
    report = probe(out, decode="edges")
    assert report.frame_count == 115 and report.decode_errors == [] and report.fps == "30/1"


def test_damage_in_the_middle_changes_the_digest(joined: tuple[Path, str, list[SceneMedia]]) -> None:
    out, expected, _ = joined
    data = bytearray(out.read_bytes())
    middle = len(data) * 2 // 3
    data[middle : middle + 64] = bytes(range(64))
    out.write_bytes(bytes(data))
    assert mp4_digests(out).pictures.hexdigest() != expected


def test_damaged_sound_changes_the_audio_digest(joined: tuple[Path, str, list[SceneMedia]]) -> None:
    out, _, _ = joined
    before = mp4_digests(out)
    with av.open(str(out)) as container:  # where the first audio packet's bytes are
        packet = next(p for p in container.demux(container.streams.audio[0]) if p.size)
        position, size = packet.pos, packet.size
    data = bytearray(out.read_bytes())
    data[position + size // 2] ^= 0xFF
    out.write_bytes(bytes(data))
    after = mp4_digests(out)
    assert after.audio != before.audio and after.pictures.hexdigest() == before.pictures.hexdigest()


def test_a_damaged_segment_is_refused(joined: tuple[Path, str, list[SceneMedia]], tmp_path: Path) -> None:
    _, _, scenes = joined
    clip = scenes[1].file("clip.h264")
    data = bytearray(clip.read_bytes())
    data[len(data) // 2] ^= 0xFF
    clip.write_bytes(bytes(data))
    with pytest.raises(RenderError, match="is damaged"):
        _mux(
            scenes, tmp_path / "narration.m4a", tmp_path / "chapters.ffmeta", FPS, "t",
            tmp_path / "again.mp4", 60.0,
        )  # fmt: skip


def test_length_prefixed_and_annexb_framings_agree() -> None:
    units = [b"\x65\x88\x84\x00\x03", b"\x41\x9a\x00\x00\x03\x01"]
    annexb = b"".join(b"\x00\x00\x00\x01" + u for u in units)
    avcc = b"".join(len(u).to_bytes(4, "big") + u for u in units)
    one, two = PictureDigest(), PictureDigest()
    one.update(annexb_units(annexb))
    two.update(length_prefixed_units(avcc))
    assert one.hexdigest() == two.hexdigest() and one.slices == 2


def test_first_frames_is_a_decodable_prefix(joined: tuple[Path, str, list[SceneMedia]]) -> None:
    _, _, scenes = joined
    stream = scenes[0].file("clip.h264").read_bytes()
    for count in (0, 1, 7, 60, 75):
        prefix = first_frames(stream, count)
        units = list(annexb_units(prefix))
        assert sum(1 for u in units if u[0] & 0x1F in (1, 5)) == count
    with pytest.raises(ValueError, match="fewer than 76"):
        first_frames(stream, 76)


def test_caption_runs_cover_the_scene_in_order() -> None:
    # Picture 0 has no cue; picture i + 1 shows cue i.
    assert caption_runs([(50, 130), (8, 50)], 145) == [(0, 8), (2, 42), (1, 80), (0, 15)]
    assert caption_runs([(0, 10)], 10) == [(1, 10)]
    assert caption_runs([], 10) == [(0, 10)]
    with pytest.raises(ValueError, match="do not fit"):
        caption_runs([(5, 12)], 10)


def test_a_still_with_caption_states_shows_each_state_on_its_frames(tmp_path: Path) -> None:
    """Runs of different pictures decode to their own pictures on exactly their frames, each from an IDR."""
    import av

    pictures = [Image.new("RGB", (64, 48), colour) for colour in ((200, 30, 30), (30, 200, 30))]
    runs = caption_runs([(7, 7 + 70)], 90)
    render_still_clip(pictures, runs, FPS, tmp_path / "clip.h264", tmp_path / "clip.json")
    stream = (tmp_path / "clip.h264").read_bytes()
    kinds = [u[0] & 0x1F for u in annexb_units(stream) if u[0] & 0x1F in (1, 5)]
    # IDRs: the first run, the cue's run and its repeat after 2 s (70 frames > 60), the last run.
    assert [i for i, kind in enumerate(kinds) if kind == 5] == [0, 7, 67, 77]
    with av.open(str(tmp_path / "clip.h264"), format="h264") as container:
        greens = [f.to_ndarray(format="rgb24")[24, 32, 1] > 128 for f in container.decode(video=0)]
    assert greens == [False] * 7 + [True] * 70 + [False] * 13
    assert json.loads((tmp_path / "clip.json").read_text())["frames"] == 90
