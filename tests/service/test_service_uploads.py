"""Uploads: by fields and by archive; every refusal is a clear 422/413 and keeps nothing."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from service.support import Server, small_script, upload


def stored(server: Server) -> list[Path]:
    """Every file the service keeps: project folders, and anything left in its staging folder."""
    return sorted(p for p in [*server.data.glob("projects/*"), *server.data.glob("tmp/*")])


def zip_bytes(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def tar_bytes(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


def test_upload_by_fields_stores_a_reelmake_project(server: Server, image: bytes) -> None:
    script = small_script("![Photo](assets/photo.png)", "A slide.")
    with server.client() as client:
        response = upload(client, script, {"photo.png": image})
        assert response.status_code == 201, response.text
        project = response.json()
        detail = client.get(f"/api/projects/{project['id']}").json()
    folder = server.data / "projects" / project["id"]
    assert project["title"] == "Small" and len(project["scenes"]) == 2
    assert (folder / "assets" / "photo.png").read_bytes() == image
    assert (folder / "script.md").read_text() == script
    assert {p.name for p in folder.iterdir()} >= {"Snakefile", "config.yaml", "profiles", "assets"}
    first = detail["scenes"][0]
    assert first["status"] == "pending" and first["index"] == 1 and len(first["hash"]) == 16
    assert first["assets"][0]["path"] == "assets/photo.png" and first["assets"][0]["kind"] == "image"
    assert detail["scenes"][1]["assets"] == []


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_upload_by_archive_in_a_top_folder(server: Server, image: bytes, kind: str) -> None:
    entries = {
        "launch/script.md": small_script("![Photo](assets/photo.png)").encode(),
        "launch/assets/photo.png": image,
        "launch/Snakefile": b"shell('touch /tmp/owned')\n",  # never taken from an upload
    }
    content = zip_bytes(entries) if kind == "zip" else tar_bytes(entries)
    with server.client() as client:
        response = client.post("/api/projects", files={"archive": (f"launch.{kind}", content)})
    assert response.status_code == 201, response.text
    folder = server.data / "projects" / response.json()["id"]
    assert (folder / "assets" / "photo.png").read_bytes() == image
    assert b"touch" not in (folder / "Snakefile").read_bytes()


@pytest.mark.parametrize(
    ("script", "assets", "expected"),
    [
        (small_script("![x](assets/missing.png)"), {}, "assets/missing.png' does not exist"),
        (
            small_script("![x](assets/fake.png)"),
            {"fake.png": b"this is text"},
            "neither an image nor a video",
        ),
        (small_script("![x](../outside.png)"), {}, "points outside the project folder"),
        (SMALL_BAD_FPS := "---\nfps: 31\n---\n## A\nText.\n", {}, "fps"),
        (small_script("Title ☃ ok", "🙂"), {}, "cannot show these characters"),
        ("## A\n<!-- duration: soon -->\n", {}, "duration"),
        (b"\xff\xfe## A\n", {}, "is not UTF-8 text"),
        ("Just notes, no heading.\n", {}, "has no scenes"),
        ("---\ntitle: [oops\n---\n## A\n", {}, "is not valid YAML"),
    ],
    ids=[
        "missing-asset",
        "not-an-image",
        "outside",
        "bad-setting",
        "emoji",
        "bad-option",
        "not-utf8",
        "no-scenes",
        "broken-yaml",
    ],
)
def test_bad_scripts_and_assets_are_422_and_keep_nothing(
    server: Server, script: str | bytes, assets: dict[str, bytes], expected: str
) -> None:
    before = stored(server)
    with server.client() as client:
        response = upload(client, script, assets)
    assert response.status_code == 422, response.text
    message = response.json()["error"]
    assert expected in message
    assert str(server.data) not in message and "Traceback" not in message
    assert stored(server) == before


def test_a_text_file_named_png_is_refused_even_unused(server: Server) -> None:
    with server.client() as client:
        response = upload(client, small_script("A slide."), {"logo.png": b"<svg>not really</svg>"})
    assert response.status_code == 422
    assert "assets/logo.png" in response.json()["error"]


@pytest.mark.parametrize(
    ("entries", "links", "expected"),
    [
        ({"script.md": b"## A\n", "../evil.txt": b"x"}, {}, "points outside"),
        ({"script.md": b"## A\n", "/etc/evil": b"x"}, {}, "points outside"),
        ({"script.md": b"## A\n"}, {"assets/link.png": "/etc/passwd"}, "link or special file"),
    ],
    ids=["zip-slip", "absolute", "symlink"],
)
@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_unsafe_archives_are_refused(
    server: Server, entries: dict[str, bytes], links: dict[str, str], expected: str, kind: str
) -> None:
    before = stored(server)
    content = zip_bytes(entries, links) if kind == "zip" else tar_bytes(entries, links)
    with server.client() as client:
        response = client.post("/api/projects", files={"archive": (f"p.{kind}", content)})
    assert response.status_code == 422, response.text
    assert expected in response.json()["error"]
    assert stored(server) == before
    assert not (server.data.parent / "evil.txt").exists()


def test_oversized_uploads_and_archive_bombs_are_413(server: Server) -> None:
    """The server runs with --max-upload-mb 5 --max-archive-files 50."""
    before = stored(server)
    bomb = zip_bytes({"script.md": b"## A\n", "assets/zeros.png": bytes(6_000_000)})  # compresses to ~6 kB
    many = zip_bytes({"script.md": b"## A\n", **{f"assets/{i}.png": b"x" for i in range(60)}})
    with server.client() as client:
        too_big = upload(client, small_script("A."), {"big.png": bytes(6_000_000)})
        bombed = client.post("/api/projects", files={"archive": ("bomb.zip", bomb)})
        crowded = client.post("/api/projects", files={"archive": ("many.zip", many)})
    assert len(bomb) < 100_000
    assert [too_big.status_code, bombed.status_code, crowded.status_code] == [413, 413, 413]
    assert "limit" in too_big.json()["error"] and "limit" in crowded.json()["error"]
    assert stored(server) == before


def test_editing_the_script_is_checked_before_it_replaces_the_old_one(server: Server) -> None:
    with server.client() as client:
        project = upload(client, small_script("One.", "Two.")).json()
        folder = server.data / "projects" / project["id"]
        old = (folder / "script.md").read_text()
        refused = client.put(
            f"/api/projects/{project['id']}/script",
            files={"script": ("script.md", b"## A\n![x](assets/no.png)\n")},
        )
        assert refused.status_code == 422 and (folder / "script.md").read_text() == old
        edited = client.put(
            f"/api/projects/{project['id']}/script",
            files={"script": ("script.md", small_script("One.", "2").encode())},
        )
    assert edited.status_code == 200
    old_hashes, new_hashes = ([s["hash"] for s in p["scenes"]] for p in (project, edited.json()))
    assert new_hashes[0] == old_hashes[0] and new_hashes[1] != old_hashes[1]


def test_unknown_ids_are_404(server: Server) -> None:
    with server.client() as client:
        assert client.get("/api/projects/../../etc").status_code == 404
        assert client.get("/api/projects/00000000-0000-0000-0000-000000000000").status_code == 404
        assert client.get("/api/jobs/nope").status_code == 404
