"""Renders through the service: live events, the videos served with Range, downloads, edits, previews."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reelmake.probe import probe
from service.support import Server, render, small_script, upload


@pytest.fixture(scope="module")
def rendered(server: Server, image: bytes) -> dict[str, Any]:
    """A two-scene project (a photo, a narrated slide) rendered once; its job, events and project id."""
    script = small_script("![Photo](assets/photo.png)", "Hello there.")
    with server.client() as client:
        project = upload(client, script, {"photo.png": image}).json()
    job, events = render(server, project["id"])
    return {"project": project, "job": job, "events": events}


def test_progress_events_arrive_in_order_and_end_in_succeeded(rendered: dict[str, Any]) -> None:
    events, job = rendered["events"], rendered["job"]
    assert events[0]["type"] == "snapshot" and events[0]["job_id"] == job["job_id"]
    progress = [e for e in events if e["type"] == "progress"]
    done = [e["done"] for e in progress]
    assert done == list(range(1, len(done) + 1)) and done[-1] == progress[-1]["total"]
    assert [e["fraction"] for e in progress] == sorted(e["fraction"] for e in progress)
    assert progress[-1]["fraction"] == 1.0
    hashes = {s["hash"] for s in rendered["project"]["scenes"]}
    assert {e["scene"] for e in progress if e["stage"] == "scene_clip"} == hashes
    assert "compose" in {e["stage"] for e in progress}
    final = events[-1]
    assert final["type"] == "succeeded" and final["video_url"] == job["video_url"]
    assert job["state"] == "succeeded" and job["progress"] == 1.0 and job["done"] == job["total"]
    assert job["resources"]["wall_s"] > 0 and job["resources"]["cpu_s"] > 0
    assert job["resources"]["peak_memory_mb"] > 0


def test_project_and_videos_list_the_render(server: Server, rendered: dict[str, Any]) -> None:
    project_id, job = rendered["project"]["id"], rendered["job"]
    with server.client() as client:
        detail = client.get(f"/api/projects/{project_id}").json()
        videos = client.get(f"/api/projects/{project_id}/videos").json()
        video = client.get(job["video_url"])
    assert [s["status"] for s in detail["scenes"]] == ["done", "done"]
    assert len(videos) == 1 and videos[0]["render"] == job["job_id"]
    assert (videos[0]["width"], videos[0]["height"]) == (320, 180)
    assert videos[0]["size"] == len(video.content) and videos[0]["duration_s"] > 1.5
    assert video.headers["content-type"] == "video/mp4"
    kept = server.data / "projects" / project_id / videos[0]["path"]
    report = probe(kept, decode="none")
    assert (report.width, report.height) == (320, 180)


def test_range_requests_return_exact_bytes(server: Server, rendered: dict[str, Any]) -> None:
    url = rendered["job"]["video_url"]
    with server.client() as client:
        whole = client.get(url)
        middle = client.get(url, headers={"Range": "bytes=100-1099"})
        suffix = client.get(url, headers={"Range": "bytes=-500"})
        open_ended = client.get(url, headers={"Range": "bytes=1000-"})
        beyond = client.get(url, headers={"Range": f"bytes={len(whole.content) + 10}-"})
        head = client.head(url)
    size = len(whole.content)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["etag"] and whole.headers["last-modified"]
    assert middle.status_code == 206 and middle.content == whole.content[100:1100]
    assert middle.headers["content-range"] == f"bytes 100-1099/{size}"
    assert suffix.status_code == 206 and suffix.content == whole.content[-500:]
    assert open_ended.status_code == 206 and open_ended.content == whole.content[1000:]
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) == size


def test_download_captions_and_poster(server: Server, rendered: dict[str, Any]) -> None:
    job = rendered["job"]
    base = job["video_url"].rsplit("/", 1)[0]
    with server.client() as client:
        download = client.get(job["download_url"])
        video = client.get(job["video_url"])
        vtt = client.get(f"{base}/final.vtt")
        poster = client.head(f"{base}/poster.jpg")
        other = client.get(f"{base}/manifest.json")
    assert download.content == video.content
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"Small.mp4\"; filename*=UTF-8''Small.mp4"
    )
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT") and "Hello there." in vtt.text
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
    assert other.status_code == 404


def test_editing_one_scene_re_renders_only_that_scene(server: Server, rendered: dict[str, Any]) -> None:
    project = rendered["project"]
    edited = small_script("![Photo](assets/photo.png)", "Hello again.")
    with server.client() as client:
        response = client.put(
            f"/api/projects/{project['id']}/script", files={"script": ("script.md", edited)}
        )
        statuses = [s["status"] for s in response.json()["scenes"]]
    assert statuses == ["done", "pending"]  # done: rendered by the latest job
    job, events = render(server, project["id"])
    rendered_scenes = {e["scene"] for e in events if e["type"] == "progress" and e["scene"]}
    assert job["state"] == "succeeded"
    assert rendered_scenes == {response.json()["scenes"][1]["hash"]}
    with server.client() as client:
        videos = client.get(f"/api/projects/{project['id']}/videos").json()
        old = client.get(videos[1]["video_url"])
        detail = client.get(f"/api/projects/{project['id']}").json()
    assert [s["status"] for s in detail["scenes"]] == ["cached", "done"]  # cached: from an earlier render
    assert len(videos) == 2 and old.status_code == 200  # the earlier render stays reachable


def test_a_late_listener_gets_the_snapshot_and_the_outcome(server: Server, rendered: dict[str, Any]) -> None:
    events = server.events(rendered["job"]["job_id"])
    assert [e["type"] for e in events] == ["snapshot", "succeeded"]
    assert events[0]["state"] == "succeeded"


def test_preview_render_goes_to_build_preview(server: Server) -> None:
    with server.client() as client:
        project = upload(client, small_script("A slide.")).json()
    job, _ = render(server, project["id"], preview=True)
    assert job["state"] == "succeeded"
    folder = server.data / "projects" / project["id"]
    assert (folder / "build" / "preview" / "final.mp4").is_file()
    assert not (folder / "build" / "final.mp4").exists()


def test_a_second_render_request_returns_the_running_job(server: Server) -> None:
    with server.client() as client:
        project = upload(client, small_script("A slide.")).json()
        first = client.post(f"/api/projects/{project['id']}/renders")
        second = client.post(f"/api/projects/{project['id']}/renders")
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["job_id"] == second.json()["job_id"]
    assert server.events(first.json()["job_id"])[-1]["type"] == "succeeded"


def test_errors_carry_no_server_paths(server: Server) -> None:
    with server.client() as client:
        project = upload(client, small_script("A slide.")).json()
        response = client.put(f"/api/projects/{project['id']}/script", files={"script": ("notes.txt", b"x")})
    assert response.status_code == 422 and str(Path(server.data)) not in response.text


def test_gc_keeps_what_renders_need_and_frees_the_rest(server: Server, image: bytes) -> None:
    """Three renders of one project; gc --keep 1 deletes two renders and the scenes only they used."""
    from reelmake.cli import main

    with server.client() as client:
        project_id = upload(
            client, small_script("![Photo](assets/photo.png)", "First."), {"photo.png": image}
        ).json()["id"]
    jobs = [render(server, project_id)[0]]
    for text in ("Second.", "Third."):
        # A new connection for each edit: one kept open through a render is closed by the server as idle,
        # and a request sent just then fails ("Server disconnected").
        with server.client() as client:
            client.put(
                f"/api/projects/{project_id}/script", files={"script": ("script.md", small_script(text))}
            )
        jobs.append(render(server, project_id)[0])
    folder = server.data / "projects" / project_id
    scenes_before = {p.name for p in (folder / "build" / "scenes").iterdir()}
    assert main(["gc", "--data", str(server.data), "--keep", "1"]) == 0  # dry run
    assert len(list((folder / "renders").iterdir())) == 3
    assert main(["gc", "--data", str(server.data), "--keep", "1", "--yes"]) == 0
    assert [p.name for p in (folder / "renders").iterdir()] == [jobs[-1]["job_id"]]
    with server.client() as client:
        detail = client.get(f"/api/projects/{project_id}").json()
        assert client.get(jobs[-1]["video_url"]).status_code == 200
        assert client.get(jobs[0]["video_url"]).status_code == 404
    current = {s["hash"] for s in detail["scenes"]}
    assert {p.name for p in (folder / "build" / "scenes").iterdir()} == current < scenes_before
    # What is left renders nothing again.
    job, events = render(server, project_id)
    assert job["state"] == "succeeded" and not [e for e in events if e.get("stage") == "scene_clip"]
