"""Hostile uploads to a real server: malformed multipart, wrong content types, oversized and lying bodies,
archive bombs, links and damaged archives. Each gets a proper 4xx (or a correct 201), never a 500, and
nothing is written outside the data folder or kept half-made in it.

(tests/service/test_service_uploads.py already covers zip-slip, absolute names and symlinks in both archive
kinds, a zip bomb, too many zip entries and an oversized field upload; these extend them.)
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import random
import re
import shutil
import socket
import struct
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import fault_count
from PIL import Image
from service.support import Server, small_script, start_server

from fault.hostile_support import (
    assert_proper,
    hostile_server,
    outside,
    raw_request,
    server_errors,
    socket_request,
    staged,
    status_of,
)

LIMIT = 1_000_000  # the server's --max-upload-mb 1
SCRIPT = small_script("A slide.").encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = hostile_server(tmp_path_factory.mktemp("hostile-uploads"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def project(server: Server) -> str:
    """A project of this module's (made before `unharmed` looks at the data folder)."""
    with server.client() as client:
        return str(client.post("/api/projects", files={"script": ("script.md", SCRIPT)}).json()["id"])


@pytest.fixture
def unharmed(server: Server, project: str) -> Iterator[None]:
    """Around a test: nothing outside the data folder changes, no project appears, staging stays empty."""
    before, projects = outside(server), sorted(server.data.glob("projects/*"))
    yield
    assert outside(server) == before
    assert staged(server) == []
    assert sorted(server.data.glob("projects/*")) == projects
    assert server.process.poll() is None
    assert server_errors(server) == []


def multipart(*parts: tuple[bytes, bytes | None, bytes], boundary: bytes = b"xyz", end: bool = True) -> bytes:
    """A multipart body written by hand: (field name, file name or None, content) per part."""
    body = b""
    for name, filename, content in parts:
        disposition = b'form-data; name="' + name + b'"'
        if filename is not None:
            disposition += b'; filename="' + filename + b'"'
        body += b"--" + boundary + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n"
        body += content + b"\r\n"
    return body + (b"--" + boundary + b"--\r\n" if end else b"")


FORM = "multipart/form-data; boundary=xyz"


def post_form(server: Server, body: bytes, content_type: str = FORM) -> tuple[int, bytes]:
    status, _, answer = raw_request(server, "POST", "/api/projects", body, {"Content-Type": content_type})
    return status, answer


PART = (b"script", b"script.md", SCRIPT)
# (id, body, content type or None for a form with boundary "xyz", status)
FORMS = [
    ("wrong-boundary", multipart(PART), "multipart/form-data; boundary=other", 400),
    ("no-boundary", multipart(PART), "multipart/form-data", 400),
    ("truncated", multipart(PART, end=False)[:-30], None, 422),
    (
        "cut-mid-part",
        b'--xyz\r\nContent-Disposition: form-data; name="script"; filename="s.md"\r\n\r\n#',
        None,
        422,
    ),
    ("assets-without-script", multipart((b"assets", b"a.png", b"x")), None, 422),
    ("unknown-field", multipart((b"other", b"script.md", SCRIPT)), None, 422),
    ("field-not-file", multipart((b"script", None, SCRIPT)), None, 422),
    ("no-disposition", b"--xyz\r\nX-Nothing: here\r\n\r\n## A\r\n--xyz--\r\n", None, 400),
    ("two-scripts", multipart(PART, PART), None, 422),
    ("two-archives", multipart((b"archive", b"a.zip", b"PK"), (b"archive", b"b.zip", b"PK")), None, 422),
    (
        "two-assets-one-name",
        multipart(PART, (b"assets", b"a.png", b"1"), (b"assets", b"a.png", b"2")),
        None,
        422,
    ),
    ("huge-field-name", multipart((b"x" * 200_000, b"script.md", SCRIPT)), None, 400),
    ("huge-file-name", multipart((b"script", b"s" * 200_000 + b".md", SCRIPT)), None, 400),
    ("long-file-name", multipart((b"script", b"s" * 300 + b".md", SCRIPT)), None, 422),
    ("nul-in-name", multipart((b"script", b"scr\x00ipt.md", SCRIPT)), None, 422),
    ("newline-in-name", multipart(PART, (b"assets", b"a\nb.png", b"x")), None, 422),
    ("hidden-name", multipart(PART, (b"assets", b".hidden.png", b"x")), None, 422),
    ("too-many-parts", multipart(*((b"f%d" % i, b"x", b"y") for i in range(1200))), None, 400),
    ("json", b'{"script": "## A"}', "application/json", 422),
    ("urlencoded", b"script=%23%23+A", "application/x-www-form-urlencoded", 422),
    ("markdown", SCRIPT, "text/markdown", 422),
    ("no-content-type", SCRIPT, "", 422),
]


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize(
    ("body", "content_type", "expected"), [c[1:] for c in FORMS], ids=[c[0] for c in FORMS]
)
def test_malformed_forms_are_4xx(
    server: Server, body: bytes, content_type: str | None, expected: int
) -> None:
    status, answer = post_form(server, body, *([content_type] if content_type is not None else []))
    assert_proper(status, answer, expected)
    assert len(answer) < 2000  # an error never echoes the upload back


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize("route", ["renders", "script", "assets"])
@pytest.mark.parametrize("kind", ["json", "multipart", "none", "garbage"])
def test_wrong_content_types_on_project_routes(server: Server, project: str, route: str, kind: str) -> None:
    method = {"renders": "POST", "script": "PUT", "assets": "POST"}[route]
    body, content_type = {
        "json": (b'{"preview": "yes", "x": [1, 2]}', "application/json"),
        "multipart": (multipart(PART), "multipart/form-data; boundary=xyz"),
        "none": (b"", ""),
        "garbage": (bytes(range(256)) * 100, "application/json"),
    }[kind]
    status, _, answer = raw_request(
        server, method, f"/api/projects/{project}/{route}", body, {"Content-Type": content_type}
    )
    if route == "renders" and kind == "none":
        assert_proper(status, answer, 202)  # a render without options is a plain render
        return
    if route == "script" and kind == "multipart":
        assert_proper(status, answer, 200)  # the same script again: a correct edit
        return
    assert_proper(status, answer, 422)
    assert len(answer) < 2000


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize(
    "name", ["../../script.md", "/etc/script.md", "..\\..\\script.md", "a/b/../script.md"]
)
def test_path_names_of_uploads_keep_only_their_base_name(server: Server, name: str) -> None:
    """A script or asset named like a path is stored under its base name inside the project, or refused."""
    image = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 200, 10)).save(image, "PNG")
    asset_name = name.replace("script.md", "pic.png")
    script = small_script("![P](assets/pic.png)").encode()
    with server.client() as client:
        response = client.post(
            "/api/projects",
            files=[("script", (name, script)), ("assets", (asset_name, image.getvalue()))],
        )
        assert_proper(response.status_code, response.text, 201)
        folder = server.data / "projects" / response.json()["id"]
        assert (folder / "script.md").read_bytes() == script
        assert (folder / "assets" / "pic.png").read_bytes() == image.getvalue()
    shutil.rmtree(folder)  # the fixture checks that nothing else was stored, inside or outside the data


@pytest.mark.usefixtures("unharmed")
def test_an_over_limit_content_length_is_413_before_the_body(server: Server) -> None:
    head = (b"POST /api/projects HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=xyz\r\n"
            b"Content-Length: 99999999999999\r\n\r\n")  # fmt: skip
    answer = socket_request(server, head, [b"--xyz\r\n"], shutdown=True)
    assert status_of(answer) == 413 and b"limit" in answer


@pytest.mark.usefixtures("unharmed")
def test_a_chunked_body_over_the_limit_is_413_while_it_streams(server: Server) -> None:
    """No Content-Length to trust: the server counts the bytes and stops at the limit."""
    part = multipart(PART, end=False)
    part += b'--xyz\r\nContent-Disposition: form-data; name="assets"; filename="big.png"\r\n\r\n'
    chunks = [part] + [b"\0" * 65536] * (LIMIT // 65536 + 20)
    head = (b"POST /api/projects HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=xyz\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
    body = [b"%x\r\n%s\r\n" % (len(c), c) for c in chunks]
    answer = socket_request(server, head, body)
    assert status_of(answer) == 413 and b"limit" in answer, answer[:300]


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize("declared", ["short", "long"])
def test_a_lying_content_length_is_answered_or_dropped_cleanly(server: Server, declared: str) -> None:
    """Shorter than the body: the body is cut there (a broken form) and the rest is not a request (a 4xx,
    or the connection closed). Longer: the server waits for bytes that never come until the client gives
    up. Either way nothing is kept and the server goes on."""
    body = multipart(PART)
    length = len(body) // 2 if declared == "short" else len(body) + 5000
    head = (b"POST /api/projects HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=xyz\r\n"
            b"Content-Length: %d\r\n\r\n" % length)  # fmt: skip
    answer = socket_request(server, head, [body], shutdown=True)
    statuses = [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3})", answer)]
    assert all(400 <= s < 500 for s in statuses), answer[:500]
    assert b"Traceback" not in answer
    assert raw_request(server, "GET", "/api/health")[0] == 200


# --- archives -------------------------------------------------------------------------------------------


def tar_gz(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info, content in members:
            archive.addfile(info, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


def member(name: str, content: bytes = b"", **fields: object) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    for key, value in fields.items():
        setattr(info, key, value)
    return info, content if info.isfile() else None


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def central_entries(data: bytes) -> Iterator[tuple[int, str]]:
    """(offset, name) of each entry of a zip's central directory."""
    offset = data.find(b"PK\x01\x02")
    while offset != -1:
        length = struct.unpack_from("<H", data, offset + 28)[0]
        yield offset, data[offset + 46 : offset + 46 + length].decode()
        offset = data.find(b"PK\x01\x02", offset + 46 + length)


def lying_zip(entry: str, *, size: int | None = None, flags: int = 0, method: int | None = None) -> bytes:
    """A valid zip whose central directory then lies about one entry (size, flags, compression method)."""
    data = bytearray(zip_of({"script.md": SCRIPT, "assets/p.png": bytes(range(256)) * 40}))
    for offset, name in central_entries(bytes(data)):
        if name == entry:
            if size is not None:
                struct.pack_into("<I", data, offset + 24, size)
            struct.pack_into("<H", data, offset + 8, struct.unpack_from("<H", data, offset + 8)[0] | flags)
            if method is not None:
                struct.pack_into("<H", data, offset + 10, method)
    return bytes(data)


def declares(size: int) -> bytes:
    """A tar.gz whose one entry's header says ``size`` bytes, followed by a few: refused on the header."""
    info = tarfile.TarInfo("assets/z.png")
    info.size = size
    return gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + bytes(2048))


def deep(levels: int) -> str:
    return "/".join(["d"] * levels)


GZIP_BOMB = 64 * LIMIT  # zeros: a tar.gz of about 64 kB


def with_script(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    """A tar.gz of a script and the given members."""
    return tar_gz(member("script.md", SCRIPT), *members)


LINK, OUT, NONE, UNREAD = "link or special file", "points outside", "no script.md", "cannot be read"
# (id, archive file name, its content (made when the test runs), status, words of the error)
ARCHIVES: list[tuple[str, str, Callable[[], bytes], int, str]] = [
    ("tar-hard-link", "p.tar.gz", lambda: with_script(member("assets/h.png", type=tarfile.LNKTYPE,
                                                             linkname="script.md")), 422, LINK),
    ("tar-device", "p.tar.gz", lambda: with_script(member("assets/d", type=tarfile.CHRTYPE, devmajor=1,
                                                          devminor=3)), 422, LINK),
    ("tar-fifo", "p.tar.gz", lambda: with_script(member("assets/fifo", type=tarfile.FIFOTYPE)), 422, LINK),
    ("tar-symlink-out", "p.tar.gz", lambda: with_script(member("assets/l", type=tarfile.SYMTYPE,
                                                               linkname="../../../secret.txt")), 422, LINK),
    ("tar-absolute", "p.tar.gz", lambda: tar_gz(member("/abs/script.md", SCRIPT)), 422, "points outside"),
    ("tar-dotdot", "p.tar.gz", lambda: with_script(member("assets/../../x.png", b"x")), 422, OUT),
    ("zip-backslash-dotdot", "p.zip", lambda: zip_of({"script.md": SCRIPT, "..\\..\\x.png": b"x"}), 422,
     "points outside"),
    ("tar-300-deep", "p.tar.gz", lambda: tar_gz(member(deep(300) + "/script.md", SCRIPT)), 422, NONE),
    ("zip-300-deep", "p.zip", lambda: zip_of({deep(300) + "/script.md": SCRIPT}), 422, NONE),
    ("tar-3000-entries", "p.tar.gz", lambda: with_script(*(member(f"x/{i}") for i in range(3000))), 413,
     "entries"),
    ("tar-gzip-bomb", "p.tar.gz", lambda: with_script(member("assets/z.png", bytes(GZIP_BOMB))), 413, "MB"),
    ("tar-declares-a-terabyte", "p.tar.gz", lambda: declares(10**12), 413, "MB"),
    ("zip-size-lie-small", "p.zip", lambda: lying_zip("assets/p.png", size=100), 422, "cannot be read"),
    ("zip-size-lie-large", "p.zip", lambda: lying_zip("assets/p.png", size=LIMIT // 2), 422, "assets/p.png"),
    ("zip-size-over-limit", "p.zip", lambda: lying_zip("assets/p.png", size=10 * LIMIT), 413, "MB"),
    ("zip-encrypted", "p.zip", lambda: lying_zip("assets/p.png", flags=0x1), 422, "encrypted"),
    ("zip-unknown-method", "p.zip", lambda: lying_zip("assets/p.png", method=99), 422, "cannot be read"),
    ("zip-says-bzip2", "p.zip", lambda: lying_zip("assets/p.png", method=zipfile.ZIP_BZIP2), 422, UNREAD),
    ("zip-says-lzma", "p.zip", lambda: lying_zip("assets/p.png", method=zipfile.ZIP_LZMA), 422, UNREAD),
    ("zip-truncated", "p.zip", lambda: zip_of({"script.md": SCRIPT})[:-30], 422, "not a readable .zip"),
    ("tar-truncated", "p.tar.gz", lambda: tar_gz(member("script.md", SCRIPT))[:40], 422, "not a readable"),
    ("gzip-garbage", "p.tar.gz", lambda: b"\x1f\x8b" + bytes(100), 422, "not a readable"),
    ("rar", "p.rar", lambda: b"Rar!\x1a\x07\x00", 422, "not an archive"),
]  # fmt: skip


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize(("name", "content", "status", "expected"), [c[1:] for c in ARCHIVES],
                         ids=[c[0] for c in ARCHIVES])  # fmt: skip
def test_hostile_archives(server: Server, name: str, content, status: int, expected: str) -> None:
    with server.client() as client:
        response = client.post("/api/projects", files={"archive": (name, content())})
    assert_proper(response.status_code, response.text, status)
    assert expected in response.json()["error"]


@pytest.mark.usefixtures("unharmed")
@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_bit_flipped_archives_never_fail_the_server(server: Server, kind: str, tmp_path: Path) -> None:
    """Seeded random corruptions of a valid archive: each is refused with a 4xx, or (if the damage missed
    everything that matters) accepted as a valid project."""
    picture = tmp_path / "p.png"
    Image.new("RGB", (48, 32), (200, 100, 50)).save(picture)
    entries = {"script.md": small_script("![P](assets/p.png)").encode(), "assets/p.png": picture.read_bytes()}
    valid = zip_of(entries) if kind == "zip" else tar_gz(*(member(n, c) for n, c in entries.items()))
    rng = random.Random(f"archive-{kind}")
    with server.client() as client:
        for _ in range(fault_count(25, 400)):
            damaged = bytearray(valid)
            for _ in range(rng.randint(1, 4)):
                damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
            if rng.random() < 0.3:
                damaged = damaged[: rng.randrange(len(damaged))]
            response = client.post("/api/projects", files={"archive": (f"p.{kind}", bytes(damaged))})
            assert_proper(response.status_code, response.text, 201, 413, 422)
            if response.status_code == 201:
                shutil.rmtree(server.data / "projects" / response.json()["id"])


def test_large_uploads_are_spooled_inside_the_data_folder(tmp_path: Path) -> None:
    """A file part over Starlette's 1 MB spool size goes to a temporary file: in the data folder's staging
    folder (its disk, emptied at start), never in /tmp outside it."""
    server = start_server(tmp_path / "data", "--max-upload-mb", "5")
    try:
        head = b"POST /api/projects HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n"
        head += f"Content-Type: {FORM}\r\n\r\n".encode()
        part = b'--xyz\r\nContent-Disposition: form-data; name="assets"; filename="big.png"\r\n\r\n'
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
            sock.sendall(head + part + bytes(2_000_000))  # and the rest never comes
            deadline = time.monotonic() + 30
            while not (spooled := open_files(server.process.pid, "deleted")) and time.monotonic() < deadline:
                time.sleep(0.1)
        assert spooled and all(Path(target).parent == server.data / "tmp" for target in spooled), spooled
    finally:
        server.stop()
    assert server_errors(server) == []


def open_files(pid: int, marker: str) -> list[str]:
    """The files a process holds open whose link names contain ``marker`` (with it and the inode cut)."""
    targets = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if marker in (target := os.readlink(fd)):
                targets.append(target.removesuffix(f" ({marker})"))
    return targets
