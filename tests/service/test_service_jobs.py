"""The queue and the lifecycle of jobs: --workers 1, cancel, a server killed mid-render, tokens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from service.support import Server, small_script, start_server, upload

# Long enough to act on mid-render: five scenes of two seconds.
LONGER = small_script(*[f"<!-- duration: 2 -->\nSlide {i}." for i in range(5)])


def wait_for(client: httpx.Client, job_id: str, states: tuple[str, ...], timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {states}: {job}")


def test_two_projects_with_one_worker_queue_then_both_succeed(server: Server) -> None:
    with server.client() as client:
        first, second = (upload(client, small_script(f"Project {n}.")).json()["id"] for n in (1, 2))
        a = client.post(f"/api/projects/{first}/renders").json()
        b = client.post(f"/api/projects/{second}/renders").json()
        assert client.get(b["status_url"]).json()["queue_position"] == 1  # waits behind the first
        events_b = server.events(b["job_id"])
        job_a, job_b = wait_for(client, a["job_id"], ("succeeded",)), client.get(b["status_url"]).json()
    assert events_b[0]["type"] == "snapshot" and events_b[-1]["type"] == "succeeded"
    assert job_b["state"] == "succeeded"
    assert job_a["finished_at"] <= job_b["started_at"]  # never two renders at once with --workers 1


def test_cancel_stops_the_render_and_leaves_no_final_file(server: Server) -> None:
    with server.client() as client:
        project_id = upload(client, LONGER).json()["id"]
        job = client.post(f"/api/projects/{project_id}/renders").json()
        wait_for(client, job["job_id"], ("running",))
        time.sleep(1.0)  # Snakemake is rendering scenes
        cancelled = client.delete(f"/api/jobs/{job['job_id']}").json()
        time.sleep(1.0)
        after = client.get(job["status_url"]).json()
        again = client.post(f"/api/projects/{project_id}/renders")
    folder = server.data / "projects" / project_id
    assert cancelled["state"] == "cancelled" and after["state"] == "cancelled"
    assert after["done"] < 20 and not (folder / "build" / "final.mp4").exists()
    assert not list((folder / "build").rglob(".*.tmp-*"))
    assert not _processes_in(folder)  # the whole process group is gone
    assert again.status_code == 202  # the folder is free for the next render
    assert server.events(again.json()["job_id"])[-1]["type"] == "succeeded"


def _processes_in(folder: Path) -> list[int]:
    """Processes whose command line names the project folder (the worker)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(folder).encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_a_server_killed_mid_render_resumes_the_job_on_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    with server.client() as client:
        project_id = upload(client, LONGER).json()["id"]
        job = client.post(f"/api/projects/{project_id}/renders").json()
        deadline = time.monotonic() + 120
        while (before := client.get(job["status_url"]).json())["done"] < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    server.stop(signal.SIGKILL)
    folder = data / "projects" / project_id
    deadline = time.monotonic() + 30
    while _processes_in(folder) and time.monotonic() < deadline:  # the worker dies with its server
        time.sleep(0.2)
    assert not _processes_in(folder)
    restarted = start_server(data)
    try:
        with restarted.client() as client:
            finished = wait_for(client, job["job_id"], ("succeeded", "failed"))
            video = client.get(finished["video_url"])
    finally:
        restarted.stop()
    assert finished["state"] == "succeeded", finished
    assert video.status_code == 200 and video.content == (folder / "build" / "final.mp4").read_bytes()
    # Resumed, not restarted: the second Snakemake had fewer jobs left than the first had in all.
    assert before["done"] >= 3 and finished["total"] < before["total"]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Server:
    server = start_server(tmp_path_factory.mktemp("guarded") / "data", token="s3cret")
    yield server
    server.stop()


def test_token_is_required_on_http_and_websocket(guarded: Server) -> None:
    with httpx.Client(base_url=guarded.url) as anonymous:
        assert anonymous.get("/api/health").status_code == 401
        page = anonymous.get("/")
        assert page.status_code == 401 and "text/html" in page.headers["content-type"]
        assert "?token=" in page.text  # a person at a browser is told how to get in
        assert anonymous.get("/api/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert anonymous.get("/docs").status_code == 200
    with guarded.client() as client:
        assert client.get("/api/health").json()["status"] == "ok"
        job = client.post(f"/api/projects/{upload(client, small_script('A.')).json()['id']}/renders").json()
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{guarded.port}/api/jobs/{job['job_id']}/events", open_timeout=30)
    assert refused.value.response.status_code == 401
    assert guarded.events(job["job_id"])[-1]["type"] == "succeeded"


def test_the_page_keeps_the_token_from_the_link_in_a_cookie(guarded: Server) -> None:
    with httpx.Client(base_url=guarded.url) as browser:
        landing = browser.get("/?token=s3cret")
        assert landing.status_code == 303 and landing.headers["location"] == "/"
        assert "httponly" in landing.headers["set-cookie"].lower()
        page = browser.get("/")
        health = browser.get("/api/health")
    assert page.status_code == 200 and "reelmake studio" in page.text
    assert health.status_code == 200
    with httpx.Client(base_url=guarded.url) as stranger:
        assert stranger.get("/api/health?token=s3cret").status_code == 401  # only the page reads ?token=


def test_a_public_address_needs_a_token() -> None:
    env = {k: v for k, v in os.environ.items() if k != "REELMAKE_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "reelmake.cli", "serve", "--host", "0.0.0.0", "--data", "/nonexistent/x"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "needs a token" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_server_collects_garbage_on_a_schedule(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--gc-every", "0.0005", "--gc-keep", "1")  # every 1.8 s
    try:
        with server.client() as client:
            project_id = upload(client, small_script("First.")).json()["id"]
            first = client.post(f"/api/projects/{project_id}/renders").json()
            assert server.events(first["job_id"])[-1]["type"] == "succeeded"
            client.put(
                f"/api/projects/{project_id}/script", files={"script": ("script.md", small_script("2."))}
            )
            second = client.post(f"/api/projects/{project_id}/renders").json()
            assert server.events(second["job_id"])[-1]["type"] == "succeeded"
            renders = server.data / "projects" / project_id / "renders"
            deadline = time.monotonic() + 30
            while len(list(renders.iterdir())) > 1 and time.monotonic() < deadline:
                time.sleep(0.3)
            assert [p.name for p in renders.iterdir()] == [second["job_id"]]
            assert client.get(client.get(first["status_url"]).json()["video_url"]).status_code == 404
            assert client.get(client.get(second["status_url"]).json()["video_url"]).status_code == 200
    finally:
        server.stop()
