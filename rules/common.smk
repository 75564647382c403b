# The plan is made when the workflow is parsed: each scene's content hash names its outputs, and spec
# files are rewritten only when they change, so an edit reaches exactly the scenes it touches.
import sys
import threading
from pathlib import Path

from reelmake import jobs
from reelmake.errors import UserError
from reelmake.plan import COMPOSITION, plan_project, spec_path

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


def scene_clip_inputs(wildcards):
    """A still scene's clip is its GOP repeated; a video scene encodes its asset under its title overlay;
    a moving scene makes every frame from its canvas (image.png), a photo's title (title.png) on top.
    """
    scene = PLAN.scene(wildcards.hash)
    inputs = {
        "spec": str(spec_path(scene.hash)),
        "timing": str(scene.folder / "timing.json"),
    }
    if scene.kind == "video":
        inputs["asset"] = scene.spec["asset"]["path"]
        inputs["image"] = str(scene.folder / "image.png")
    elif "motion" in scene.spec:
        inputs["image"] = str(scene.folder / "image.png")
        if scene.kind == "image":
            inputs["title"] = str(scene.folder / "title.png")
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
