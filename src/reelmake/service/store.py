"""The job table: a small interface (JobStore) and its embedded SQLite implementation (`reelmake.db`).

A job is one render request of one project: the seed's Video Generation Job. Another database can replace
SQLite by implementing JobStore; the rest of the service only uses these methods.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

ACTIVE = ("queued", "running", "interrupted")  # a job in one of these states will (still) run
FINISHED = ("succeeded", "failed", "cancelled")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Job:
    """One render of one project; ``scenes`` maps a scene hash to its status during this render."""

    job_id: str
    project_id: str
    preview: bool = False
    state: str = "queued"
    done: int = 0
    total: int = 0
    stage: str = "queued"
    error: str | None = None
    created_at: str = field(default_factory=now)
    started_at: str | None = None
    finished_at: str | None = None
    resources: dict[str, float] | None = None
    scenes: dict[str, str] = field(default_factory=dict)

    @property
    def progress(self) -> float:
        return 1.0 if self.state == "succeeded" else (self.done / self.total if self.total else 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "progress": self.progress}


class JobStore(Protocol):
    def add(self, project_id: str, *, preview: bool) -> Job: ...
    def get(self, job_id: str) -> Job | None: ...
    def save(self, job: Job) -> None: ...
    def for_project(self, project_id: str) -> list[Job]: ...
    def in_states(self, states: tuple[str, ...]) -> list[Job]: ...


class SqliteJobStore:
    """Jobs in one SQLite table; the columns are the job's fields, dicts stored as JSON."""

    def __init__(self, path: Path) -> None:
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, project_id TEXT NOT NULL, "
            "preview INTEGER, state TEXT, done INTEGER, total INTEGER, stage TEXT, error TEXT, "
            "created_at TEXT, started_at TEXT, finished_at TEXT, resources TEXT, scenes TEXT)"
        )
        self.db.execute("CREATE INDEX IF NOT EXISTS jobs_project ON jobs (project_id, created_at)")

    def add(self, project_id: str, *, preview: bool) -> Job:
        job = Job(job_id=str(uuid.uuid4()), project_id=project_id, preview=preview)
        self.save(job)
        return job

    def save(self, job: Job) -> None:
        row = asdict(job)
        row["resources"] = json.dumps(job.resources) if job.resources is not None else None
        row["scenes"] = json.dumps(job.scenes)
        names = ", ".join(row)
        with self.lock:
            self.db.execute(
                f"INSERT OR REPLACE INTO jobs ({names}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )

    def get(self, job_id: str) -> Job | None:
        rows = self._select("job_id = ?", (job_id,))
        return rows[0] if rows else None

    def for_project(self, project_id: str) -> list[Job]:
        return self._select("project_id = ?", (project_id,))

    def in_states(self, states: tuple[str, ...]) -> list[Job]:
        return self._select(f"state IN ({', '.join('?' * len(states))})", states)

    def _select(self, where: str, values: tuple[Any, ...]) -> list[Job]:
        with self.lock:
            cursor = self.db.execute(f"SELECT * FROM jobs WHERE {where} ORDER BY created_at", values)
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        jobs = []
        for values_ in rows:
            row = dict(zip(names, values_, strict=True))
            row["preview"] = bool(row["preview"])
            row["resources"] = json.loads(row["resources"]) if row["resources"] else None
            row["scenes"] = json.loads(row["scenes"] or "{}")
            jobs.append(Job(**row))
        return jobs
