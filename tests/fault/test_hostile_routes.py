"""Hostile requests to a real server's {id} routes, media Range headers and WebSocket events: each gets the
right answer (RFC 9110 for ranges), never a 500, never a file outside the data folder."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service.support import Server, small_script, start_server, upload
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus
from websockets.sync.client import connect

from fault.hostile_support import (
    Rendered,
    assert_proper,
    byteranges,
    hostile_server,
    outside,
    raw_request,
    rendered_video,
    server_errors,
    staged,
)
from reelmake.service.app import WS_MAX_MESSAGE


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = hostile_server(tmp_path_factory.mktemp("hostile-routes"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def video(server: Server) -> Rendered:
    """One finished render: its job, project and the kept video's bytes."""
    return rendered_video(server)


@pytest.fixture
def unharmed(server: Server, video: Rendered) -> Iterator[None]:
    before, projects = outside(server), sorted(server.data.glob("projects/*"))
    yield
    assert outside(server) == before
    assert staged(server) == [] and sorted(server.data.glob("projects/*")) == projects
    assert server.process.poll() is None and server_errors(server) == []


# --- {id} routes ----------------------------------------------------------------------------------------

# Every route with ids in its path: (method, path with {p} for a project id and {j} for a job id).
ROUTES = [
    ("GET", "/api/projects/{p}"),
    ("GET", "/api/projects/{p}/videos"),
    ("PUT", "/api/projects/{p}/script"),
    ("POST", "/api/projects/{p}/assets"),
    ("POST", "/api/projects/{p}/renders"),
    ("GET", "/api/jobs/{j}"),
    ("DELETE", "/api/jobs/{j}"),
    ("GET", "/videos/{p}/{j}/final.mp4"),
    ("HEAD", "/videos/{p}/{j}/poster.jpg"),
    ("GET", "/videos/{p}/{j}/download"),
]


def hit(server: Server, method: str, path: str) -> tuple[int, bytes]:
    """One request to a route (a valid script form for the routes that take one): (status, body). An id
    ending in a slash makes a path ending in one, which Starlette redirects (307) to the same path without
    it, on this server: that redirect is checked and followed. (An id of only slashes so leads to the
    project list, whose 200 is right for that path, and is reported as the 404 it is for the id.)"""
    body, headers = b"", {}
    if method in ("PUT", "POST") and not path.endswith("/renders"):
        body = (
            b'--b\r\nContent-Disposition: form-data; name="%s"; filename="script.md"\r\n\r\n## A\r\n--b--\r\n'
        )
        body %= b"script" if path.endswith("/script") else b"assets"
        headers = {"Content-Type": "multipart/form-data; boundary=b"}
    status, answer_headers, answer = raw_request(server, method, path, body, headers)
    if status == 307:
        target = urlsplit(answer_headers["location"])
        assert target.netloc == f"127.0.0.1:{server.port}", answer_headers
        assert unquote(target.path) == unquote(path).rstrip("/") and not target.path.endswith("/"), path
        status, answer = hit(server, method, target.path)
        if target.path == "/api/projects" and method == "GET":
            assert status == 200 and isinstance(json.loads(answer), list)
            return 404, b""
    return status, answer


def hostile_ids(project: str, job: str) -> list[str]:
    """Ids as they appear in a request's path (already percent-encoded where they need to be)."""
    return [
        "..", "%2e%2e", "%2E%2E%2F%2E%2E%2Fsecret.txt", "..%2f..%2f..%2fsecret.txt", "%252e%252e%252f",
        "..%5c..%5csecret.txt", "%00", project.upper(), "{" + project + "}", "urn:uuid:" + project,
        project + "%00", project + "%2f..", project.replace("-", ""), "0" * 36, "%20" + project,
        "x" * 8000, job + "%20", quote("Ω≈ç√") + project, "%ff%fe", "-1", "null", "%7B%7D",
    ]  # fmt: skip


@pytest.mark.usefixtures("unharmed")
def test_hostile_ids_on_every_route_are_4xx(server: Server, video: Rendered) -> None:
    project, job = video.project["id"], video.job["job_id"]
    for bad in hostile_ids(project, job):
        for method, route in ROUTES:
            paths = {route.format(p=bad, j=job), route.format(p=project, j=bad), route.format(p=bad, j=bad)}
            for path in paths - {route.format(p=project, j=job)}:
                status, answer = hit(server, method, path)
                assert_proper(status, answer)
                assert video.data[:64] not in answer  # no video under a wrong id
    # the real ids still work: nothing above changed them
    assert hit(server, "GET", f"/api/jobs/{job}")[0] == 200


@pytest.mark.usefixtures("unharmed")  # around all the examples
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=300))
def test_any_id_text_is_4xx_on_every_route(server: Server, video: Rendered, text: str) -> None:
    """Hypothesis: any text, percent-encoded into the id's place (slashes and dots included)."""
    project, job = video.project["id"], video.job["job_id"]
    bad = quote(text, safe="")
    for method, route in ROUTES:
        for path in {route.format(p=bad, j=job), route.format(p=project, j=bad)} - {
            route.format(p=project, j=job)
        }:
            status, answer = hit(server, method, path)
            assert_proper(status, answer)


# --- Range ----------------------------------------------------------------------------------------------


RANGES: list[tuple[str, str, Any]] = [
    # (id, header with {n} for the size and {m} for size - 1, expected: 200 | 416 | [(first, last), ...]
    # with negative positions counted from the end)
    ("first-byte", "bytes=0-0", [(0, 0)]),
    ("closed", "bytes=100-1099", [(100, 1099)]),
    ("last-byte", "bytes={m}-", [(-1, -1)]),
    ("suffix", "bytes=-500", [(-500, -1)]),
    ("suffix-longer-than-file", "bytes=-99999999", [(0, -1)]),
    ("end-beyond", "bytes=10-99999999999999999999999999", [(10, -1)]),
    ("overlapping", "bytes=0-10,5-20", [(0, 20)]),
    ("adjacent", "bytes=0-1,2-3,4-5", [(0, 5)]),
    ("multi", "bytes=0-10,100-200", [(0, 10), (100, 200)]),
    ("multi-with-suffix", "bytes=0-10,-5", [(0, 10), (-5, -1)]),
    ("multi-unordered", "bytes=100-200, 0-10", [(0, 10), (100, 200)]),
    ("one-satisfiable", "bytes=0-10,{n}-", [(0, 10)]),
    ("empty-elements", "bytes=,0-3,,", [(0, 3)]),
    ("spaces", "bytes= 0-3 , 7-9 ", [(0, 3), (7, 9)]),
    ("upper-unit", "BYTES=0-3", [(0, 3)]),
    ("start-at-size", "bytes={n}-", 416),
    ("start-beyond", "bytes=99999999999999999999999999-", 416),
    ("very-long-number", "bytes=" + "9" * 5000 + "-", 416),
    ("zero-suffix", "bytes=-0", 416),
    ("none-satisfiable", "bytes={n}-,-0", 416),
    ("reversed", "bytes=5-2", 200),
    ("letters", "bytes=abc", 200),
    ("empty", "bytes=", 200),
    ("dash", "bytes=-", 200),
    ("no-equals", "bytes", 200),
    ("other-unit", "items=0-10", 200),
    ("negative", "bytes=--5", 200),
    ("negative-end", "bytes=-5--1", 200),
    ("three-numbers", "bytes=1-2-3", 200),
    ("underscores", "bytes=1_0-2_0", 200),
    ("plus", "bytes=+1-2", 200),
    ("arabic-digits", "bytes=\u0663-\u0664", 200),
    ("one-bad-of-two", "bytes=0-10,abc", 200),
    ("too-many", "bytes=" + ",".join(f"{2 * i}-{2 * i}" for i in range(101)), 200),
]


def resolve(position: int, size: int) -> int:
    """A position of the table: from the start, or (negative) from the end (-1 is the last byte)."""
    return position if position >= 0 else size + position


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize(("header", "expected"), [r[1:] for r in RANGES], ids=[r[0] for r in RANGES])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_range_headers_get_the_rfc_9110_answer(
    server: Server, video: Rendered, header: str, expected: Any, method: str
) -> None:
    data, size = video.data, len(video.data)
    header = header.format(n=size, m=size - 1)
    status, headers, body = raw_request(
        server, method, video.job["video_url"], headers={"Range": header.encode("utf-8").decode("latin-1")}
    )
    assert_proper(status, body, 200 if expected == 200 else 416 if expected == 416 else 206)
    if expected == 200:
        assert int(headers["content-length"]) == size and (method == "HEAD" or body == data)
    elif expected == 416:
        assert headers["content-range"] == f"bytes */{size}"
    elif method == "GET":
        spans = [(resolve(a, size), resolve(b, size)) for a, b in expected]
        parts = byteranges((headers, body))
        assert [(first, last) for first, last, _ in parts] == spans
        assert all(content == data[first : last + 1] for first, last, content in parts)
    else:
        assert body == b"" and headers["content-length"]


RANGE_SPEC = st.one_of(
    st.tuples(st.integers(0, 3000), st.none() | st.integers(0, 3000)),
    st.tuples(st.none(), st.integers(0, 3000)),
)


@pytest.mark.usefixtures("unharmed")  # around all the examples
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    specs=st.lists(RANGE_SPEC, min_size=1, max_size=6),
    garbage=st.none()
    | st.text(st.characters(exclude_categories=["Cc", "Cs"], exclude_characters="0123456789-,"), max_size=20),
    spaces=st.sampled_from(["", " ", "\t"]),
)
def test_any_range_header_is_answered_exactly(
    server: Server, video: Rendered, specs: list, garbage: str | None, spaces: str
) -> None:
    """Hypothesis: ranges near and beyond the end of the file (scaled to it), sometimes with garbage in the
    list. Valid and satisfiable: 206 with exactly the requested bytes; valid, none satisfiable: 416; not
    valid: 200 and the whole file."""
    data = video.data
    size = len(data)
    scale = size / 2000  # positions 0..3000 reach 1.5 times the file
    parts, wanted, valid = [], set(), True
    for first, last in specs:
        if first is None:
            length = int(last * scale)
            parts.append(f"-{length}")
            wanted |= set(range(max(size - length, 0), size)) if length else set()
        else:
            first = int(first * scale)
            last = None if last is None else int(last * scale)
            parts.append(f"{first}-{'' if last is None else last}")
            valid &= last is None or last >= first
            wanted |= set(range(first, min(size, (last + 1) if last is not None else size)))
    if garbage is not None:
        parts.insert(len(parts) // 2, garbage)
        valid &= garbage.strip(" \t") == ""  # an empty list element is allowed; anything else is not
    header = "bytes=" + f",{spaces}".join(parts)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        response = client.get(video.job["video_url"], headers={"Range": header.encode()})
    assert_proper(response.status_code, b"", 200, 206, 416)
    if not valid:
        assert response.status_code == 200 and response.content == data, header
    elif not wanted:
        assert response.status_code == 416 and response.headers["content-range"] == f"bytes */{size}", header
    else:
        assert response.status_code == 206, header
        served = set()
        for first, last, content in byteranges(response):
            assert content == data[first : last + 1]
            served |= set(range(first, last + 1))
        assert served == wanted, header


# --- WebSocket ------------------------------------------------------------------------------------------


def ws_url(server: Server, job: str) -> str:
    return f"ws://127.0.0.1:{server.port}/api/jobs/{job}/events"


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize("job", ["nope", "00000000-0000-0000-0000-000000000000", "%2e%2e", "x" * 4000])
def test_a_websocket_to_an_unknown_job_is_404(server: Server, job: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(server, job), open_timeout=30)
    assert refused.value.response.status_code == 404


def follow(ws: Any) -> list[dict[str, Any]]:
    messages = []
    try:
        while True:
            messages.append(json.loads(ws.recv(timeout=120)))
    except ConnectionClosedOK:
        return messages


@pytest.mark.usefixtures("unharmed")
def test_garbage_frames_change_nothing(server: Server, video: Rendered) -> None:
    """While a job renders: one watcher sends binary, invalid JSON, unknown message types (ignored: it
    still gets every event), one sends a message over the size limit (its socket is closed, 1009), one
    vanishes without a close frame; a clean watcher sees the whole ordered stream, and the job succeeds."""
    with server.client() as client:
        project = upload(client, small_script("One.", "Two.", "Three.")).json()["id"]
        job = client.post(f"/api/projects/{project}/renders").json()["job_id"]
    with (
        connect(ws_url(server, job), open_timeout=30) as clean,
        connect(ws_url(server, job), open_timeout=30) as noisy,
        connect(ws_url(server, job), open_timeout=30, max_size=None) as huge,
    ):
        with connect(ws_url(server, job), open_timeout=30) as vanishing:
            vanishing.socket.shutdown(socket.SHUT_RDWR)  # no close frame: the client is simply gone
        for frame in (b"\x00\xff" * 100, "not json {", json.dumps({"type": "cancel"}), json.dumps([1, 2])):
            noisy.send(frame)
        huge.send("x" * (WS_MAX_MESSAGE + 1))
        with pytest.raises(ConnectionClosed) as closed:
            follow(huge)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        events, noisy_events = follow(clean), follow(noisy)
    assert events[0]["type"] == "snapshot" and events[-1]["type"] == "succeeded"
    done = [e["done"] for e in events if e["type"] == "progress"]
    assert done == sorted(done) and done[-1] == events[-2]["total"]
    assert [e["type"] for e in noisy_events[-2:]] == [events[-2]["type"], "succeeded"]
    with server.client() as client:
        assert client.get(f"/api/jobs/{job}").json()["state"] == "succeeded"
    shutil.rmtree(server.data / "projects" / project)


# --- token ----------------------------------------------------------------------------------------------


def test_garbage_credentials_are_401_and_the_scheme_is_case_insensitive(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", token="sekrit")
    try:
        for value in (
            b"Bearer \xff\xfe",
            b"Bearer",
            b"Basic c2Vrcml0",
            b"Bearer sekrit2",
            b"sekrit",
            b"x" * 6000,
        ):
            status, _, answer = raw_request(server, "GET", "/api/health", headers={"Authorization": value})
            assert_proper(status, answer, 401)
        for cookie in (b"reelmake_token=\xff", b'reelmake_token="sekrit', b"reelmake_token=" + b"s" * 6000):
            status, _, answer = raw_request(server, "GET", "/api/health", headers={"Cookie": cookie})
            assert_proper(status, answer, 401)
        for value in (b"Bearer sekrit", b"bearer sekrit", b"BEARER  sekrit"):  # RFC 9110 11.1
            assert raw_request(server, "GET", "/api/health", headers={"Authorization": value})[0] == 200
        with pytest.raises(InvalidStatus) as refused:
            connect(
                ws_url(server, "x"), additional_headers={"Authorization": "Bearer  sekrit2"}, open_timeout=30
            )
        assert refused.value.response.status_code == 401
    finally:
        server.stop()
    assert server_errors(server) == []
