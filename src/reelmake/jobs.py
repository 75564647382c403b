"""What each Snakemake rule does, as plain functions of paths; ``run_job`` adds logging and clean errors.

Rules call these from ``run:`` blocks, which the project profile runs in threads of the Snakemake process
(``force-use-threads``): no interpreter start-up per job, and the TTS model is loaded once per build.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from reelmake.errors import UserError
from reelmake.ffmpeg import RenderError
from reelmake.fsutil import atomic_output
from reelmake.plan import Plan

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
    except (UserError, RenderError) as error:
        log.error("%s", error)
        raise JobFailed(str(error)) from None
    finally:
        log.removeHandler(handler)
        handler.close()


def preload_voices(plan: Plan) -> None:
    """Start loading the voice (about a second) while Snakemake builds its DAG, if a narration is due."""
    from reelmake.speech import engine_for

    due = {
        (s.spec["speech"]["voice"], s.spec["speech"]["speed"])
        for s in plan.scenes
        if "speech" in s.spec and not (plan.project / s.folder / "timing.json").exists()
    }
    for voice, speed in due:
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

    data = _spec(spec)
    width, height = data["width"], data["height"]
    if data["kind"] == "slide":
        visuals.render_slide(data["title"], data["narration"], width, height, data["theme"], Path(out))
    elif data["kind"] == "image":
        visuals.fit_image(Path(data["asset"]["path"]), width, height, data["fit"], Path(out), data["title"])
    else:
        visuals.render_title_overlay(data["title"], width, height, Path(out))


def render_narration(spec: str, wav: str, aac: str, timing: str) -> None:
    """Speak the scene's narration sentence by sentence; write the WAV, its AAC window and the timings."""
    from reelmake import aac as aac_codec
    from reelmake.loudness import block_powers, normalize
    from reelmake.speech import SAMPLE_RATE, cues_to_json, engine_for, narrate, write_wav

    data = _spec(spec)
    speech = data.get("speech")
    engine = engine_for(speech["voice"], speech["speed"]) if speech else None
    narration = narrate(
        data["narration"], fps=data["fps"], min_duration_s=data["min_duration_s"], engine=engine
    )
    # Every scene is brought to the target loudness on its own, so the join needs no pass over the track.
    samples = normalize(narration.samples, SAMPLE_RATE)
    write_wav(samples, Path(wav))
    window = aac_codec.encode_window(samples, SAMPLE_RATE, Path(aac))
    record = {
        **cues_to_json(narration),
        "aac_window": {"start": window.start, "length": window.length},
        "loudness_blocks": [float(f"{p:.6g}") for p in block_powers(samples, SAMPLE_RATE)],
    }
    with atomic_output(timing) as tmp:
        tmp.write_text(json.dumps(record, ensure_ascii=False))
    log.info("%d frames, %d sentences", narration.frames, len(narration.cues))


def encode_scene_gop(spec: str, image: str, out: str) -> None:
    """A still scene's one GOP, from its picture."""
    from reelmake.clips import encode_gop

    encode_gop(Path(image), _spec(spec)["fps"], Path(out))


def render_scene_clip(
    spec: str, timing: str, out: str, record: str, gop: str | None = None, image: str | None = None,
    asset: str | None = None,
) -> None:  # fmt: skip
    """The scene's video segment (raw H.264), exactly as many frames as its narration lasts.

    A still scene is assembled from its GOP; a video scene (asset and title overlay image) is encoded.
    """
    from reelmake.clips import assemble_still_clip, render_video_clip

    data = _spec(spec)
    frames = json.loads(Path(timing).read_text())["frames"]
    if gop is not None:
        assemble_still_clip(Path(gop), frames, data["fps"], Path(out), Path(record))
    elif asset is not None and image is not None:
        render_video_clip(Path(asset), Path(image), frames, data, Path(out), Path(record))
    else:
        raise ValueError("a scene clip needs either a GOP or an asset and its overlay")


def compose_final(composition: str, **outputs: str) -> None:
    """Join every scene (its files under build/scenes/<hash>/) into the final video and what goes with it."""
    from reelmake.compose import Outputs, SceneMedia, compose

    plan = json.loads(Path(composition).read_text(encoding="utf-8"))
    scenes = [SceneMedia(s["index"], s["id"], s["title"], s["hash"]) for s in plan["scenes"]]
    result = compose(
        plan,
        scenes,
        outputs=Outputs(**{k: Path(v) for k, v in outputs.items()}),
        work=Path(composition).parent / "compose",
    )
    log.info(
        "%.2f s, %d bytes, composed in %.2f s",
        result["duration_s"],
        result["size_bytes"],
        result["composition_s"],
    )
