"""The service on a disk that fills during a render: a failed job with the full-disk message, which names
no server path, and the previous render still served byte for byte."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from service.support import render, start_server, upload
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

from fault.disk_support import filled, small_disk
from reelmake.diskspace import MIN_FREE_BYTES, is_disk_full
from reelmake.service.projects import Limits, ProjectStore
from reelmake.service.runner import Runner
from reelmake.service.store import Job, SqliteJobStore

SCRIPT = "---\ntitle: Noise\nwidth: 640\nheight: 360\n---\n## Noise\n<!-- duration: {s}, motion: none -->\n"
SCRIPT += "![Noise](assets/noise.png)\n"


def noise_png() -> bytes:
    """A photo that barely compresses: every step of its scene writes hundreds of kB."""
    pixels = np.random.default_rng(3).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_a_render_that_fills_the_disk_fails_with_the_message_and_the_last_video_stays(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", 24) as data:
        server = start_server(data)
        try:
            with server.client() as client:
                project = upload(client, SCRIPT.format(s=2), {"noise.png": noise_png()}).json()
            first, _ = render(server, project["id"])
            assert first["state"] == "succeeded", first
            with server.client() as client:
                video = client.get(first["video_url"]).content
                client.put(
                    f"/api/projects/{project['id']}/script",
                    files={"script": ("script.md", SCRIPT.format(s=3))},
                ).raise_for_status()
                started = client.post(f"/api/projects/{project['id']}/renders").json()
            # The free-space check passes (the disk has room); the disk fills once the render is under way.
            url = f"ws://127.0.0.1:{server.port}/api/jobs/{started['job_id']}/events"
            with connect(url, open_timeout=30) as ws:
                message = json.loads(ws.recv(timeout=180))
                while message["type"] not in ("progress", "succeeded", "failed"):
                    message = json.loads(ws.recv(timeout=180))
                with filled(data, MIN_FREE_BYTES // 4):
                    try:
                        while True:
                            message = json.loads(ws.recv(timeout=180))
                    except ConnectionClosedOK:
                        pass
                    with server.client() as client:
                        job = client.get(started["status_url"]).json()
                        served = client.get(first["video_url"]).content
            assert job["state"] == "failed" and message == {"type": "failed", "error": job["error"]}
            # Where it fills depends on how far the render got: any step names what it was making.
            assert re.fullmatch(
                r"the disk holding build is full \(needed about [\d.,]+ [kM]B more for (scene 1 'Noise'|the "
                r"final join|the canonical script \(build/script\.yaml\))\): free space and run again "
                r"\(`reelmake gc` lists rendered files the script no longer uses\)",
                job["error"],
            ), job["error"]
            assert served == video
            again, _ = render(server, project["id"])  # space freed: the render finishes
            assert again["state"] == "succeeded"
        finally:
            server.stop()


def test_keeping_a_render_with_no_file_entry_left_keeps_nothing(tmp_path: Path) -> None:
    """renders/<job>/ takes hard links of the published files: with no file entry for them, it is
    removed whole (the job then fails with the full-disk message), never left half-linked."""
    with small_disk(tmp_path / "disk", 4, files=100) as disk:
        project = disk / "project"
        (project / "build").mkdir(parents=True)
        for name in ("final.mp4", "final.srt", "manifest.json"):
            (project / "build" / name).write_bytes(b"x")
        (project / "renders").mkdir()
        count = 0
        with pytest.raises(OSError):
            while True:  # use up the file entries
                (disk / f"filler{count}").touch()
                count += 1
        (disk / "filler0").unlink()  # room for the render's folder, none for its links
        runner = Runner(
            SqliteJobStore(tmp_path / "jobs.db"), ProjectStore(tmp_path / "data", Limits()), workers=1
        )
        job = Job("j", "p")
        with pytest.raises(OSError) as full:
            runner._keep_render(project, job)
        assert is_disk_full(full.value)
        assert list((project / "renders").iterdir()) == []
