"""The one exception type for a user's mistake: its message is shown as is, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A problem in the user's script, assets or settings.

    The message names the file (and scene and line where known) and says what to do.
    """

    def __init__(
        self, message: str, *, file: str | None = None, scene: str | None = None, line: int | None = None
    ) -> None:
        self.file = file
        self.scene = scene
        self.line = line
        self.detail = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file:
            where.append(self.file + (f":{self.line}" if self.line else ""))
        if self.scene:
            where.append(f"scene {self.scene}")
        return (", ".join(where) + ": " if where else "") + self.detail
