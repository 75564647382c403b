"""Reading the user's text files safely: UTF-8 only, bounded size, YAML without aliases."""

from __future__ import annotations

import contextlib
import stat
from pathlib import Path
from typing import Any

import yaml

from reelmake.errors import UserError

MAX_TEXT_BYTES = 2_000_000


def read_user_text(path: Path, *, shown_as: str, limit: int = MAX_TEXT_BYTES) -> str:
    """Return the file's text, or a UserError saying why it is not a UTF-8 text file we accept."""
    try:
        status = path.stat()
    except OSError as exc:
        raise UserError(f"cannot read it ({exc.strerror}).", file=shown_as) from None
    if not stat.S_ISREG(status.st_mode):  # a device or a pipe could be read for ever
        raise UserError("is not a regular file (a folder, device or pipe); use a text file.", file=shown_as)
    size = status.st_size
    if size > limit:
        raise UserError(f"is {size:,} bytes; the limit is {limit:,}. Split it or shorten it.", file=shown_as)
    with path.open("rb") as f:
        data = f.read(limit + 1)  # never more than the limit, even from a file that grows while read
    if len(data) > limit:
        raise UserError(f"is over {limit:,} bytes, the limit. Split it or shorten it.", file=shown_as)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise UserError(
            f"is not a text file (it contains NUL bytes at offset {nul}). Save the script as UTF-8 text.",
            file=shown_as,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}). "
            "Save the file as UTF-8 and try again.",
            file=shown_as,
            line=line,
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


MAX_YAML_DEPTH = 32  # lists and mappings inside each other; settings and scenes need three or four
# Values (keys included) in one document: a script.yaml of 500 scenes with every option set has about
# 10,000. Building a value costs tens of microseconds, so this keeps any YAML to a second or so.
MAX_YAML_VALUES = 30_000
# libyaml's parser (in PyYAML's wheels) is linear on "[[[[..." and stops at 1000 levels; the pure-Python one
# takes quadratic time on it (40 s for 3,000 levels, measured), so it is only the fallback.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPEN = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
_VALUE = (yaml.ScalarEvent, *_OPEN)


class _Loader(_SafeLoader):  # type: ignore[misc]
    """A safe loader that refuses a key given twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            with contextlib.suppress(TypeError):  # an unhashable key: the base class refuses it
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        problem=f"the key {key!r} is given twice", problem_mark=key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def load_yaml(text: str, *, shown_as: str, first_line: int = 1) -> Any:
    """Parse YAML safely; refuse aliases outright, which also refuses alias ("billion laughs") bombs, and
    nesting deeper than MAX_YAML_DEPTH (so nothing that reads the result recurses far) or more than
    MAX_YAML_VALUES values."""
    try:
        depth = values = 0
        for event in yaml.parse(text, Loader=_Loader):
            line = first_line + event.start_mark.line if event.start_mark else None
            if isinstance(event, yaml.AliasEvent):
                raise UserError(
                    "uses a YAML alias (*name); aliases are not supported here. Write the value out.",
                    file=shown_as,
                    line=line,
                )
            depth += isinstance(event, _OPEN) - isinstance(event, _CLOSE)
            values += isinstance(event, _VALUE)
            if depth > MAX_YAML_DEPTH:
                raise UserError(
                    f"nests lists and mappings more than {MAX_YAML_DEPTH} deep; flatten it.",
                    file=shown_as,
                    line=line,
                )
            if values > MAX_YAML_VALUES:
                raise UserError(
                    f"holds more than {MAX_YAML_VALUES:,} values; the limit is {MAX_YAML_VALUES:,}.",
                    file=shown_as,
                    line=line,
                )
        return yaml.load(text, Loader=_Loader)  # a safe loader
    except ValueError as exc:  # a value YAML recognises but Python cannot hold (2020-13-45, 5000 digits)
        raise UserError(
            f"has a value that cannot be read ({exc}); put it in quotes to make it text.",
            file=shown_as,
            line=first_line,
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first_line + mark.line if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(
            f"is not valid YAML: {problem}. Fix the YAML syntax.", file=shown_as, line=line
        ) from None
