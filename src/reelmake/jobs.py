"""What each Snakemake rule does, as plain functions of paths; ``run_job`` adds logging and clean errors.

Rules call these from ``run:`` blocks, which the project profile runs in threads of the Snakemake process
(``force-use-threads``): no interpreter start-up per job, and the TTS model is loaded once per build.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from reelmake.diskspace import DiskFull, full_disk_error, is_disk_full, join_bytes, scene_bytes, scene_seconds
from reelmake.errors import UserError
from reelmake.ffmpeg import RenderError
from reelmake.fsutil import atomic_output, link_all, scratch_path
from reelmake.plan import (
    BUILD,
    NARRATION_CACHE,
    Plan,
    burns_captions,
    narration_key,
    scene_folder,
    scene_named,
    spec_path,
)

if TYPE_CHECKING:  # jobs import their modules when they run: the workflow loads this file quickly
    from reelmake.aac import Window
    from reelmake.captions import SceneCaption
    from reelmake.clips import Overlay

log = logging.getLogger("reelmake")


class JobFailed(Exception):
    """A job failed for a known reason; the message says what happened and where."""


def run_job(log_file: str, job: Callable[..., Any], **paths: Any) -> None:
    """Run one rule's job, logging to its own file; a known failure becomes JobFailed with one clear line."""
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    thread = threading.get_ident()
    handler.addFilter(lambda record: record.thread == thread)  # jobs share the process, not their logs
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("%s(%s)", job.__name__, paths)
        if "SLURM_JOB_ID" in os.environ:  # on a cluster: which SLURM job did this, and where
            log.info("SLURM job %s on %s", os.environ["SLURM_JOB_ID"], socket.gethostname())
        job(**paths)
        log.info("done")
    except Exception as error:
        # A full disk, however the writer reported it, becomes one message (see reelmake.diskspace).
        known = _full_disk(job, paths) if is_disk_full(error) else error
        if not isinstance(known, (UserError, RenderError)):
            raise
        if known is not error:
            log.error("%s", error)  # what the writer said, for the log
        log.error("%s", known)
        raise JobFailed(str(known)) from None
    finally:
        log.removeHandler(handler)
        handler.close()


def _full_disk(job: Callable[..., Any], paths: dict[str, Any]) -> DiskFull:
    """The disk filled while ``job`` wrote: what it was making, and about how much that needs."""
    build = Path.cwd() / BUILD  # jobs run in the project folder
    if "spec" in paths:  # a scene's step, or a fade's
        spec = _spec(paths["spec"])
        if "after" in spec:  # a fade: as big as as many frames of the scene it leads into
            scene = _spec(spec_path(spec["after"]))
            needed = scene_bytes(scene, spec["frames"] / spec["fps"])
            return full_disk_error(build, needed, f"the fade into {scene_named(Path(), spec['after'])}")
        scene_hash = Path(paths["spec"]).stem
        seconds = scene_seconds(spec, scene_folder(scene_hash) / "timing.json")
        return full_disk_error(build, scene_bytes(spec, seconds), scene_named(Path(), scene_hash))
    if job is compose_final:
        composition = json.loads(Path(paths["composition"]).read_text(encoding="utf-8"))
        folders = [scene_folder(s["hash"]) for s in composition["scenes"]]
        needed = join_bytes(
            [f / "clip.h264" for f in folders],
            [f / "narration.m4a" for f in folders],
            composition["width"],
            composition["height"],
        )
        return full_disk_error(build, needed, "the final join")
    if job is publish:  # hard links need no room for data, only file entries (a copy needs the bytes)
        needed = sum(Path(p).stat().st_size for p in paths["staged"])
        return full_disk_error(build, needed, "publishing the video")
    steps = {
        write_canonical_script: "the canonical script (build/script.yaml)",
        mix_soundtrack: "the soundtrack",
    }
    return full_disk_error(build, 1_000_000, steps.get(job, f"the step {job.__name__}"))


def voices_due(plan: Plan, *, due_only: bool = True) -> set[tuple[str, float]]:
    """The (voice, speed) of every narration due: neither made for its scene nor in the narration cache
    (a preview after a full render speaks nothing). Not ``due_only``: of every scene that speaks."""

    def made(spec: dict[str, Any], folder: Path) -> bool:
        cached = plan.project / NARRATION_CACHE / narration_key(spec) / "timing.json"
        return (plan.project / folder / "timing.json").exists() or cached.exists()

    return {
        (s.spec["speech"]["voice"], s.spec["speech"]["speed"])
        for s in plan.scenes
        if "speech" in s.spec and not (due_only and made(s.spec, s.folder))
    }


def preload_voices(plan: Plan, *, due_only: bool = True) -> None:
    """Start loading the voices due (about a second each) while Snakemake builds its DAG (see voices_due;
    `reelmake watch` loads every voice of the script, for the next edit)."""
    from reelmake.speech import engine_for

    for voice, speed in voices_due(plan, due_only=due_only):
        threading.Thread(target=engine_for, args=(voice, speed), name=f"preload-{voice}").start()


def _spec(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_canonical_script(source: str, out: str) -> None:
    """script.md (or script.yaml) → build/script.yaml, the canonical, schema-valid form."""
    from reelmake.script import load_script

    script = load_script(Path(source))
    text = yaml.safe_dump(script.to_canonical(), sort_keys=False, allow_unicode=True, width=100)
    with atomic_output(out) as tmp:
        tmp.write_text(text, encoding="utf-8")


def render_scene_image(spec: str, out: str) -> None:
    """The scene's picture: a typeset slide, a fitted photo with its title, or a title overlay for a clip."""
    from reelmake import visuals
    from reelmake.motion import Motion, always_shown, canvas_size

    data = _spec(spec)
    width, height = data["width"], data["height"]
    # Burned-in captions take the bottom of the frame: the title band moves to the top.
    band_at_top = "captions" in data
    if data["kind"] == "video":
        visuals.render_title_overlay(data["title"], width, height, Path(out), band_at_top)
    elif "motion" in data:
        # A moving scene's canvas, which its frames are cut from; a photo's title is a still overlay.
        motion = Motion(**data["motion"])
        canvas = canvas_size(width, height, motion.zoom)
        if data["kind"] == "slide":
            text_box = always_shown(motion, canvas, (width, height))
            visuals.render_slide(
                data["title"], data["narration"], *canvas, data["theme"], Path(out), text_box
            )
        else:
            visuals.fit_image(Path(data["asset"]["path"]), *canvas, data["fit"], Path(out), None)
    elif data["kind"] == "slide":
        visuals.render_slide(data["title"], data["narration"], width, height, data["theme"], Path(out))
    else:
        path = Path(data["asset"]["path"])
        visuals.fit_image(path, width, height, data["fit"], Path(out), data["title"], band_at_top)


def render_narration(spec: str, wav: str, aac: str, timing: str) -> None:
    """Speak the scene's narration sentence by sentence; write the WAV, its AAC window and the timings.

    The same narration made before (for a preview, or before the scene's picture changed) is copied
    from the narration cache instead.
    """
    data = _spec(spec)
    outputs = {"narration.wav": Path(wav), "narration.m4a": Path(aac), "timing.json": Path(timing)}
    cached = NARRATION_CACHE / narration_key(data)
    if all((cached / name).is_file() for name in outputs):
        for name, out in outputs.items():
            with atomic_output(out) as tmp:  # a copy: a fresh mtime, newer than the spec it is made for
                shutil.copyfile(cached / name, tmp)
        log.info("reused the narration made before (%s)", cached)
        return
    _speak(data, wav, aac, timing)
    for name, out in outputs.items():  # timing.json last: a complete entry has all three
        with atomic_output(cached / name) as tmp:
            os.link(out, tmp)


def _speak(data: dict[str, Any], wav: str, aac: str, timing: str) -> None:
    """The narration of a scene's spec, spoken (or taken from its recording) and measured."""
    from reelmake.audiofile import load_sound
    from reelmake.captions import time_captions
    from reelmake.loudness import block_powers, normalize
    from reelmake.speech import SAMPLE_RATE, cues_to_json, engine_for, from_recording, narrate, write_wav

    if "voice_file" in data:
        recording = data["voice_file"]["path"]
        try:
            sound = load_sound(Path(recording), 1, shown_as=recording)[0]
        except UserError as error:  # damaged since it was checked: say whose recording it is
            raise UserError(error.detail, scene=f"'{data['title']}'") from None
        narration = from_recording(
            sound, data["narration"], fps=data["fps"], min_duration_s=data["min_duration_s"]
        )
    else:
        speech = data.get("speech")
        engine = engine_for(speech["voice"], speech["speed"]) if speech else None
        narration = narrate(
            data["narration"], fps=data["fps"], min_duration_s=data["min_duration_s"], engine=engine
        )
    # Every scene is brought to the target loudness on its own, so the join needs no pass over the track.
    samples, window, peak = _encode_within_peak(normalize(narration.samples, SAMPLE_RATE), Path(aac))
    write_wav(samples, Path(wav))
    record = {
        **cues_to_json(narration),
        "aac_window": {"start": window.start, "length": window.length},
        "loudness_blocks": [float(f"{p:.6g}") for p in block_powers(samples, SAMPLE_RATE)],
        # The cues on frames: the sidecar files and the burned-in captions are both made from these.
        "captions": [c.to_json() for c in time_captions(narration.cues, data["fps"], narration.frames)],
        "true_peak_dbtp": round(peak, 3) if np.isfinite(peak) else None,
    }
    with atomic_output(timing) as tmp:
        tmp.write_text(json.dumps(record, ensure_ascii=False))
    log.info("%d frames, %d sentences", narration.frames, len(narration.cues))


PEAK_TRIES = 3  # encodes of a scene's window at most, each lower by the last one's overshoot


def _encode_within_peak(samples: np.ndarray, out: Path) -> tuple[np.ndarray, Window, float]:
    """Encode the scene's AAC window so that its true peak, decoded from the file, is within the limit.

    Measured on the encoded window (AAC adds overshoot), so the joined track's true peak is the largest
    of its scenes'. Where the encoder overshot the limiter's margin, the scene is lowered by as much and
    encoded again. Returns the samples as encoded (the WAV must match), the window and its true peak.
    """
    from reelmake.aac import encode_window
    from reelmake.audiofile import decode_audio
    from reelmake.loudness import TRUE_PEAK_MAX_DB, true_peak_db
    from reelmake.speech import SAMPLE_RATE

    for _ in range(PEAK_TRIES):
        window = encode_window(samples, SAMPLE_RATE, out)
        peak = true_peak_db(decode_audio(out, channels=2))
        if peak <= TRUE_PEAK_MAX_DB:
            return samples, window, peak
        samples = samples * np.float32(10 ** ((TRUE_PEAK_MAX_DB - 0.2 - peak) / 20))
    out.unlink()
    raise RenderError(
        f"{out}: the encoded narration's true peak stays at {peak:.2f} dBTP, over {TRUE_PEAK_MAX_DB} dBTP, "
        f"after {PEAK_TRIES} encodes each lower by the overshoot; report this as a bug"
    )


def render_scene_clip(
    spec: str, timing: str, out: str, record: str, image: str, asset: str | None = None
) -> None:  # fmt: skip
    """The scene's video segment (raw H.264), exactly as many frames as its narration lasts.

    A still scene encodes its picture (image.png), and with burned captions one picture per cue, once
    each; a video scene (its asset under its title overlay, image.png) and a moving scene (its canvas,
    image.png) have every frame made and encoded, under a picture per burned cue and, for a moving photo,
    its title band, drawn here.
    """
    from PIL import Image

    from reelmake.captions import SceneCaption
    from reelmake.clips import caption_runs, render_moving_clip, render_still_clip, render_video_clip
    from reelmake.motion import Motion
    from reelmake.visuals import burn_caption

    data = _spec(spec)
    record_of_timing = json.loads(Path(timing).read_text())
    frames = record_of_timing["frames"]
    cues = [SceneCaption.from_json(c) for c in record_of_timing["captions"]] if burns_captions(data) else []
    if asset is not None or "motion" in data:
        with _overlay_files(data, cues, frames, Path(out)) as overlays:
            if asset is not None:
                render_video_clip(Path(asset), Path(image), overlays, frames, data, Path(out), Path(record))
            else:
                motion = Motion(**data["motion"])
                render_moving_clip(Path(image), overlays, motion, frames, data, Path(out), Path(record))
        return
    with Image.open(image) as opened:
        picture = opened.convert("RGB")
    pictures = [picture, *(burn_caption(picture, cue.lines) for cue in cues)]
    runs = caption_runs([(cue.start, cue.end) for cue in cues], frames)
    render_still_clip(pictures, runs, data["fps"], Path(out), Path(record))


@contextlib.contextmanager
def _overlay_files(
    data: dict[str, Any], cues: list[SceneCaption], frames: int, out: Path
) -> Iterator[list[Overlay]]:
    """What is laid over a video or moving scene's frames: a moving photo's title band, then each burned
    cue over its frames. Drawn in the clip's job (a job of their own cost Snakemake more than the drawing)
    as scratch files beside the segment, which ffmpeg reads; removed after."""
    from reelmake import visuals
    from reelmake.clips import Overlay

    width, height = data["width"], data["height"]
    drawn: list[Overlay] = []
    try:
        if "motion" in data and data["kind"] == "image":
            path = scratch_path(out.with_name("title.png"))
            # Burned captions take the bottom, as on a still photo.
            visuals.render_title_overlay(data["title"], width, height, path, "captions" in data)
            drawn.append(Overlay(path, 0, frames))
        for number, cue in enumerate(cues):
            path = scratch_path(out.with_name(f"caption{number}.png"))
            visuals.render_caption(cue.lines, width, height, path)
            drawn.append(Overlay(path, cue.start, cue.end))
        yield drawn
    finally:
        for overlay in drawn:
            overlay.image.unlink(missing_ok=True)


def render_transition(spec: str, before: str, after: str, after_record: str, out: str, record: str) -> None:
    """The segment that fades into a scene from the last picture of the scene before it."""
    from reelmake.transitions import render_fade

    data = _spec(spec)
    render_fade(
        Path(before), Path(after), Path(after_record), data["frames"], data["fps"], Path(out), Path(record)
    )


def mix_soundtrack(composition: str, out: str, report: str) -> None:
    """Narration and background music, mixed, ducked and mastered into one AAC track for the whole video."""
    from reelmake.soundtrack import render

    measured = render(json.loads(Path(composition).read_text(encoding="utf-8")), Path(out), Path(report))
    log.info("%.2f LUFS, true peak %.2f dBTP", measured["loudness_lufs"], measured["true_peak_dbtp"])


def publish(checked: str, staged: list[str], published: list[str]) -> None:
    """Replace the published video and its companions with the join's checked, staged ones."""
    sizes = json.loads(Path(checked).read_text(encoding="utf-8"))
    for path in staged:
        if not Path(path).is_file() or Path(path).stat().st_size != sizes.get(Path(path).name):
            raise RenderError(f"{path} is not the file the join checked; run again to join the video again")
    link_all(list(zip(staged, published, strict=True)))  # all or none: a full disk changes nothing
    # A hard link shares its file's mtime, which is older than checked.json (written after the staged
    # files), and Snakemake fails a job whose output is older than an input: the links get the time now.
    now = time.time_ns()
    for target in published:
        os.utime(target, ns=(now, now))
    log.info("published %s", ", ".join(published))


def compose_final(
    composition: str, checked: str, soundtrack: list[str] | None = None, **outputs: str
) -> None:
    """Join every scene (its files under build/scenes/<hash>/) into the final video and what goes with it.

    ``soundtrack`` is a video with music's mixed track and its measurements; without music the scenes'
    own AAC windows are joined.
    """
    from reelmake.compose import Outputs, SceneMedia, compose

    plan = json.loads(Path(composition).read_text(encoding="utf-8"))
    scenes = [SceneMedia(s["index"], s["id"], s["title"], s["hash"], s["transition"]) for s in plan["scenes"]]
    result = compose(
        plan,
        scenes,
        outputs=Outputs(**{k: Path(v) for k, v in outputs.items()}),
        work=Path(composition).parent / "compose",
        soundtrack=(Path(soundtrack[0]), Path(soundtrack[1])) if soundtrack else None,
    )
    # Last: what publish may link into place (each file's size, as the join wrote and checked it).
    with atomic_output(checked) as tmp:
        tmp.write_text(json.dumps({Path(p).name: Path(p).stat().st_size for p in outputs.values()}))
    log.info(
        "%.2f s, %d bytes, composed in %.2f s",
        result["duration_s"],
        result["size_bytes"],
        result["composition_s"],
    )
