"""From a project folder to a build plan: validated settings, and each scene's spec and content hash.

Each scene's hash covers everything that shapes its media, so a per-scene output path that contains the
hash is rebuilt exactly when something that matters changes. Spec files are written only when absent or
different, which keeps unchanged scenes' mtimes (no rebuild cascade through Snakemake's mtime trigger).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from reelmake import __version__
from reelmake.assets import AssetCache, resolve_asset
from reelmake.errors import UserError
from reelmake.fonts import font_identity, missing_characters
from reelmake.fsutil import write_if_changed
from reelmake.motion import choose
from reelmake.schemas import schema_errors, with_defaults
from reelmake.script import Script, find_script, load_script
from reelmake.textio import load_yaml, read_user_text

# Modules whose code shapes a scene's media: editing any of them re-renders every scene.
RENDERER_MODULES = (
    "aac", "assets", "bitstream", "clips", "fonts", "jobs", "loudness", "motion", "speech", "visuals",
)  # fmt: skip
BUILD = Path("build")
CONFIG_NAME = "config.yaml"
FORMATS = {"landscape": (1920, 1080), "vertical": (1080, 1920), "square": (1080, 1080)}


@dataclass(frozen=True)
class ScenePlan:
    """One scene of the build: where it sits, its hash, and the spec its rules render from."""

    index: int
    id: str
    title: str
    hash: str
    kind: str  # "slide" | "image" | "video"
    spec: dict[str, Any]

    @property
    def folder(self) -> Path:
        return scene_folder(self.hash)


@dataclass(frozen=True)
class Plan:
    """Everything Snakemake needs to know when it parses the workflow."""

    project: Path
    script_file: str
    title: str
    settings: dict[str, Any]
    scenes: tuple[ScenePlan, ...]

    def scene(self, scene_hash: str) -> ScenePlan:
        for scene in self.scenes:
            if scene.hash == scene_hash:
                return scene
        raise KeyError(scene_hash)

    def composition(self) -> dict[str, Any]:
        """What the final join needs: the order of scenes and the output format."""
        return {
            "title": self.title,
            "width": self.settings["width"],
            "height": self.settings["height"],
            "fps": self.settings["fps"],
            "scenes": [{"index": s.index, "id": s.id, "title": s.title, "hash": s.hash} for s in self.scenes],
        }


@functools.cache
def renderer_version() -> str:
    """reelmake's version plus a digest of the scene-rendering code."""
    digest = hashlib.sha256()
    for name in RENDERER_MODULES:
        digest.update((Path(__file__).parent / f"{name}.py").read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def scene_folder(scene_hash: str) -> Path:
    """Where a scene's media live, relative to the project."""
    return BUILD / "scenes" / scene_hash


def spec_path(scene_hash: str) -> Path:
    return BUILD / "specs" / f"{scene_hash}.json"


COMPOSITION = BUILD / "composition.json"


def load_settings(project: Path, script: Script, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """config.yaml, then the front matter, then command-line overrides; validated, defaults filled."""
    merged: dict[str, Any] = {}
    config_file = project / CONFIG_NAME
    layers: list[tuple[str, Any]] = []
    if config_file.is_file():
        layers.append(
            (CONFIG_NAME, load_yaml(read_user_text(config_file, shown_as=CONFIG_NAME), shown_as=CONFIG_NAME))
        )
    layers.append((f"{script.source} front matter", script.settings))
    layers.append(("--config", overrides or {}))
    for shown_as, layer in layers:
        if layer is None:
            continue
        if not isinstance(layer, dict):
            raise UserError("must be a mapping of settings (key: value lines).", file=shown_as)
        for _, message in schema_errors(layer, "config"):
            raise UserError(message, file=shown_as)
        merged.update(layer)
    settings = with_defaults(merged, "config")
    width, height = FORMATS[settings["format"]]
    settings.setdefault("width", width)
    settings.setdefault("height", height)
    return settings


def plan_project(project: Path, overrides: dict[str, Any] | None = None, *, write: bool = False) -> Plan:
    """Load and check the project; with ``write``, update the spec files and the composition file."""
    project = project.resolve()
    script_path = find_script(project)
    script = load_script(script_path)
    settings = load_settings(project, script, overrides)
    cache = AssetCache(project / BUILD / "cache" / "assets.json")
    common = {
        "renderer": renderer_version(),
        "width": settings["width"],
        "height": settings["height"],
        "fps": settings["fps"],
        "theme": settings["theme"],
        "fonts": font_identity(),
    }
    speech = {
        "tts": f"hibari-tts {version('hibari-tts')}",
        "voice": settings["voice"],
        "speed": settings["speech_speed"],
    }
    scenes = []
    for scene in script.scenes:
        where = f"{scene.index} '{scene.title}'"
        spec: dict[str, Any] = {**common, "title": scene.title, "narration": scene.narration}
        if scene.narration:
            spec["speech"] = speech
        min_duration = scene.options.get("duration")
        if scene.visual:
            try:
                asset_path = resolve_asset(project, scene.visual, shown_as=script.source)
                info = cache.inspect(
                    asset_path, shown_as=scene.visual, max_bytes=int(settings["max_asset_mb"] * 1_000_000)
                )
            except UserError as exc:
                raise UserError(exc.detail, file=script.source, scene=where, line=scene.line) from None
            spec["kind"] = info.kind
            spec["fit"] = scene.options.get("fit", settings["fit"])
            spec["asset"] = {
                "path": scene.visual,
                "sha256": info.sha256,
                "width": info.width,
                "height": info.height,
            }
            if info.kind == "video" and min_duration is None and not scene.narration:
                min_duration = info.duration_s
        else:
            spec["kind"] = "slide"
        if spec["kind"] == "video" and scene.options.get("motion", "none") not in ("none", "auto"):
            raise UserError(
                f"motion '{scene.options['motion']}' is for pictures and slides; a video clip does not "
                "move. Remove the scene's motion option (or set it to none).",
                file=script.source,
                scene=where,
                line=scene.line,
            )
        motion = _motion(scene.options, settings, spec)
        if motion:
            spec["motion"] = motion
        if min_duration is None and not scene.narration:
            min_duration = settings["default_duration"]
        spec["min_duration_s"] = float(min_duration or 0.0)
        shown_text = scene.title + (scene.narration if spec["kind"] == "slide" else "")
        missing = missing_characters(shown_text)
        if missing:
            listed = " ".join(f"{c} (U+{ord(c):04X})" for c in missing[:10])
            raise UserError(
                f"the bundled fonts cannot show these characters: {listed}. Remove or replace them.",
                file=script.source,
                scene=where,
                line=scene.line,
            )
        scenes.append(ScenePlan(scene.index, scene.id, scene.title, _hash(spec), spec["kind"], spec))
    plan = Plan(project, script_path.name, script.title, settings, tuple(scenes))
    if write:
        cache.save()
        for scene in plan.scenes:
            write_if_changed(project / spec_path(scene.hash), _dump(scene.spec))
        write_if_changed(project / COMPOSITION, _dump(plan.composition()))
    return plan


def _motion(options: dict[str, Any], settings: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any] | None:
    """The scene's Ken Burns motion for its spec, or None for a still scene (and for every video clip)."""
    if spec["kind"] == "video":
        return None
    zoom = options.get("motion_zoom", settings["motion_zoom"])
    sha256 = spec["asset"]["sha256"] if "asset" in spec else None
    chosen = choose(options.get("motion", settings["motion"]), spec["kind"], sha256, float(zoom))
    return chosen.to_spec() if chosen else None


def collect_garbage(plan: Plan) -> tuple[int, int]:
    """Delete scene folders and spec files the plan does not use; returns (scenes removed, bytes freed)."""
    keep = {scene.hash for scene in plan.scenes}
    removed = freed = 0
    for folder in sorted((plan.project / BUILD / "scenes").glob("*")):
        if folder.name in keep:
            continue
        for file in folder.iterdir():
            freed += file.stat().st_size
            file.unlink()
        folder.rmdir()
        (plan.project / spec_path(folder.name)).unlink(missing_ok=True)
        removed += 1
    return removed, freed


def _dump(data: Any) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
