"""Helpers of the hostile-input tests: one real server per module, raw HTTP, the files around its data.

The server's data folder is `<base>/data`; `<base>/secret.txt` is a file outside it that no answer may ever
contain, and `outside(base)` is everything under `<base>` but the data folder and the server's log: it must
be the same after every hostile request (nothing written outside the data folder).
"""

from __future__ import annotations

import http.client
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from service.support import Server, render, small_script, start_server, upload

SECRET = "reelmake-secret-4f1c9e"  # the content of <base>/secret.txt


def hostile_server(base: Path) -> Server:
    """A server with small limits (1 MB uploads, 50 archive entries) and a secret file beside its data."""
    (base / "secret.txt").write_text(SECRET)
    return start_server(base / "data", "--max-upload-mb", "1", "--max-archive-files", "50")


def outside(server: Server) -> dict[str, tuple[int, int]]:
    """Every path under the server's base folder except its data folder and logs: (size, mtime ns)."""
    base = server.data.parent
    return {
        str(p.relative_to(base)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in base.rglob("*")
        if server.data not in (p, *p.parents) and not p.name.startswith("server-")
    }


def server_errors(server: Server) -> list[str]:
    """The lines of the server's log that report an unhandled error (a 500 with a traceback)."""
    lines = [line for log in server.data.parent.glob("server-*.log") for line in log.read_text().splitlines()]
    return [line for line in lines if "Traceback" in line or "Exception in ASGI" in line]


def staged(server: Server) -> list[str]:
    """What the service holds in its staging folder (empty between requests: nothing half-made kept)."""
    return sorted(p.name for p in (server.data / "tmp").iterdir())


def assert_proper(status: int, body: bytes | str, *allowed: int) -> None:
    """A proper answer: one of ``allowed`` (or any 4xx when none are given), never a 5xx, a traceback,
    a server path or the secret file's content."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    assert status in allowed if allowed else 400 <= status < 500, (status, text[:500])
    for leak in ("Traceback", SECRET, "/tmp/", "site-packages"):
        assert leak not in text, (status, text[:500])


def raw_request(
    server: Server, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send ``path`` exactly as given (no normalising of `..` or percent escapes): (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def socket_request(server: Server, head: bytes, chunks: list[bytes], *, shutdown: bool = False) -> bytes:
    """Write a request's head and body chunks to a raw socket and read whatever the server answers; a
    write the server refuses (it answered and closed) ends the writing."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        try:
            sock.sendall(head)
            for chunk in chunks:
                sock.sendall(chunk)
            if shutdown:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while (data := sock.recv(65536)) and not _complete(answer := answer + data):
                pass
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


def _complete(answer: bytes) -> bool:
    """Whether a raw answer holds a whole response (its head and Content-Length bytes of body)."""
    head, found, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"content-length: *(\d+)", head, re.I)
    return bool(found and length and len(body) >= int(length[1]))


def status_of(answer: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.1 (\d{3})", answer)
    return int(match[1]) if match else None


@dataclass(frozen=True)
class Rendered:
    """A finished render: its project and job as the API showed them, and the kept video's bytes."""

    project: dict[str, Any]
    job: dict[str, Any]
    data: bytes = field(repr=False)


def rendered_video(server: Server) -> Rendered:
    """Render one small project."""
    with server.client() as client:
        project = upload(client, small_script("One.", "Two.")).json()
    job, _ = render(server, project["id"])
    assert job["state"] == "succeeded", job
    kept = server.data / "projects" / project["id"] / "renders" / job["job_id"] / "final.mp4"
    return Rendered(project, job, kept.read_bytes())


def byteranges(response: httpx.Response | tuple[dict[str, str], bytes]) -> list[tuple[int, int, bytes]]:
    """The parts of a 206 answer as (first, last, bytes): one part, or each of a multipart/byteranges."""
    headers, content = (
        (response.headers, response.content) if isinstance(response, httpx.Response) else response
    )
    content_type = headers["content-type"]
    if not content_type.startswith("multipart/byteranges"):
        first, last = map(int, re.fullmatch(r"bytes (\d+)-(\d+)/\d+", headers["content-range"]).groups())  # type: ignore[union-attr]
        return [(first, last, content)]
    boundary = content_type.split("boundary=", 1)[1].encode()
    parts = []
    for chunk in content.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, payload = chunk.partition(b"\r\n\r\n")
        match = re.search(rb"Content-Range: bytes (\d+)-(\d+)/\d+", head, re.I)
        assert match, head
        first, last = int(match[1]), int(match[2])
        parts.append((first, last, payload[: last - first + 1]))
        assert payload[last - first + 1 :] == b"\r\n", "a part holds more bytes than its Content-Range says"
    return parts
