"""Damaged media, made by the test from good files: a clear error naming the scene and the file, or a
correct, validated render; never a hang, never a corrupt final video.

Images, clips and sounds (as a scene's picture, its recorded narration, or the project's music) are
truncated, bit-flipped, overwritten in the middle and mislabelled, with seeded random mutations
(`fault_count` of them: a few in `make test`, many in `make soak`). Every ffmpeg run has a time limit
from its work; the tests below make real ffmpeg runs overrun a small one.
"""

from __future__ import annotations

import inspect
import os
import random
import re
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import fault_count
from helpers import make_image, make_sound, make_video

from fault.fuzz_support import check, check_error, rendered, snakemake, snakemake_error, write_project
from reelmake.clips import render_video_clip
from reelmake.ffmpeg import RenderError, feed_ffmpeg, run_ffmpeg
from reelmake.speech import write_wav

ROLES = {  # the script line that uses assets/<name>, and the words that name its place in the script
    "visual": ("## Scene\n\nWords.\n\n![](assets/{name})\n", "scene 1 'Scene'"),
    "voice_file": ("## Scene\n\nWords.\n\n<!-- voice_file: assets/{name} -->\n", "scene 1 'Scene'"),
    "music": ("---\nmusic: assets/{name}\n---\n## Scene\n\nWords.\n", "setting music"),
}


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Good media of every kind, as bytes."""
    folder = tmp_path_factory.mktemp("good")
    return {
        "png": make_image(folder / "a.png", (96, 64), (200, 40, 40)).read_bytes(),
        "jpg": make_image(folder / "a.jpg", (96, 64), (40, 200, 40)).read_bytes(),
        "mp4": make_video(folder / "a.mp4", 1.5, "96x64").read_bytes(),
        "wav": make_sound(folder / "a.wav", 1.5, lead_s=0.1).read_bytes(),
        "mp3": make_sound(folder / "a.mp3", 1.5, lead_s=0.1).read_bytes(),
        "m4a": make_sound(folder / "a.m4a", 1.5, lead_s=0.1).read_bytes(),
    }


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One random kind of damage: (what was done, the damaged bytes)."""
    kind = rng.choice(["truncate", "flip", "overwrite", "zero-tail", "splice"])
    size = len(data)
    if kind == "truncate":
        cut = rng.randrange(1, size)
        return f"truncated to {cut} of {size} bytes", data[:cut]
    damaged = bytearray(data)
    if kind == "flip":
        count = rng.choice([1, 8, 64])
        for _ in range(count):
            damaged[rng.randrange(size)] ^= 1 << rng.randrange(8)
        return f"{count} bits flipped", bytes(damaged)
    start = rng.randrange(size)
    length = rng.randrange(1, max(2, size // 4))
    if kind == "overwrite":
        damaged[start : start + length] = rng.randbytes(len(damaged[start : start + length]))
        return f"{length} random bytes at {start}", bytes(damaged)
    if kind == "zero-tail":
        return f"zeroed from {start}", bytes(damaged[:start]) + bytes(size - start)
    return f"{length} bytes cut out at {start}", bytes(damaged[:start] + damaged[start + length :])


def _outcome(tmp_path: Path, role: str, name: str, data: bytes) -> tuple[int, str]:
    template, place = ROLES[role]
    project = write_project(tmp_path, template.format(name=name))
    (project / "assets" / name).write_bytes(data)
    status, out, _ = check(project)
    if status:
        line = check_error(project)
        assert place in line and f"'assets/{name}'" in line, line
        return status, line
    assert out.rstrip().endswith("OK")
    return status, out


KINDS = [("png", "visual"), ("jpg", "visual"), ("mp4", "visual"), ("wav", "voice_file"),
         ("mp3", "voice_file"), ("m4a", "music"), ("wav", "music")]  # fmt: skip


@pytest.mark.parametrize(("ext", "role"), KINDS)
def test_random_damage_is_caught_or_harmless(
    tmp_path: Path, originals: dict[str, bytes], ext: str, role: str
) -> None:
    rng = random.Random(f"{ext}-{role}")
    for number in range(fault_count(6, 150)):
        what, data = mutate(originals[ext], rng)
        try:
            _outcome(tmp_path / f"p{number}", role, f"x.{ext}", data)
        except AssertionError as error:
            raise AssertionError(f"{ext} as {role}, {what}: {error}") from None


MISLABELLED = [
    ("png", "photo.jpg", "visual", 0),  # Pillow reads what the bytes are
    ("mp4", "photo.png", "visual", 0),  # ... and a clip is a clip whatever its name
    ("wav", "clip.png", "visual", 1),
    ("mp4", "voice.wav", "voice_file", 0),  # a clip's sound track is a recording
    ("png", "voice.wav", "voice_file", 1),
    ("text", "voice.mp3", "voice_file", 1),
    ("text", "music.mp3", "music", 1),
    ("mp3", "music.wav", "music", 0),
]


@pytest.mark.parametrize(("ext", "name", "role", "status"), MISLABELLED)
def test_mislabelled_files(
    tmp_path: Path, originals: dict[str, bytes], ext: str, name: str, role: str, status: int
) -> None:
    data = b"not media at all\n" * 20 if ext == "text" else originals[ext]
    assert _outcome(tmp_path, role, name, data)[0] == status


def _wav_with(data: bytes, chunk: bytes, offset: int, fmt: str, value: int) -> bytes:
    """``data`` with ``value`` written ``offset`` bytes into its first ``chunk`` chunk."""
    at = data.index(chunk) + offset
    damaged = bytearray(data)
    damaged[at : at + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(damaged)


@pytest.mark.parametrize(
    ("chunk", "offset", "fmt", "value", "expected"),
    [
        (b"data", 4, "<I", 0x7FFFFFFF, None),  # claims 2 GB of samples: the real ones are read
        (b"RIFF", 4, "<I", 12, None),  # the file claims to end after its header
        (b"fmt ", 12, "<I", 0, "cannot be decoded as audio"),  # sample rate 0
        (b"fmt ", 10, "<H", 0, "cannot be decoded as audio"),  # no channels
        (b"fmt ", 22, "<H", 7, None),  # 7 bits a sample: read as 8
        (b"fmt ", 12, "<I", 1, "lasts over 3600 s"),  # 1 Hz: its samples would last 20 hours
    ],
)
def test_wav_with_a_lying_header(
    tmp_path: Path, chunk: bytes, offset: int, fmt: str, value: int, expected: str | None
) -> None:
    """WAVs from reelmake's own writer (speech.write_wav), their header edited."""
    wav = tmp_path / "good.wav"
    write_wav(0.3 * np.sin(np.arange(72_000) / 10).astype(np.float32), wav)
    status, line = _outcome(
        tmp_path / "p", "voice_file", "v.wav", _wav_with(wav.read_bytes(), chunk, offset, fmt, value)
    )
    if expected is None:
        assert status == 0, line
    else:
        assert status == 1 and expected in line, line


def test_damaged_clip_renders_validated(tmp_path: Path, originals: dict[str, bytes]) -> None:
    """A fifth of a clip overwritten with noise passes the check (its first frame decodes): the render
    shows what can be decoded, and the final video is whole and valid."""
    data = bytearray(originals["mp4"])
    middle = len(data) // 2
    data[middle : middle + len(data) // 5] = random.Random(5).randbytes(len(data) // 5)
    project = write_project(tmp_path / "p", "## Clip\n\n![](assets/x.mp4)\n", captions="off")
    (project / "assets" / "x.mp4").write_bytes(bytes(data))
    manifest = rendered(project)
    assert manifest["scenes"][0]["frames"] == 45  # the clip's 1.5 s at 30 fps


@pytest.mark.parametrize(
    ("role", "ext", "expected"),
    [
        ("visual", "mp4", "decoding assets/x.mp4 for scene 'Scene' failed"),
        ("voice_file", "wav", "scene 'Scene': 'assets/x.wav' cannot be decoded as audio"),
        ("music", "m4a", "setting music: 'assets/x.m4a' cannot be decoded as audio"),
    ],
)
def test_media_damaged_after_its_check_names_scene_and_file(
    tmp_path: Path, originals: dict[str, bytes], role: str, ext: str, expected: str
) -> None:
    """A file replaced by noise of the same size and time stamp (so the inspection cache still vouches
    for it) fails when it is rendered: the error names the scene (or setting) and the file, and no
    video is made."""
    project = write_project(tmp_path / "p", ROLES[role][0].format(name=f"x.{ext}"), captions="off")
    media = project / "assets" / f"x.{ext}"
    media.write_bytes(originals[ext])
    assert snakemake(project, "--dry-run").returncode == 0  # inspected and cached
    stamp = media.stat()
    media.write_bytes(random.Random(1).randbytes(stamp.st_size))
    os.utime(media, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    output = snakemake_error(project)
    assert expected in output, output[-3000:]


# --- time limits ---------------------------------------------------------------------------------------


def _busy_encode(out: Path) -> list[str]:
    """ffmpeg arguments for minutes of real work (a long 1080p test pattern, slowest x264 preset)."""
    return ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=600",
            "-c:v", "libx264", "-preset", "placebo", "-f", "h264", str(out)]  # fmt: skip


def _children() -> set[int]:
    """Process ids of this process's children that are still running (not zombies)."""
    found = set()
    for entry in Path(f"/proc/{os.getpid()}/task").iterdir():
        children = (entry / "children").read_text().split()
        found.update(int(pid) for pid in children if _running(int(pid)))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_run_ffmpeg_stops_at_its_time_limit(tmp_path: Path) -> None:
    before = _children()
    with pytest.raises(RenderError, match=r"ffmpeg took longer than 2 s encoding a test pattern"):
        run_ffmpeg(_busy_encode(tmp_path / "out.h264"), what="encoding a test pattern", time_limit_s=2)
    assert _children() <= before  # ffmpeg was killed and reaped


def test_feed_ffmpeg_stops_at_its_time_limit(tmp_path: Path) -> None:
    """ffmpeg fed for ever (a stuck producer, or an encoder that never finishes) is stopped."""
    frame = bytes(64 * 64 * 3 // 2)
    fed = threading.Event()

    def endless() -> Iterator[bytes]:
        while True:
            fed.set()
            yield frame

    before = _children()
    args = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "64x64", "-i", "pipe:0", "-f", "h264",
            str(tmp_path / "out.h264")]  # fmt: skip
    with pytest.raises(RenderError, match=r"ffmpeg took longer than 2 s joining the scenes"):
        feed_ffmpeg(args, endless(), what="joining the scenes", time_limit_s=2)
    assert fed.is_set() and _children() <= before


def test_an_input_that_never_ends_is_stopped(tmp_path: Path) -> None:
    """A crafted input: a FIFO nobody writes to blocks ffmpeg for ever in open(). The scene's clip
    encode names the scene and the file when its limit (here made small) runs out."""
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    title = make_image(tmp_path / "title.png", (64, 64), (0, 0, 0), mode="RGBA")
    spec = {"fps": 30, "width": 64, "height": 64, "fit": "cover", "title": "Stuck",
            "asset": {"path": "assets/clip.mp4", "width": 64, "height": 64}}  # fmt: skip
    with pytest.raises(RenderError) as caught:
        render_video_clip(
            fifo, title, [], 1, spec, tmp_path / "clip.h264", tmp_path / "clip.json", time_limit_s=1
        )
    assert str(caught.value).startswith(
        "ffmpeg took longer than 1 s decoding assets/clip.mp4 for scene 'Stuck' and was stopped"
    )
    assert not (tmp_path / "clip.h264").exists()


def test_every_ffmpeg_call_has_a_time_limit() -> None:
    """run_ffmpeg and feed_ffmpeg demand one, and nothing else in reelmake starts ffmpeg."""
    for runner in (run_ffmpeg, feed_ffmpeg):
        assert inspect.signature(runner).parameters["time_limit_s"].default is inspect.Parameter.empty
    source = Path(__file__).resolve().parents[2] / "src" / "reelmake"
    starters = sorted(
        path.relative_to(source).as_posix()
        for path in source.rglob("*.py")
        if re.search(r"subprocess\.(run|Popen|call|check_)", path.read_text(encoding="utf-8"))
    )
    # ffmpeg.py runs ffmpeg; render.py runs snakemake (whose jobs call the two above); the load test
    # of `make bench` starts a `reelmake serve`; watch.py's WatchProcess starts `reelmake watch` for the bench
    # and the tests.
    assert starters == ["ffmpeg.py", "render.py", "service/loadtest.py", "watch.py"], starters


# --- media limits, each at and just over ----------------------------------------------------------------


def test_asset_size_limit(tmp_path: Path, originals: dict[str, bytes]) -> None:
    """max_asset_mb: a file of exactly the limit is read, one byte more is refused unread."""
    limit = 4000
    png = originals["png"]
    for size, expected in ((limit, 0), (limit + 1, 1)):
        project = write_project(
            tmp_path / f"p{size}", "## A\n\nB.\n\n![](assets/x.png)\n", max_asset_mb=limit / 1e6
        )
        (project / "assets" / "x.png").write_bytes(png + bytes(size - len(png)))  # Pillow stops at IEND
        assert check(project)[0] == expected
    assert "the limit is 0 MB (setting max_asset_mb)" in check_error(project)


@pytest.mark.parametrize(("size", "seconds", "expected"), [
    ("4096x16", 0.2, None), ("4098x16", 0.2, "is 4098x16; videos up to 4096 px a side are accepted"),
    ("16x16", 3600, None), ("16x16", 3601, "lasts 3601 s; clips up to 3600 s are accepted"),
])  # fmt: skip
def test_video_size_and_length_limits(
    tmp_path: Path, size: str, seconds: float, expected: str | None
) -> None:
    project = write_project(tmp_path / "p", "## A\n\nB.\n\n![](assets/x.mp4)\n")
    clip = project / "assets" / "x.mp4"
    if seconds > 60:  # an hour of one still frame a second costs a moment to encode
        _still_video(clip, size, seconds)
    else:
        make_video(clip, seconds, size)
    if expected is None:
        assert check(project)[0] == 0
    else:
        assert expected in check_error(project)


def _still_video(path: Path, size: str, seconds: float) -> None:
    from reelmake.ffmpeg import ffmpeg_exe

    run = [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", f"color=c=gray:s={size}:r=1:d={seconds}",
           "-c:v", "libx264", "-preset", "ultrafast", "-g", "600", str(path)]  # fmt: skip
    assert subprocess.run(run, check=False).returncode == 0
