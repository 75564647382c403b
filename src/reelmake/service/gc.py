"""`reelmake gc --data DIR`: what the studio's data folder no longer needs.

Per project: renders beyond the policy (`--keep N` newest, `--older-than DAYS`), then scene folders that
neither the current script (full render and preview) nor any kept render uses. A project with a queued or
running job is skipped whole, so nothing a render needs disappears under it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reelmake.errors import UserError
from reelmake.plan import output_bytes, remove_output, unused_outputs
from reelmake.service.runner import render_folder
from reelmake.service.store import ACTIVE, SqliteJobStore


@dataclass(frozen=True)
class Removal:
    """One thing gc would delete: a project's scene folder or fade segment, or one of its kept renders."""

    project: Path
    folder: Path
    size: int
    why: str

    def remove(self) -> None:
        if self.folder.parent.name == "renders":
            shutil.rmtree(self.folder)
        else:
            remove_output(self.project, self.folder)


def data_removals(
    data: Path, *, keep: int | None, older_than_days: float | None, busy: set[Path] | None = None
) -> tuple[list[Removal], list[str]]:
    """Everything gc would delete under ``data``, and the projects it skipped (with the reason):
    those with a queued or running job, and the ``busy`` ones (whose lock a render holds)."""
    if not (data / "reelmake.db").is_file():
        raise UserError(f"{data} is not a reelmake serve data folder (it has no reelmake.db).")
    store = SqliteJobStore(data / "reelmake.db")
    removals: list[Removal] = []
    skipped: list[str] = []
    for project in sorted(p for p in (data / "projects").glob("*") if p.is_dir()):
        jobs = store.for_project(project.name)
        if busy and project.resolve() in busy:
            skipped.append(f"{project.name}: it is being rendered")
            continue
        if any(job.state in ACTIVE for job in jobs):
            skipped.append(f"{project.name}: a render is queued or running")
            continue
        renders = [
            (job.job_id, job.finished_at or job.created_at) for job in jobs if job.state == "succeeded"
        ]
        try:
            removals += project_removals(project, renders, keep=keep, older_than_days=older_than_days)
        except UserError as error:  # a script that no longer checks: which scenes it uses is unknown
            skipped.append(f"{project.name}: {error}")
    return removals, skipped


def project_removals(
    project: Path, renders: list[tuple[str, str]], *, keep: int | None, older_than_days: float | None
) -> list[Removal]:
    """``renders`` are (job id, finished ISO time) of the project's succeeded renders."""
    now = datetime.now(UTC)
    removals = []
    kept_scenes: set[str] = set()
    newest_first = sorted(renders, key=lambda render: render[1], reverse=True)
    for rank, (job_id, finished) in enumerate(newest_first):
        folder = render_folder(project, job_id)
        if not folder.is_dir():
            continue
        age_days = (now - datetime.fromisoformat(finished)).total_seconds() / 86400
        if keep is not None and rank >= keep:
            removals.append(
                Removal(project, folder, output_bytes(folder), f"beyond the {keep} newest renders")
            )
        elif older_than_days is not None and age_days > older_than_days:
            removals.append(
                Removal(project, folder, output_bytes(folder), f"older than {older_than_days:g} days")
            )
        else:
            kept_scenes |= _render_scenes(folder)
    for output in unused_outputs(project, kept_scenes):
        removals.append(Removal(project, output, output_bytes(output), "no script or kept render uses it"))
    return removals


def _render_scenes(render: Path) -> set[str]:
    try:
        return {scene["hash"] for scene in json.loads((render / "manifest.json").read_text())["scenes"]}
    except (OSError, ValueError, KeyError, TypeError):
        return set()
