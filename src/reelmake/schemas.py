"""JSON schemas (kept as YAML in the workflow's config/ folder) and friendly validation messages."""

from __future__ import annotations

import copy
import functools
import math
import unicodedata
from collections.abc import Iterator
from typing import Any

import jsonschema
import yaml

from reelmake.workflow import workflow_root


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """config/<name>.schema.yaml as a dict."""
    path = workflow_root() / "config" / f"{name}.schema.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# JSON Schema counts 320.0 as an integer; a frame size or count must be written as one (320).
_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
)
_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_TYPES)
# Text may hold tabs and line breaks; any other control character (NUL, bell, escape...) or a lone
# surrogate (from a YAML escape such as "\ud800") has no place in a title, narration or file name.
_ALLOWED_CONTROLS = frozenset("\t\n")


def schema_errors(data: Any, name: str) -> list[tuple[list[Any], str]]:
    """Every schema violation as (path into the data, a message a user can act on).

    Values no schema keyword can refuse come first: NaN and infinities (which pass every numeric
    bound), keys that are not text, and control characters or lone surrogates in text.
    """
    out = [(path, f"{_where(path)}: {problem}") for path, problem in _value_problems(data, [])]
    validator = _Validator(load_schema(name))
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        hint = error.schema.get("description") if isinstance(error.schema, dict) else None
        message = f"{_where(path)}: {_short(error)}" + (f" ({hint})" if hint else "")
        out.append((path, message))
    return out


def _where(path: list[Any]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _value_problems(value: Any, path: list[Any]) -> Iterator[tuple[list[Any], str]]:
    """(path, problem) for each value in ``value`` that no JSON value could be."""
    if isinstance(value, float) and not math.isfinite(value):
        yield path, f"{value} is not a number that can be used here; write a finite number."
    elif isinstance(value, str):
        bad = next((ch for ch in value if _is_control(ch)), None)
        if bad is not None:
            kind = "an unpaired surrogate" if unicodedata.category(bad) == "Cs" else "a control character"
            yield (
                path,
                (
                    f"contains U+{ord(bad):04X}, {kind}, at position {value.index(bad) + 1}; "
                    "remove it (only tabs and line breaks are allowed in text)."
                ),
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield path, f"{key!r} is not a name; keys must be text (quote it: '{key}')."
            else:
                yield from _value_problems(key, [*path, key])
                yield from _value_problems(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _value_problems(item, [*path, index])


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs") and ch not in _ALLOWED_CONTROLS


def with_defaults(data: dict[str, Any], name: str) -> dict[str, Any]:
    """A copy of ``data`` with the schema's top-level property defaults filled in."""
    filled = copy.deepcopy(data)
    for key, prop in load_schema(name).get("properties", {}).items():
        if "default" in prop:
            filled.setdefault(key, copy.deepcopy(prop["default"]))
    return filled


def _short(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown setting")
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(repr, error.validator_value))}"
    return error.message
