"""JSON schemas (kept as YAML in the workflow's config/ folder) and friendly validation messages."""

from __future__ import annotations

import copy
import functools
from typing import Any

import jsonschema
import yaml

from reelmake.workflow import workflow_root


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """config/<name>.schema.yaml as a dict."""
    path = workflow_root() / "config" / f"{name}.schema.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def schema_errors(data: Any, name: str) -> list[tuple[list[Any], str]]:
    """Every schema violation as (path into the data, a message a user can act on)."""
    validator = jsonschema.Draft202012Validator(load_schema(name))
    out = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        where = ".".join(str(p) for p in path) or "(top level)"
        hint = error.schema.get("description") if isinstance(error.schema, dict) else None
        message = f"{where}: {_short(error)}" + (f" ({hint})" if hint else "")
        out.append((path, message))
    return out


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
