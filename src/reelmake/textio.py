"""Reading the user's text files safely: UTF-8 only, bounded size, YAML without aliases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from reelmake.errors import UserError

MAX_TEXT_BYTES = 2_000_000


def read_user_text(path: Path, *, shown_as: str, limit: int = MAX_TEXT_BYTES) -> str:
    """Return the file's text, or a UserError saying why it is not a UTF-8 text file we accept."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UserError(f"cannot read it ({exc.strerror}).", file=shown_as) from None
    if size > limit:
        raise UserError(f"is {size:,} bytes; the limit is {limit:,}. Split it or shorten it.", file=shown_as)
    data = path.read_bytes()
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


def load_yaml(text: str, *, shown_as: str, first_line: int = 1) -> Any:
    """Parse YAML safely; refuse aliases outright, which also refuses alias ("billion laughs") bombs."""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                line = first_line + event.start_mark.line if event.start_mark else None
                raise UserError(
                    "uses a YAML alias (*name); aliases are not supported here. Write the value out.",
                    file=shown_as,
                    line=line,
                )
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first_line + mark.line if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(
            f"is not valid YAML: {problem}. Fix the YAML syntax.", file=shown_as, line=line
        ) from None
