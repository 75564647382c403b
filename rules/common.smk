# The plan is made when the workflow is parsed: each scene's content hash names its outputs, and spec
# files are rewritten only when they change, so an edit reaches exactly the scenes it touches.
import math
import sys
import threading
from pathlib import Path

from reelmake import jobs
from reelmake.errors import UserError
from reelmake.plan import plan_project, spec_path

try:
    PLAN = plan_project(Path.cwd(), config, write=workflow.is_main_process)
except UserError as error:
    sys.exit(f"reelmake: {error}")
if workflow.is_main_process:
    jobs.preload_voices(PLAN)
# The final outputs' folder: build/, or build/preview/ for a preview (its logs go beside the full render's).
OUT = PLAN.output_dir
LOGS = "logs/preview" if PLAN.settings["preview"] else "logs"


wildcard_constraints:
    hash="[0-9a-f]{16}",


def cluster_limit(fixed, per_1080p=0):
    """A job's memory (MB) or time limit (minutes) on a cluster: ``fixed`` plus ``per_1080p`` times the
    frame's area over 1920x1080 (4K needs four times the per-frame share), doubled on a retry, so a job the
    cluster killed for memory or time gets twice as much. Figures: docs/scaling.md.
    """
    area = PLAN.settings["width"] * PLAN.settings["height"] / (1920 * 1080)
    value = math.ceil(fixed + per_1080p * area)
    return lambda wildcards, attempt: value * attempt


def scene_spec(wildcards):
    return str(spec_path(wildcards.hash))


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
