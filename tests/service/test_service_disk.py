"""The disk-space check before a render: too little free space fails the job at once, writing nothing."""

from __future__ import annotations

import asyncio
import io
import shutil
from pathlib import Path
from typing import Any

import pytest

from reelmake.service import runner as runner_module
from reelmake.service.projects import Limits, ProjectStore, Upload
from reelmake.service.runner import Runner
from reelmake.service.store import SqliteJobStore
from service.support import small_script


def test_too_little_free_space_fails_the_job_before_snakemake_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    projects = ProjectStore(tmp_path, Limits())
    jobs = SqliteJobStore(tmp_path / "reelmake.db")
    project_id, _ = projects.create(Upload("script.md", io.BytesIO(small_script("A.").encode())), [], None)
    real = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        runner_module.shutil, "disk_usage", lambda _: real._replace(free=100_000)
    )  # 100 kB free
    runner = Runner(jobs, projects, workers=1)
    messages: list[dict[str, Any]] = []

    async def run() -> None:
        job, _ = runner.submit(project_id, preview=False)
        listener = runner.subscribe(job.job_id)
        await runner._run(job)
        messages.append(listener.get_nowait())

    asyncio.run(run())
    (job,) = jobs.for_project(project_id)
    assert job.state == "failed" and "not enough free disk space: 100 kB free" in (job.error or "")
    assert messages == [{"type": "failed", "error": job.error}]
    assert not (tmp_path / "projects" / project_id / "build").exists()
