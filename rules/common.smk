# The plan is made when the workflow is parsed: each scene's content hash names its outputs, and spec
# files are rewritten only when they change, so an edit reaches exactly the scenes it touches.
import sys
import threading
from pathlib import Path

from reelmake import jobs
from reelmake.errors import UserError
from reelmake.plan import (
    COMPOSITION,
    SOUNDTRACK,
    SOUNDTRACK_REPORT,
    plan_project,
    spec_path,
)

try:
    PLAN = plan_project(Path.cwd(), config, write=workflow.is_main_process)
except UserError as error:
    sys.exit(f"reelmake: {error}")
if workflow.is_main_process:
    jobs.preload_voices(PLAN)


wildcard_constraints:
    hash="[0-9a-f]{16}",


def scene_spec(wildcards):
    return str(spec_path(wildcards.hash))


def narration_inputs(wildcards):
    """The spec, and the recording of a scene narrated from a sound file."""
    scene = PLAN.scene(wildcards.hash)
    inputs = {"spec": str(spec_path(scene.hash))}
    if "voice_file" in scene.spec:
        inputs["recording"] = scene.spec["voice_file"]["path"]
    return inputs


def scene_clip_inputs(wildcards):
    """A still scene's clip is its GOP repeated; a video scene encodes its asset under its title overlay."""
    scene = PLAN.scene(wildcards.hash)
    inputs = {
        "spec": str(spec_path(scene.hash)),
        "timing": str(scene.folder / "timing.json"),
    }
    if scene.kind == "video":
        inputs["asset"] = scene.spec["asset"]["path"]
        inputs["image"] = str(scene.folder / "image.png")
    else:
        inputs["gop"] = str(scene.folder / "gop.h264")
    return inputs


def scene_files(name):
    """The given per-scene file of every scene, in play order."""
    return [str(scene.folder / name) for scene in PLAN.scenes]


def soundtrack_inputs(wildcards):
    """Every scene's narration and timing, and the music (its settings are in the composition file)."""
    return {
        "composition": str(COMPOSITION),
        "narrations": scene_files("narration.wav"),
        "timings": scene_files("timing.json"),
        "music": PLAN.music["path"],
    }


def compose_inputs(wildcards):
    """The segments, and either the scenes' AAC windows (joined at packet level) or the mixed soundtrack.

    Without music the join copies each scene's own AAC: an edit re-encodes no audio but its scene's.
    """
    inputs = {
        "composition": str(COMPOSITION),
        "clips": scene_files("clip.h264"),
        "records": scene_files("clip.json"),
        "timings": scene_files("timing.json"),
    }
    if PLAN.music:
        inputs["soundtrack"] = [str(SOUNDTRACK), str(SOUNDTRACK_REPORT)]
    else:
        inputs["narrations"] = scene_files("narration.m4a")
    return inputs


def release_scheduler_timers():
    """Cancel the 1 s re-evaluation timers Snakemake's job rate limiter leaves behind.

    They are non-daemon threads, which the interpreter waits for on exit: without this every run that
    executed a job lingers about a second after it is done (measured). Runs at interpreter shutdown,
    before those threads are joined.
    """
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer) and "_schedule_reevalutation" in getattr(
            thread.function, "__qualname__", ""
        ):
            thread.cancel()


if workflow.is_main_process:
    threading._register_atexit(release_scheduler_timers)
