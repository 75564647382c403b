"""Ways to make Ken Burns frames, compared: CPU milliseconds per frame, making and encoding.

Run: `python benchmarks/motion_methods.py [--size 1920x1080] [--frames 60]`. Each method makes the same
eased zoom (1.12) over a generated bench photo and encodes it with reelmake's shared x264 settings. CPU
time (this process plus ffmpeg's) is reported rather than wall time, so that other load on the machine
disturbs the comparison less. This is how reelmake's method (Pillow scaling YUV 4:2:0 planes at
fractional boxes, streamed raw into ffmpeg) was chosen; see clips.moving_pictures.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import bench_project
from PIL import Image

from reelmake.clips import TAG_BT709, TO_YUV, encoder_args, moving_pictures
from reelmake.ffmpeg import ffmpeg_command
from reelmake.motion import Motion, canvas_size, windows

ZOOM = 1.12


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(make: Callable[[], None]) -> float:
    """CPU seconds of ``make``, this process and the ffmpeg it runs together."""
    started, children = time.process_time(), children_cpu()
    make()
    return time.process_time() - started + children_cpu() - children


def encode_raw(frames: Iterator[bytes], pix_fmt: str, size: tuple[int, int], vf: str, out: Path) -> None:
    width, height = size
    args = ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{width}x{height}", "-framerate", "30",
            "-i", "pipe:0", "-vf", vf, *encoder_args(30), str(out)]  # fmt: skip
    process = subprocess.Popen(ffmpeg_command(args), stdin=subprocess.PIPE)
    assert process.stdin is not None
    for frame in frames:
        process.stdin.write(frame)
    process.stdin.close()
    process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    width, height = size[0], size[1]
    count = args.frames
    work = Path(tempfile.mkdtemp(prefix="motion-methods-"))
    photo = bench_project.make_photo(work / "photo.jpg", bench_project.PHOTOS[0], seed=3)
    canvas = canvas_size(width, height, ZOOM)
    with Image.open(photo) as opened:
        source = opened.convert("RGB").resize(canvas, Image.Resampling.LANCZOS)
    source.save(work / "canvas.png")
    boxes = windows(Motion("zoom-in", ZOOM), count, canvas, (width, height))
    out = work / "out.h264"

    def rgb_frames(scale: Callable[[tuple[float, float, float, float]], Image.Image]) -> Iterator[bytes]:
        return (scale(box).tobytes() for box in boxes)

    def resize_rgb(box: tuple[float, float, float, float]) -> Image.Image:
        return source.resize((width, height), Image.Resampling.BILINEAR, box=box)

    def affine_rgb(box: tuple[float, float, float, float]) -> Image.Image:
        sx, sy = (box[2] - box[0]) / width, (box[3] - box[1]) / height
        data = (sx, 0, box[0], 0, sy, box[1])
        return source.transform((width, height), Image.Transform.AFFINE, data, Image.Resampling.BILINEAR)

    def ffmpeg_only(vf: str, looped: bool) -> Callable[[], None]:
        loop = ["-loop", "1"] if looped else []
        args = [*loop, "-framerate", "30", "-i", str(work / "canvas.png"), "-vf", vf,
                "-frames:v", str(count), *encoder_args(30), str(out)]  # fmt: skip
        return lambda: subprocess.run(ffmpeg_command(args), check=True)

    def yuv_planes() -> None:
        pictures = moving_pictures(work / "canvas.png", Motion("zoom-in", ZOOM), count, (width, height))
        raw = (p.y.tobytes() + p.u.tobytes() + p.v.tobytes() for p in pictures)
        encode_raw(raw, "yuv420p", (width, height), TAG_BT709, out)

    zoom = f"pow({ZOOM},on/{count - 1})"
    methods: dict[str, Callable[[], None]] = {
        "reelmake: Pillow, YUV 4:2:0 planes, fractional box (smooth)": yuv_planes,
        "Pillow resize RGB, fractional box (smooth)": lambda: encode_raw(
            rgb_frames(resize_rgb), "rgb24", (width, height), TO_YUV, out
        ),
        "Pillow transform AFFINE RGB, bilinear (smooth)": lambda: encode_raw(
            rgb_frames(affine_rgb), "rgb24", (width, height), TO_YUV, out
        ),
        "ffmpeg zoompan (whole-pixel windows: jitters)": ffmpeg_only(
            f"zoompan=z='{zoom}':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d={count}:s={width}x{height},{TO_YUV}",
            looped=False,
        ),
        "ffmpeg scale eval=frame + crop (whole-pixel crop: jitters)": ffmpeg_only(
            f"scale=w='{width}*pow({ZOOM},n/{count - 1})':h=-2:eval=frame,crop={width}:{height},{TO_YUV}",
            looped=True,
        ),
        "still scene today: one GOP of the same length (for scale)": ffmpeg_only(
            f"scale={width}:{height},{TO_YUV},loop=loop={count - 1}:size=1:start=0", looped=False
        ),
    }
    print(f"{count} frames at {width}x{height}, zoom {ZOOM}; CPU ms per frame (making + encoding)")
    for name, make in methods.items():
        print(f"{measure(make) / count * 1000:8.1f}  {name}")


if __name__ == "__main__":
    main()
