"""The script: Markdown (or YAML) in, a validated list of scenes out.

Markdown form: YAML front matter (``title`` and optional settings); each ``## heading`` starts a scene
whose title is the heading; paragraphs are narration; ``![alt](path)`` sets the scene's visual; an HTML
comment ``<!-- duration: 4, fit: contain -->`` inside a scene sets per-scene options. Text before the first
``##`` is not a scene. The canonical form is the YAML mapping returned by :meth:`Script.to_canonical`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from reelmake.errors import UserError
from reelmake.schemas import schema_errors
from reelmake.textio import load_yaml, read_user_text

MAX_SCENES = 500
MAX_SCENE_CHARS = 5_000
SCRIPT_NAMES = ("script.md", "script.yaml")
_OPTIONS_COMMENT = re.compile(r"^<!--(.*?)-->\s*$", re.S)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?---[ \t]*(\n|\Z)", re.S)


@dataclass(frozen=True)
class Scene:
    """One scene as the author wrote it."""

    index: int
    id: str
    title: str
    narration: str
    visual: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    line: int | None = None

    def to_canonical(self) -> dict[str, Any]:
        out: dict[str, Any] = {"title": self.title, "narration": self.narration}
        if self.visual:
            out["visual"] = self.visual
        out.update(self.options)
        return out


@dataclass(frozen=True)
class Script:
    """A parsed script: its title, project settings from the front matter, and scenes in order."""

    title: str
    settings: dict[str, Any]
    scenes: tuple[Scene, ...]
    source: str

    def to_canonical(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "settings": self.settings,
            "scenes": [scene.to_canonical() for scene in self.scenes],
        }


def find_script(project: Path) -> Path:
    """The project's script file: script.md, else script.yaml (if it is no text file, reading it says so)."""
    for name in SCRIPT_NAMES:
        if os.path.lexists(project / name):
            return project / name
    raise UserError(
        f"no script found in {project}: write script.md (or script.yaml) there, "
        "or run `reelmake new` to start a project."
    )


def load_script(path: Path, *, shown_as: str | None = None) -> Script:
    """Parse script.md or script.yaml and validate it against the script schema."""
    name = shown_as or path.name
    text = read_user_text(path, shown_as=name)
    if path.suffix in (".yaml", ".yml"):
        return _from_canonical(load_yaml(text, shown_as=name), name)
    return parse_markdown(text, shown_as=name)


def parse_markdown(text: str, *, shown_as: str = "script.md") -> Script:
    """Markdown script → Script. Errors name the file and line."""
    front: dict[str, Any] = {}
    body_offset = 0
    match = _FRONT_MATTER.match(text)
    if match:
        loaded = load_yaml(match.group(1) or "", shown_as=shown_as, first_line=2)
        if loaded is not None and not isinstance(loaded, dict):
            raise UserError("front matter must be a YAML mapping (key: value lines).", file=shown_as, line=2)
        front = loaded or {}
        body_offset = text[: match.end()].count("\n")
        text = text[match.end() :]
    elif text.startswith("---"):
        raise UserError("front matter starts with --- but has no closing --- line.", file=shown_as, line=1)

    raw_scenes: list[dict[str, Any]] = []
    tokens = _markdown().parse(text)
    current: dict[str, Any] | None = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        line = body_offset + (token.map[0] + 1 if token.map else 0)
        if token.type == "heading_open" and token.tag == "h2":
            title = tokens[i + 1].content.strip()
            if not title:
                raise UserError("a ## heading has no title text.", file=shown_as, line=line)
            current = {"title": title, "paragraphs": [], "visual": None, "options": {}, "line": line}
            raw_scenes.append(current)
            if len(raw_scenes) > MAX_SCENES:  # stop at once, before reading thousands more
                raise UserError(
                    f"has over {MAX_SCENES} scenes; the limit is {MAX_SCENES}.", file=shown_as, line=line
                )
            i += 3
            continue
        if current is not None:
            if token.type == "inline":
                _take_inline(token, current, shown_as, line)
            elif token.type == "html_block":
                _take_options(token.content, current, shown_as, line)
        i += 1

    if not raw_scenes:
        raise UserError(
            "has no scenes. Start each scene with a '## Title' line, followed by its narration.",
            file=shown_as,
        )
    canonical = {
        "title": front.pop("title", None),
        "settings": front,
        "scenes": [
            {
                "title": raw["title"],
                "narration": "\n\n".join(raw["paragraphs"]),
                **({"visual": raw["visual"]} if raw["visual"] else {}),
                **raw["options"],
            }
            for raw in raw_scenes
        ],
    }
    return _from_canonical(canonical, shown_as, lines=[raw["line"] for raw in raw_scenes])


def _markdown() -> MarkdownIt:
    """A CommonMark parser that keeps an image's path as written: by default it is percent-encoded for a
    web page ('café.png' becomes 'caf%C3%A9.png', a file that does not exist) and links with schemes
    it deems unsafe are dropped as text; here every path goes to the asset checks as the file name."""
    md = MarkdownIt("commonmark")
    md.normalizeLink = lambda url: url  # type: ignore[method-assign]
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


def _take_inline(token: Any, scene: dict[str, Any], shown_as: str, line: int) -> None:
    words: list[str] = []
    for child in token.children or []:
        if child.type == "image":
            if scene["visual"]:
                raise UserError(
                    f"scene '{scene['title']}' has more than one image or clip; keep one per scene.",
                    file=shown_as,
                    line=line,
                )
            scene["visual"] = str(child.attrs.get("src", ""))
            if not scene["visual"]:
                raise UserError(
                    f"scene '{scene['title']}' has an image with no file: write ![](assets/<name>).",
                    file=shown_as,
                    line=line,
                )
        elif child.type in ("text", "code_inline"):
            words.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            words.append(" ")
    paragraph = re.sub(r"\s+", " ", "".join(words)).strip()
    if paragraph:
        scene["paragraphs"].append(paragraph)


def _take_options(html: str, scene: dict[str, Any], shown_as: str, line: int) -> None:
    match = _OPTIONS_COMMENT.match(html.strip())
    if not match:
        return  # other HTML is ignored, like any Markdown renderer that strips it
    body = match.group(1).strip()
    if not body:
        return
    options = load_yaml("{" + body + "}", shown_as=shown_as, first_line=line)
    if not isinstance(options, dict):
        raise UserError(
            "scene options must look like <!-- duration: 4, fit: contain -->.", file=shown_as, line=line
        )
    scene["options"].update(options)


def _from_canonical(data: Any, shown_as: str, lines: list[int] | None = None) -> Script:
    if not isinstance(data, dict):
        raise UserError("must be a mapping with title, settings and scenes.", file=shown_as)
    scenes_in = data.get("scenes")
    if isinstance(scenes_in, list) and len(scenes_in) > MAX_SCENES:
        raise UserError(f"has {len(scenes_in)} scenes; the limit is {MAX_SCENES}.", file=shown_as)
    for problem_path, message in schema_errors(data, "script"):
        scene_no, line = _scene_of(problem_path, lines)
        raise UserError(message, file=shown_as, scene=scene_no, line=line)
    scenes: list[Scene] = []
    seen_ids: dict[str, int] = {}
    for index, raw in enumerate(data["scenes"], start=1):
        line = lines[index - 1] if lines else None
        narration = raw.get("narration", "")
        if len(narration) > MAX_SCENE_CHARS:
            raise UserError(
                f"narration is {len(narration):,} characters; the limit is {MAX_SCENE_CHARS:,}. "
                "Split it into more scenes.",
                file=shown_as,
                scene=f"{index} '{raw['title']}'",
                line=line,
            )
        base = _slug(raw["title"]) or f"scene-{index}"
        seen_ids[base] = seen_ids.get(base, 0) + 1
        scene_id = base if seen_ids[base] == 1 else f"{base}-{seen_ids[base]}"
        options = {k: v for k, v in raw.items() if k not in ("title", "narration", "visual")}
        scenes.append(Scene(index, scene_id, raw["title"], narration, raw.get("visual"), options, line))
    title = data.get("title") or scenes[0].title
    return Script(str(title), dict(data.get("settings") or {}), tuple(scenes), shown_as)


def _scene_of(problem_path: list[Any], lines: list[int] | None) -> tuple[str | None, int | None]:
    if len(problem_path) >= 2 and problem_path[0] == "scenes" and isinstance(problem_path[1], int):
        index = problem_path[1]
        return str(index + 1), (lines[index] if lines and index < len(lines) else None)
    return None, None


def _slug(title: str) -> str:
    return re.sub(r"[^\w]+", "-", title.lower(), flags=re.UNICODE).strip("-_")[:48]
