"""`reelmake serve --profile profiles/slurm`: the service submits its renders to the real one-node SLURM
cluster that `make test-cluster` starts (skipped by the ordinary suite, like test_slurm_render)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from service.support import Server, render, start_server, upload
from test_slurm_render import FAILING_JOBS, TEST_CLUSTER_PROFILE, job_logs, pytestmark

__all__ = ["pytestmark"]  # the cluster tests' skip marker applies here too

SCRIPT = "---\ntitle: On the cluster\nwidth: 320\nheight: 180\n---\n" + "".join(
    f"## Scene {n}\nThis is scene number {n}.\n\n" for n in range(1, 3)
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose renders go through each project's profiles/slurm; its workers' Pythons fail inside a
    SLURM job when the project's FAIL file exists (see FAILING_JOBS, here gated on that file)."""
    base = tmp_path_factory.mktemp("slurm-service")
    hooks = base / "hooks"
    hooks.mkdir()
    gated = FAILING_JOBS.replace(
        'if os.environ.get("SLURM_JOB_ID"):', 'if os.environ.get("SLURM_JOB_ID") and os.path.exists("FAIL"):'
    )
    (hooks / "sitecustomize.py").write_text(gated)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(hooks))
        running = start_server(base / "data", "--profile", "profiles/slurm")
    yield running
    running.stop()


def new_project(server: Server) -> Path:
    with server.client() as client:
        created = upload(client, SCRIPT)
    assert created.status_code == 201, created.text
    folder = server.data / "projects" / created.json()["id"]
    with (folder / "profiles" / "slurm" / "config.yaml").open("a") as profile:
        profile.write(TEST_CLUSTER_PROFILE)  # as test_slurm_render's projects: no accounting database
    return folder


def test_the_service_renders_on_the_cluster(server: Server) -> None:
    folder = new_project(server)
    job, events = render(server, folder.name)
    assert job["state"] == "succeeded", job
    logs = job_logs(folder)
    scene_logs = {
        name: slurm_job for name, slurm_job in logs.items() if re.match(r"\w+/[0-9a-f]{16}\.log$", name)
    }
    # Two still scenes of three steps each (picture, narration, clip): every one ran in a SLURM job.
    assert len(scene_logs) == 6 and all(scene_logs.values()), logs
    assert logs["compose.log"] is not None
    assert [e["done"] for e in events if e["type"] == "progress"][-1] == job["total"]
    assert job["resources"]["wall_s"] > 0


def test_a_failed_cluster_job_is_the_jobs_error_with_scene_and_slurm_log(server: Server) -> None:
    folder = new_project(server)
    (folder / "FAIL").touch()
    job, _ = render(server, folder.name)
    assert job["state"] == "failed"
    failed = re.search(r"scene (\d) 'Scene \d' failed \([0-9a-f]{16}\); SLURM log: ([^;\s]+)", job["error"])
    assert failed, job["error"]
    assert not failed[2].startswith("/")  # relative to the project: no server path in an error
    assert "injected failure" in (folder / failed[2]).read_text()
