"""From a project folder to a build plan: validated settings, and each scene's spec and content hash.

Each scene's hash covers everything that shapes its media, so a per-scene output path that contains the
hash is rebuilt exactly when something that matters changes. Spec files are written only when absent or
different, which keeps unchanged scenes' mtimes (no rebuild cascade through Snakemake's mtime trigger).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from reelmake import __version__
from reelmake.assets import AssetCache, resolve_asset
from reelmake.diskspace import ensure_room, full_disk_error, is_disk_full, render_bytes, scene_seconds
from reelmake.errors import UserError
from reelmake.fonts import font_identity, missing_characters
from reelmake.fsutil import write_if_changed
from reelmake.motion import choose
from reelmake.schemas import load_schema, schema_errors, with_defaults
from reelmake.script import Script, find_script, load_script
from reelmake.textio import load_yaml, read_user_text

# Modules whose code shapes a scene's media: editing any of them re-renders every scene.
RENDERER_MODULES = (
    "aac",
    "assets",
    "audiofile",
    "bitstream",
    "captions",
    "clips",
    "fonts",
    "jobs",
    "loudness",
    "motion",
    "skipframes",
    "speech",
    "visuals",
)
# Transitions are rendered from two scenes' clips (whose hashes cover the modules above) by this one.
TRANSITION_MODULES = ("transitions",)
BUILD = Path("build")
CONFIG_NAME = "config.yaml"
PREVIEW = BUILD / "preview"  # a preview's final outputs; its scenes have their own hashes
FORMATS = {"landscape": (1920, 1080), "vertical": (1080, 1920), "square": (1080, 1080)}
PREVIEW_SHORT_SIDE = 360  # 640x360 for landscape: a ninth of the pixels of 1080p
# What a scene's narration (its sound, timings and cues) is made from. The picture's settings (size, fit,
# motion, captions, asset) are not among them, so a preview or a new picture reuses the narration from
# build/cache/narration/ instead of speaking it again. A spec key that shapes the sound must be listed here.
NARRATION_KEYS = ("renderer", "fps", "narration", "speech", "min_duration_s", "voice_file")
NARRATION_CACHE = BUILD / "cache" / "narration"
MIN_MUSIC_S = 1.0  # shorter music would loop as a buzz
# What a render publishes in its output folder, by the compose rule's output names; published in this
# order, so the video replaces the old one after its companions, and the manifest comes last.
PUBLISHED_FILES = {
    "srt": "final.srt",
    "vtt": "final.vtt",
    "chapters": "chapters.txt",
    "poster": "poster.jpg",
    "video": "final.mp4",
    "manifest": "manifest.json",
}


@dataclass(frozen=True)
class ScenePlan:
    """One scene of the build: where it sits, its hash, and the spec its rules render from."""

    index: int
    id: str
    title: str
    hash: str
    kind: str  # "slide" | "image" | "video"
    spec: dict[str, Any]
    seconds: float = 0.0  # its length as far as known before rendering (for disk-space estimates)

    @property
    def folder(self) -> Path:
        return scene_folder(self.hash)


def scene_named(project: Path, scene_hash: str) -> str:
    """'scene 3 'Title'' for a scene of the project's full render or of its preview."""
    for composition in (project / BUILD / "composition.json", project / PREVIEW / "composition.json"):
        if composition.is_file():
            for scene in json.loads(composition.read_text(encoding="utf-8"))["scenes"]:
                if scene["hash"] == scene_hash:
                    return f"scene {scene['index']} {scene['title']!r}"
    return f"scene {scene_hash}"


def burns_captions(spec: dict[str, Any]) -> bool:
    """Whether a scene's spec burns its captions into its frames."""
    return spec.get("captions") == "burn"


@dataclass(frozen=True)
class TransitionPlan:
    """A fade into scene ``after`` from scene ``before``: a short segment rendered from their two clips.

    Its hash covers both scenes' hashes and the fade, so it is re-rendered exactly when either neighbour
    or the fade changes, while the scenes' own hashes never depend on their neighbours.
    """

    hash: str
    before: str  # the scene hashes
    after: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """Everything Snakemake needs to know when it parses the workflow."""

    project: Path
    script_file: str
    title: str
    settings: dict[str, Any]
    scenes: tuple[ScenePlan, ...]
    # The transition into each scene (None for a cut), in scene order.
    transitions: tuple[TransitionPlan | None, ...]
    music: dict[str, Any] | None = None  # path, sha256, volume_db: shapes the soundtrack, never a scene

    @property
    def output_dir(self) -> Path:
        """Where the video and its companions go: build/, or build/preview/ for a preview."""
        return PREVIEW if self.settings["preview"] else BUILD

    @property
    def composition_file(self) -> Path:
        """The join's input; a preview has its own, so a preview never makes the full render re-join."""
        return self.output_dir / "composition.json"

    @property
    def soundtrack_files(self) -> tuple[Path, Path]:
        """A video with music: its mixed sound (AAC) and that sound's measured loudness and true peak."""
        return self.output_dir / "soundtrack.m4a", self.output_dir / "soundtrack.json"

    def scene(self, scene_hash: str) -> ScenePlan:
        for scene in self.scenes:
            if scene.hash == scene_hash:
                return scene
        raise KeyError(scene_hash)

    def transition(self, transition_hash: str) -> TransitionPlan:
        for transition in self.transitions:
            if transition is not None and transition.hash == transition_hash:
                return transition
        raise KeyError(transition_hash)

    def composition(self) -> dict[str, Any]:
        """What the final join needs: the order of scenes, the output format and the music, if any."""
        composition = {
            "title": self.title,
            "width": self.settings["width"],
            "height": self.settings["height"],
            "fps": self.settings["fps"],
            "poster": self.settings["poster"],
            "scenes": [
                {"index": s.index, "id": s.id, "title": s.title, "hash": s.hash, "transition": t and t.hash}
                for s, t in zip(self.scenes, self.transitions, strict=True)
            ],
        }
        if self.music:
            composition["music"] = self.music
        return composition


def renderer_version() -> str:
    """reelmake's version plus a digest of the scene-rendering code."""
    return code_version(RENDERER_MODULES)


@functools.cache
def code_version(modules: tuple[str, ...]) -> str:
    """reelmake's version plus a digest of the given modules' source."""
    digest = hashlib.sha256()
    for name in modules:
        digest.update((Path(__file__).parent / f"{name}.py").read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def scene_folder(scene_hash: str) -> Path:
    """Where a scene's media live, relative to the project."""
    return BUILD / "scenes" / scene_hash


def spec_path(scene_hash: str) -> Path:
    return BUILD / "specs" / f"{scene_hash}.json"


def narration_key(spec: dict[str, Any]) -> str:
    """The hash of what a scene's narration is made from (see NARRATION_KEYS)."""
    return _hash({key: spec[key] for key in NARRATION_KEYS if key in spec})


def transition_file(transition_hash: str, suffix: str) -> Path:
    """A transition's segment (``.h264``) or its record (``.json``), relative to the project."""
    return BUILD / "transitions" / f"{transition_hash}{suffix}"


def load_settings(
    project: Path, script: Script, overrides: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """config.yaml, then the front matter, then command-line overrides; validated, defaults filled.

    Also returns where each given setting came from, for error messages about its value.
    """
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    config_file = project / CONFIG_NAME
    layers: list[tuple[str, Any]] = []
    if os.path.lexists(config_file):  # a broken link or a pipe is an error, not "no config"
        layers.append(
            (CONFIG_NAME, load_yaml(read_user_text(config_file, shown_as=CONFIG_NAME), shown_as=CONFIG_NAME))
        )
    layers.append((f"{script.source} front matter", script.settings))
    layers.append(("--config", _command_line_values(overrides or {})))
    for shown_as, layer in layers:
        if layer is None:
            continue
        if not isinstance(layer, dict):
            raise UserError("must be a mapping of settings (key: value lines).", file=shown_as)
        for _, message in schema_errors(layer, "config"):
            raise UserError(message, file=shown_as)
        merged.update(layer)
        origins.update(dict.fromkeys(layer, shown_as))
    settings = with_defaults(merged, "config")
    if settings["captions"] is False:  # `captions: off` in YAML is the boolean false
        settings["captions"] = "off"
    width, height = FORMATS[settings["format"]]
    settings.setdefault("width", width)
    settings.setdefault("height", height)
    if settings["preview"]:
        settings["width"], settings["height"] = preview_size(settings["width"], settings["height"])
    return settings, origins


def _command_line_values(overrides: dict[str, Any]) -> dict[str, Any]:
    """`snakemake --config preview=true` passes the string 'true': read it as the boolean the setting is."""
    words = {"true": True, "false": False}
    properties = load_schema("config")["properties"]
    return {
        key: words.get(value.lower(), value)
        if isinstance(value, str) and properties.get(key, {}).get("type") == "boolean"
        else value
        for key, value in overrides.items()
    }


def preview_size(width: int, height: int) -> tuple[int, int]:
    """The frame scaled down to PREVIEW_SHORT_SIDE on its short side (never up), in even numbers."""
    scale = min(1.0, PREVIEW_SHORT_SIDE / min(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def plan_project(project: Path, overrides: dict[str, Any] | None = None, *, write: bool = False) -> Plan:
    """Load and check the project; with ``write`` (a render starts), update the spec files and the
    composition file, and refuse a disk that is full (reelmake.diskspace.DiskFull)."""
    project = project.resolve()
    script_path = find_script(project)
    script = load_script(script_path)
    settings, origins = load_settings(project, script, overrides)
    cache = AssetCache(project / BUILD / "cache" / "assets.json")
    max_bytes = int(settings["max_asset_mb"] * 1_000_000)
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
        voice_file = scene.options.get("voice_file")
        recording_s = None
        if voice_file:
            # A recording replaces the TTS voice; its narration text, if any, becomes its captions.
            try:
                voice = cache.inspect_audio(
                    resolve_asset(project, voice_file, shown_as=script.source),
                    shown_as=voice_file,
                    max_bytes=max_bytes,
                )
            except UserError as exc:
                raise UserError(exc.detail, file=script.source, scene=where, line=scene.line) from None
            spec["voice_file"] = {"path": voice_file, "sha256": voice.sha256}
            recording_s = voice.duration_s
        elif scene.narration:
            spec["speech"] = speech
        spoken = bool(scene.narration or voice_file)
        min_duration = scene.options.get("duration")
        if scene.visual:
            try:
                asset_path = resolve_asset(project, scene.visual, shown_as=script.source)
                info = cache.inspect(asset_path, shown_as=scene.visual, max_bytes=max_bytes)
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
            if info.kind == "video" and min_duration is None and not spoken:
                min_duration = info.duration_s
            if scene.narration and settings["captions"] == "burn":
                spec["captions"] = "burn"
        else:
            spec["kind"] = "slide"  # a slide shows its narration as body text: no captions burned on it
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
        if min_duration is None and not spoken:
            min_duration = settings["default_duration"]
        spec["min_duration_s"] = float(min_duration or 0.0)
        shown_text = scene.title + (scene.narration if spec["kind"] == "slide" or "captions" in spec else "")
        missing = missing_characters(shown_text)
        if missing:
            listed = " ".join(f"{c} (U+{ord(c):04X})" for c in missing[:10])
            raise UserError(
                f"the bundled fonts cannot show these characters: {listed}. Remove or replace them.",
                file=script.source,
                scene=where,
                line=scene.line,
            )
        seconds = scene_seconds(spec, recording_s=recording_s)
        scenes.append(ScenePlan(scene.index, scene.id, scene.title, _hash(spec), spec["kind"], spec, seconds))
    transitions = _plan_transitions(script, settings, scenes)
    music = _music(project, settings, origins, cache, max_bytes)
    plan = Plan(project, script_path.name, script.title, settings, tuple(scenes), transitions, music)
    if write:
        needed = render_bytes((scene.spec, scene.seconds) for scene in plan.scenes)
        try:
            cache.save()
            write_specs(plan)
            write_if_changed(project / plan.composition_file, _dump(plan.composition()))
        except OSError as error:
            if not is_disk_full(error):
                raise
            raise full_disk_error(project / BUILD, needed, "this render") from None
        # What is about to render: a disk without room for Snakemake's own records is refused here.
        ensure_room(project / BUILD, needed, "this render")
    return plan


def write_specs(plan: Plan) -> None:
    """Write the spec file of every scene and fade that lacks one. Named by their content's hash, they
    never change once written, so even a dry run beside a running render may write them."""
    for item in [*plan.scenes, *filter(None, plan.transitions)]:
        write_if_changed(plan.project / spec_path(item.hash), _dump(item.spec))


def write_missing(plan: Plan) -> None:
    """The spec files, and the composition file if there is none yet: what a dry run beside a running
    render may write (that render has yet to write its composition if there is none, and then does)."""
    write_specs(plan)
    if not (plan.project / plan.composition_file).exists():
        write_if_changed(plan.project / plan.composition_file, _dump(plan.composition()))


def _motion(options: dict[str, Any], settings: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any] | None:
    """The scene's Ken Burns motion for its spec, or None for a still scene (and for every video clip)."""
    if spec["kind"] == "video":
        return None
    zoom = options.get("motion_zoom", settings["motion_zoom"])
    sha256 = spec["asset"]["sha256"] if "asset" in spec else None
    chosen = choose(options.get("motion", settings["motion"]), spec["kind"], sha256, float(zoom))
    return chosen.to_spec() if chosen else None


def _plan_transitions(
    script: Script, settings: dict[str, Any], scenes: list[ScenePlan]
) -> tuple[TransitionPlan | None, ...]:
    """The transition into each scene: its own options, else the project's; the first scene has none."""
    out: list[TransitionPlan | None] = [None]
    for scene, before, after in zip(script.scenes[1:], scenes[:-1], scenes[1:], strict=True):
        kind = scene.options.get("transition", settings["transition"])
        if kind == "none":
            out.append(None)
            continue
        seconds = scene.options.get("transition_duration", settings["transition_duration"])
        spec = {
            "renderer": code_version(TRANSITION_MODULES),
            "kind": kind,
            "frames": max(1, round(seconds * settings["fps"])),
            "fps": settings["fps"],
            "before": before.hash,
            "after": after.hash,
        }
        out.append(TransitionPlan(_hash(spec), before.hash, after.hash, spec))
    return tuple(out)


def _music(
    project: Path, settings: dict[str, Any], origins: dict[str, str], cache: AssetCache, max_bytes: int
) -> dict[str, Any] | None:
    """The background music's file, checksum and volume, checked like an asset; None without music."""
    ref = settings.get("music")
    if not ref:
        return None
    shown_as = origins["music"]
    try:
        path = resolve_asset(project, ref, shown_as=shown_as)
        info = cache.inspect_audio(path, shown_as=ref, max_bytes=max_bytes)
    except UserError as exc:
        raise UserError(f"setting music: {exc.detail}", file=shown_as) from None
    if (info.duration_s or 0.0) < MIN_MUSIC_S:
        raise UserError(
            f"setting music: '{ref}' lasts {info.duration_s:.2f} s; use music of at least "
            f"{MIN_MUSIC_S:.0f} s (it is looped to the video's length).",
            file=shown_as,
        )
    return {"path": ref, "sha256": info.sha256, "volume_db": float(settings["music_volume"])}


def unused_outputs(project: Path, keep: set[str] | frozenset[str] = frozenset()) -> list[Path]:
    """Scene folders, fade segments and cached narrations that neither the full render, nor the preview,
    nor ``keep`` use.

    ``keep`` holds more scene hashes to keep (e.g. those of a studio render kept by its policy).
    """
    project = project.resolve()
    plans = [plan_project(project, {"preview": preview}) for preview in (False, True)]
    scenes = {scene.hash for plan in plans for scene in plan.scenes} | set(keep)
    fades = {t.hash for plan in plans for t in plan.transitions if t is not None}
    voices = {narration_key(scene.spec) for plan in plans for scene in plan.scenes}
    return [
        *(f for f in sorted((project / BUILD / "scenes").glob("*")) if f.name not in scenes),
        *(s for s in sorted((project / BUILD / "transitions").glob("*.h264")) if s.stem not in fades),
        *(n for n in sorted((project / NARRATION_CACHE).glob("*")) if n.name not in voices),
    ]


def _output_files(output: Path) -> list[Path]:
    """The files of a scene folder, or a fade segment and its record."""
    if output.is_dir():
        return [file for file in output.rglob("*") if file.is_file()]
    return [file for file in (output, output.with_suffix(".json")) if file.exists()]


def output_bytes(output: Path) -> int:
    return sum(file.stat().st_size for file in _output_files(output))


def remove_output(project: Path, output: Path) -> None:
    """Delete one scene folder or fade segment (with its record), and its spec file."""
    for file in _output_files(output):
        file.unlink()
    if output.is_dir():
        output.rmdir()
    name = output.name if output.is_dir() else output.stem
    (project / spec_path(name)).unlink(missing_ok=True)


def _dump(data: Any) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
