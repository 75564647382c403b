"""WebSocket watchers change nothing: 20 on one job all get every event, and clients that vanish mid-job
(a reset connection, a plain close) neither stop the render nor leave the server holding anything."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service.support import Server, small_script, start_server, upload
from websockets.sync.client import connect

WATCHERS = 20
# Long enough to watch: five scenes of two seconds (about 20 steps).
SCRIPT = small_script(*[f"<!-- duration: 2 -->\nSlide {i}." for i in range(5)])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = start_server(tmp_path / "data")
    yield running
    running.stop()


def usage(pid: int) -> dict[str, int]:
    """The server's open files, threads and resident memory (kB), from /proc."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(status["Threads"]),
        "rss_kb": int(status["VmRSS"].split()[0]),
    }


def vanish(server: Server, job_id: str) -> None:
    """Open the job's WebSocket by hand, read its first frame, then reset the connection (no close)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw:
        key = base64.b64encode(os.urandom(16)).decode()
        raw.sendall(
            f"GET /api/jobs/{job_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += raw.recv(4096)
        assert answer.startswith(b"HTTP/1.1 101"), answer
        if answer.endswith(b"\r\n\r\n"):
            raw.recv(4096)  # the snapshot
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST


def test_twenty_watchers_and_vanishing_clients_change_nothing(server: Server) -> None:
    before = usage(server.process.pid)
    with server.client() as client:
        project_id = upload(client, SCRIPT).json()["id"]
        job = client.post(f"/api/projects/{project_id}/renders").json()
        seen: list[list[dict[str, Any]]] = [[] for _ in range(WATCHERS)]
        watchers = [
            threading.Thread(target=lambda n=n: seen[n].extend(server.events(job["job_id"])))
            for n in range(WATCHERS)
        ]
        for watcher in watchers:
            watcher.start()
        for _ in range(3):  # mid-job: clients that reset the connection, and one that closes early
            vanish(server, job["job_id"])
            with connect(f"ws://127.0.0.1:{server.port}/api/jobs/{job['job_id']}/events") as early:
                early.recv(timeout=30)
            time.sleep(0.3)
        for watcher in watchers:
            watcher.join(300)
        finished = client.get(job["status_url"]).json()
        video = client.get(finished["video_url"])
    assert finished["state"] == "succeeded", finished
    assert video.content == (server.data / "projects" / project_id / "build" / "final.mp4").read_bytes()
    for events in seen:
        snapshot, *progress, last = events
        assert snapshot["type"] == "snapshot" and last["type"] == "succeeded", events
        done = [event["done"] for event in progress]
        # Every step after the snapshot, none lost: consecutive counts up to the total.
        assert done == list(range(done[0], finished["total"] + 1)) and done[0] <= snapshot["done"] + 1
    time.sleep(1.0)  # the server notices the last closes
    after = usage(server.process.pid)
    assert server.log is not None and "Traceback" not in server.log.read_text()
    # One thread more is asyncio's default executor, which keeps the thread that estimated the render's
    # disk space (runner.needed_bytes); nothing grows with the watchers.
    assert after["fds"] <= before["fds"] and after["threads"] <= before["threads"] + 1, (before, after)
    print(f"\nserver before {json.dumps(before)}, after {json.dumps(after)}")
