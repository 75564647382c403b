# The plan is made when the workflow is parsed: each scene's content hash names its outputs, and spec
# files are rewritten only when they change, so an edit reaches exactly the scenes it touches.
import logging
import math
import sys
import threading
from pathlib import Path

from reelmake import jobs, lock
from reelmake.errors import UserError
from reelmake.fsutil import remove_partial_files
from reelmake.plan import (
    BUILD,
    PUBLISHED_FILES,
    plan_project,
    spec_path,
    transition_file,
    write_missing,
)


def lock_project():
    """Whether this process may write the plan: the main process of a render takes the project's lock
    (reelmake.lock, held until the process ends) before the plan rewrites files a running render reads.

    A second render stops here with one line. A dry run takes the lock only while it plans; if a render
    holds it, the dry run writes only the files it lacks (plan.write_missing), never the composition
    that render will join. Jobs on a cluster node (not the main process) neither lock nor write.
    """
    if not workflow.is_main_process:
        return False
    try:
        lock.acquire(Path.cwd())
    except lock.ProjectBusy as error:
        if not workflow.output_settings.dryrun:
            sys.exit(f"reelmake: {error}")
        print(f"reelmake: {error} (this dry run shows its plan)", file=sys.stderr)
        return False
    remove_partial_files(Path.cwd() / BUILD)  # what a killed render left half-written
    return True


# On a full disk no log file can be written: logging must not print a traceback for each line (the job
# that hit the full disk says so in one line).
logging.raiseExceptions = False
try:
    WRITE_PLAN = lock_project()
    PLAN = plan_project(Path.cwd(), config, write=WRITE_PLAN)
except UserError as error:
    sys.exit(f"reelmake: {error}")
if workflow.is_main_process and not WRITE_PLAN:
    write_missing(PLAN)  # a dry run beside a render: the DAG needs every spec file
if WRITE_PLAN and workflow.output_settings.dryrun:
    lock.release(Path.cwd())
if workflow.is_main_process:
    jobs.preload_voices(PLAN)
# The final outputs' folder: build/, or build/preview/ for a preview (its logs go beside the full render's).
OUT = PLAN.output_dir
LOGS = "logs/preview" if PLAN.settings["preview"] else "logs"
# What a render publishes (build/final.mp4, ...), and where the join writes them first (see publish).
PUBLISHED = {key: f"{OUT}/{name}" for key, name in PUBLISHED_FILES.items()}
STAGED = {key: f"{OUT}/compose/{name}" for key, name in PUBLISHED_FILES.items()}
# What the join checked (each staged file's size), written last: publish's input in place of the staged
# files, which become hard links of its outputs (Snakemake touches outputs one by one after a job, so
# an input sharing an output's inode would look newer than the outputs touched before it).
CHECKED = f"{OUT}/compose/checked.json"


wildcard_constraints:
    hash="[0-9a-f]{16}",
    cue="[0-9]+",


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


def narration_inputs(wildcards):
    """The spec, and the recording of a scene narrated from a sound file."""
    scene = PLAN.scene(wildcards.hash)
    inputs = {"spec": str(spec_path(scene.hash))}
    if "voice_file" in scene.spec:
        inputs["recording"] = scene.spec["voice_file"]["path"]
    return inputs


def scene_clip_inputs(wildcards):
    """Every scene's clip starts from its image.png: a still's picture (encoded once, with one more
    picture per burned cue), a video scene's title overlay over its asset, or a moving scene's canvas.
    The clip's job draws what lies over a moving or video scene's frames (cues, a moving photo's title).
    """
    scene = PLAN.scene(wildcards.hash)
    inputs = {
        "spec": str(spec_path(scene.hash)),
        "timing": str(scene.folder / "timing.json"),
        "image": str(scene.folder / "image.png"),
    }
    if scene.kind == "video":
        inputs["asset"] = scene.spec["asset"]["path"]
    return inputs


def scene_files(name):
    """The given per-scene file of every scene, in play order."""
    return [str(scene.folder / name) for scene in PLAN.scenes]


def transition_inputs(wildcards):
    """A fade is rendered from the clip before it (its last GOP) and the clip it leads into."""
    transition = PLAN.transition(wildcards.hash)
    before, after = (
        PLAN.scene(h).folder for h in (transition.before, transition.after)
    )
    return {
        "spec": str(spec_path(transition.hash)),
        "before": str(before / "clip.h264"),
        "after": str(after / "clip.h264"),
        "after_record": str(after / "clip.json"),
    }


def transition_files():
    """Every transition's segment and record, in play order."""
    return [
        str(transition_file(t.hash, suffix))
        for t in PLAN.transitions
        if t is not None
        for suffix in (".h264", ".json")
    ]


def soundtrack_inputs(wildcards):
    """Every scene's narration and timing, and the music (its settings are in the composition file)."""
    return {
        "composition": str(PLAN.composition_file),
        "narrations": scene_files("narration.wav"),
        "timings": scene_files("timing.json"),
        "music": PLAN.music["path"],
    }


def compose_inputs(wildcards):
    """The segments, and either the scenes' AAC windows (joined at packet level) or the mixed soundtrack.

    Without music the join copies each scene's own AAC: an edit re-encodes no audio but its scene's.
    """
    inputs = {
        "composition": str(PLAN.composition_file),
        "clips": scene_files("clip.h264"),
        "records": scene_files("clip.json"),
        "timings": scene_files("timing.json"),
        "transitions": transition_files(),
    }
    if PLAN.music:
        inputs["soundtrack"] = [str(path) for path in PLAN.soundtrack_files]
    else:
        inputs["narrations"] = scene_files("narration.m4a")
    return inputs


def publish_inputs(wildcards):
    """The join's record of what it checked, and the join's own inputs: a scene newer than the published
    video brings the join back even when its outputs are gone (Snakemake deletes a failed join's outputs,
    and would otherwise call the old published video up to date, leaving the edit unpublished).
    """
    return {"checked": CHECKED, **compose_inputs(wildcards)}


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
