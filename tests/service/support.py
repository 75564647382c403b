"""Helpers of the service tests: a real `reelmake serve` on a free loopback port, small scripts."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

from reelmake.service.loadtest import spawn_server

# Silent scenes (no voice to load) of one second at 320x180: a render takes a few seconds.
SMALL = "---\ntitle: Small\nwidth: 320\nheight: 180\n---\n"


def small_script(*scenes: str) -> str:
    """A script with one `## heading` per given scene body; scenes are 1 s unless they say otherwise."""
    body = "".join(f"## Scene {i}\n<!-- duration: 1 -->\n{text}\n\n" for i, text in enumerate(scenes, 1))
    return SMALL + body


@dataclass
class Server:
    """One `reelmake serve` process and an HTTP client for it."""

    data: Path
    port: int
    process: subprocess.Popen[bytes]
    token: str | None = None
    log: Path | None = None  # the server's output

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def events(self, job_id: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every message of the job's WebSocket until the server closes it."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        messages = []
        url = f"ws://127.0.0.1:{self.port}/api/jobs/{job_id}/events"
        with connect(url, additional_headers=headers, open_timeout=30, **kwargs) as ws:
            try:
                while True:
                    messages.append(json.loads(ws.recv(timeout=180)))
            except ConnectionClosedOK:  # the server closes after the final message
                return messages

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(30)


def start_server(data: Path, *args: str, token: str | None = None) -> Server:
    log = data.parent / f"server-{uuid.uuid4().hex[:8]}.log"
    process, port = spawn_server(data, *args, log=log, token=token)
    return Server(data, port, process, token, log)


def upload(
    client: httpx.Client, script: str | bytes, assets: dict[str, bytes] | None = None
) -> httpx.Response:
    content = script.encode() if isinstance(script, str) else script
    files = [("script", ("script.md", content))]
    files += [("assets", (name, content)) for name, content in (assets or {}).items()]
    return client.post("/api/projects", files=files)


def render(server: Server, project_id: str, **options: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start a render and follow its events to the end: (the job when it finished, the events)."""
    with server.client() as client:
        started = client.post(f"/api/projects/{project_id}/renders", json=options or None)
        assert started.status_code == 202, started.text
        events = server.events(started.json()["job_id"])
        return client.get(started.json()["status_url"]).json(), events
