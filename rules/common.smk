# The plan is made when the workflow is parsed: each scene's content hash names its outputs, and spec
# files are rewritten only when they change, so an edit reaches exactly the scenes it touches.
import sys
from pathlib import Path

from reelmake import jobs
from reelmake.errors import UserError
from reelmake.plan import COMPOSITION, plan_project, spec_path

try:
    PLAN = plan_project(Path.cwd(), config, write=workflow.is_main_process)
except UserError as error:
    sys.exit(f"reelmake: {error}")


wildcard_constraints:
    hash="[0-9a-f]{16}",


def scene_spec(wildcards):
    return str(spec_path(wildcards.hash))


def scene_clip_inputs(wildcards):
    """A video scene also reads its asset; every scene reads its image and narration timing."""
    scene = PLAN.scene(wildcards.hash)
    inputs = {
        "spec": str(spec_path(scene.hash)),
        "image": str(scene.folder / "image.png"),
        "timing": str(scene.folder / "timing.json"),
    }
    if scene.kind == "video":
        inputs["asset"] = scene.spec["asset"]["path"]
    return inputs


def scene_files(name):
    """The given per-scene file of every scene, in play order."""
    return [str(scene.folder / name) for scene in PLAN.scenes]
