"""The HTTP API, the WebSocket events and the page: a FastAPI app over ProjectStore, JobStore and Runner."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import re
import tempfile
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import (
    Body,
    Depends,
    FastAPI,
    File,
    HTTPException,
    Request,
    UploadFile,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelmake import __version__
from reelmake.errors import UserError
from reelmake.plan import Plan, scene_folder
from reelmake.service.projects import Limits, ProjectStore, Upload, UploadError, check_project
from reelmake.service.ranges import MediaFileResponse
from reelmake.service.runner import FINAL_TYPES, Runner, render_folder, urls
from reelmake.service.store import Job, SqliteJobStore

TOKEN_COOKIE = "reelmake_token"
MEDIA = {"final.mp4": "video/mp4", "final.vtt": "text/vtt", "final.srt": "application/x-subrip",
         "poster.jpg": "image/jpeg"}  # fmt: skip
# The events socket only sends: a client's message is read and dropped, and one over this size refused.
WS_MAX_MESSAGE = 64 * 1024


@dataclass(frozen=True)
class ServiceSettings:
    data: Path
    workers: int = 1
    token: str | None = None
    limits: Limits = field(default_factory=Limits)
    gc_every_hours: float | None = None  # `reelmake gc --data` on this schedule, with this policy:
    gc_keep: int | None = None
    gc_older_than_days: float | None = None
    profile: Path | None = None  # a Snakemake profile of each project (e.g. profiles/slurm) to render with


TOKEN_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>reelmake studio</title>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>This studio needs its token</h1>
<p>Open the address with the token, as the person who started <code>reelmake serve --token ...</code> gave
it to you: <code>http://host:port/?token=&lt;token&gt;</code>. The page remembers it afterwards.</p>
</body></html>
"""


class TokenAuth:
    """Every request needs the token when one is set: `Authorization: Bearer`, the page's cookie, or
    `?token=` (the page turns it into the cookie). Only the OpenAPI docs are open."""

    OPEN = ("/docs", "/openapi.json")

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.token or scope["path"] in self.OPEN:
            return await self.app(scope, receive, send)
        request = Request(scope) if scope["type"] == "http" else WebSocket(scope, receive, send)
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        offered = [
            credentials.strip(" ") if scheme.lower() == "bearer" else "",  # the scheme is case-insensitive
            request.cookies.get(TOKEN_COOKIE, ""),
            # Only the page takes the token from its address (once: it becomes the cookie); elsewhere a
            # token in a URL would end up in logs and histories.
            request.query_params.get("token", "") if scope["path"] == "/" else "",
        ]
        if any(hmac.compare_digest(o.encode(), self.token.encode()) for o in offered if o):
            return await self.app(scope, receive, send)
        denied: Response = JSONResponse(
            {"error": "a token is required: send 'Authorization: Bearer <token>'"}, 401
        )
        if scope["path"] == "/" and isinstance(request, Request):  # a person at a browser: say what to do
            denied = HTMLResponse(TOKEN_PAGE, 401)
        if isinstance(request, WebSocket):
            await request.send_denial_response(denied)
        else:
            await denied(scope, receive, send)


class BodyTooLarge(Exception):
    """Raised inside the app when a request body turns out larger than the limit as it streams in."""


class BodyLimit:
    """Refuse a request over the upload limit (413): at once when its Content-Length says so, and as soon
    as the bytes actually received pass the limit (a chunked body has no length, and a length can lie)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = Request(scope).headers.get("content-length", "0")
        if length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        received = 0
        over = started = False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                over = True
                raise BodyTooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # the app's answer to the cut-off body is replaced by the 413 below
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except BodyTooLarge:
            pass
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"the upload is larger than the limit of {self.max_bytes / 1e6:,.0f} MB."
        await JSONResponse({"error": message}, 413)(scope, receive, send)


def ascii_filename(title: str) -> str:
    """A download's fallback file name: the title in plain ASCII letters, digits and - _ ."""
    plain = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return (re.sub(r"[^A-Za-z0-9._-]+", "_", plain).strip("._") or "video")[:100]


def create_app(settings: ServiceSettings) -> FastAPI:
    settings.data.mkdir(parents=True, exist_ok=True)
    projects = ProjectStore(settings.data, settings.limits)
    # Starlette spools an uploaded file over 1 MB to a temporary file: keep those inside the data folder,
    # on its disk (an upload of --max-upload-mb must not fill /tmp, often a small RAM disk). The staging
    # folder is emptied at every start.
    tempfile.tempdir = str(projects.staging)
    jobs = SqliteJobStore(settings.data / "reelmake.db")
    runner = Runner(jobs, projects, workers=settings.workers, profile=settings.profile)
    templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runner.start()
        if settings.gc_every_hours:
            collector = asyncio.create_task(
                runner.collect_garbage_every(
                    settings.gc_every_hours,
                    keep=settings.gc_keep,
                    older_than_days=settings.gc_older_than_days,
                )
            )
        yield
        if settings.gc_every_hours:
            collector.cancel()
        await runner.stop()

    app = FastAPI(title="reelmake studio", version=__version__, lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=settings.limits.max_upload_bytes)
    app.add_middleware(TokenAuth, token=settings.token)

    @app.exception_handler(UserError)
    async def user_error(_: Request, error: UserError) -> JSONResponse:
        return JSONResponse({"error": str(error), "errors": [str(error)]}, 422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's default answer echoes the whole offending input (an upload, up to its limit) back.
        errors = [f"{'.'.join(map(str, e['loc'][1:])) or 'body'}: {e['msg']}" for e in error.errors()]
        return JSONResponse({"error": "; ".join(errors), "errors": errors}, 422)

    @app.exception_handler(UploadError)
    async def upload_error(_: Request, error: UploadError) -> JSONResponse:
        return JSONResponse({"error": str(error), "errors": [str(error)]}, error.status)

    def folder(project_id: str) -> Path:
        path = projects.folder(project_id)
        if path is None:
            raise HTTPException(404, "no such project")
        return path

    def job_or_404(job_id: str) -> Job:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job")
        return runner.job(job_id, job)

    def job_view(job: Job) -> dict[str, Any]:
        view = {**job.to_dict(), "queue_position": runner.queue_position(job), "video_url": None,
                "download_url": None}  # fmt: skip
        del view["scenes"]
        if job.state == "succeeded":
            view.update(urls(job))
        return view

    def project_view(project_id: str, plan: Plan) -> dict[str, Any]:
        latest = (jobs.for_project(project_id) or [None])[-1]
        scenes = []
        for scene in plan.scenes:
            status = latest.scenes.get(scene.hash) if latest else None
            if status is None or (status == "rendering" and latest and latest.state != "running"):
                built = (plan.project / scene_folder(scene.hash) / "clip.json").is_file()
                status = "cached" if built else "pending"
            asset = scene.spec.get("asset")
            scenes.append({
                "index": scene.index, "title": scene.title, "hash": scene.hash, "kind": scene.kind,
                "status": status,
                "assets": [{**asset, "source": "upload", "kind": scene.kind, "status": "checked"}]
                if asset else [],
            })  # fmt: skip
        return {"id": project_id, "title": plan.title, "script": plan.script_file, "scenes": scenes,
                "width": plan.settings["width"], "height": plan.settings["height"],
                "latest_job": job_view(latest) if latest else None}  # fmt: skip

    def refuse_while_rendering(project_id: str) -> None:
        if any(job.state == "running" for job in jobs.for_project(project_id)):
            raise HTTPException(409, "the project is rendering; edit it when the render has finished")

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/projects")
    def list_projects() -> list[dict[str, Any]]:
        return [{"id": project_id, "url": f"/api/projects/{project_id}"} for project_id in projects.ids()]

    @app.post("/api/projects", status_code=201, dependencies=[Depends(one_file_each("script", "archive"))])
    def create_project(
        script: Annotated[UploadFile | None, File(description="script.md or script.yaml")] = None,
        assets: Annotated[
            list[UploadFile] | None, File(description="images and clips: assets/<name>")
        ] = None,
        archive: Annotated[UploadFile | None, File(description=".zip or .tar.gz of a project folder")] = None,
    ) -> dict[str, Any]:
        project_id, plan = projects.create(
            _upload(script), [u for a in assets or [] if (u := _upload(a))], _upload(archive)
        )
        return project_view(project_id, plan)

    @app.get("/api/projects/{project_id}")
    def get_project(project_id: str) -> dict[str, Any]:
        return project_view(project_id, check_project(folder(project_id)))

    @app.put("/api/projects/{project_id}/script", dependencies=[Depends(one_file_each("script"))])
    def put_script(project_id: str, script: Annotated[UploadFile, File()]) -> dict[str, Any]:
        folder(project_id)
        refuse_while_rendering(project_id)
        return project_view(project_id, projects.replace_script(project_id, _upload(script)))  # type: ignore[arg-type]

    @app.post("/api/projects/{project_id}/assets")
    def post_assets(project_id: str, assets: Annotated[list[UploadFile], File()]) -> dict[str, Any]:
        folder(project_id)
        refuse_while_rendering(project_id)
        uploads = [u for a in assets if (u := _upload(a))]
        return project_view(project_id, projects.add_assets(project_id, uploads))

    @app.post("/api/projects/{project_id}/renders", status_code=202)
    async def post_render(
        project_id: str, response: Response, options: Annotated[dict[str, Any] | None, Body()] = None
    ) -> dict[str, Any]:
        folder(project_id)
        preview = (options or {}).get("preview", False)
        if not isinstance(preview, bool):
            raise HTTPException(422, "'preview' must be true or false")
        job, created = runner.submit(project_id, preview=preview)
        if not created:
            response.status_code = 200
        return {**job_view(job), "status_url": f"/api/jobs/{job.job_id}",
                "events_url": f"/api/jobs/{job.job_id}/events"}  # fmt: skip

    @app.get("/api/jobs/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        return job_view(job_or_404(job_id))

    @app.delete("/api/jobs/{job_id}")
    async def delete_job(job_id: str) -> dict[str, Any]:
        return job_view(await runner.cancel(job_or_404(job_id)))

    @app.websocket("/api/jobs/{job_id}/events")
    async def job_events(websocket: WebSocket, job_id: str) -> None:
        if jobs.get(job_id) is None:
            await websocket.send_denial_response(JSONResponse({"error": "no such job"}, 404))
            return
        await websocket.accept()
        queue = runner.subscribe(job_id)

        async def stream() -> None:
            with contextlib.suppress(WebSocketDisconnect):  # the client left: the render goes on
                job = job_or_404(job_id)
                await websocket.send_json({"type": "snapshot", **job_view(job)})
                if job.state in FINAL_TYPES:
                    final = {
                        "type": job.state,
                        **(urls(job) if job.state == "succeeded" else {"error": job.error}),
                    }
                    await websocket.send_json(final)
                else:
                    while (message := await queue.get())["type"] not in FINAL_TYPES:
                        await websocket.send_json(message)
                    await websocket.send_json(message)
                await websocket.close()

        # Whichever ends first: the stream (its final message sent) or the client (gone, or refused for a
        # message over WS_MAX_MESSAGE); the other is stopped.
        sender, listener = asyncio.create_task(stream()), asyncio.create_task(_discard_incoming(websocket))
        try:
            await asyncio.wait((sender, listener), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sender.cancel()
            listener.cancel()
            runner.unsubscribe(job_id, queue)
        if sender.done() and not sender.cancelled():
            sender.result()  # an error of the stream itself is raised, not lost

    @app.get("/api/projects/{project_id}/videos")
    def list_videos(project_id: str) -> list[dict[str, Any]]:
        path = folder(project_id)
        videos = []
        for job in reversed(jobs.for_project(project_id)):
            if job.state != "succeeded":
                continue
            kept = render_folder(path, job.job_id)
            manifest = _read_json(kept / "manifest.json")
            video = kept / "final.mp4"
            base = f"/videos/{project_id}/{job.job_id}"
            videos.append({
                "render": job.job_id, "path": f"renders/{job.job_id}/final.mp4",
                "status": "ready" if video.is_file() else "deleted",
                "size": video.stat().st_size if video.is_file() else None, "preview": job.preview,
                "duration_s": manifest.get("duration_s"), "width": manifest.get("width"),
                "height": manifest.get("height"), "format": "mp4 (H.264, AAC)", "created_at": job.finished_at,
                **urls(job), "captions_vtt_url": f"{base}/final.vtt", "captions_srt_url": f"{base}/final.srt",
                "poster_url": f"{base}/poster.jpg", "resources": job.resources, "manifest": manifest,
            })  # fmt: skip
        return videos

    def media(project_id: str, render: str, name: str) -> Path:
        job = jobs.get(render)
        if job is None or job.project_id != project_id or job.state != "succeeded" or name not in MEDIA:
            raise HTTPException(404, "no such file")
        path = render_folder(folder(project_id), render) / name
        if not path.is_file():
            raise HTTPException(404, "no such file")
        return path

    @app.api_route("/videos/{project_id}/{render}/download", methods=["GET", "HEAD"])
    def download(project_id: str, render: str) -> MediaFileResponse:
        path = media(project_id, render, "final.mp4")
        title = _read_json(path.parent / "manifest.json").get("title") or "video"
        disposition = (
            f"attachment; filename=\"{ascii_filename(title)}.mp4\"; filename*=UTF-8''{quote(title + '.mp4')}"
        )
        return MediaFileResponse(path, media_type="video/mp4", headers={"Content-Disposition": disposition})

    @app.api_route("/videos/{project_id}/{render}/{name}", methods=["GET", "HEAD"])
    def video_file(project_id: str, render: str, name: str) -> MediaFileResponse:
        return MediaFileResponse(media(project_id, render, name), media_type=MEDIA[name])

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request) -> Response:
        if settings.token and request.query_params.get("token"):
            # The token arrives once in the link; keep it in a cookie and drop it from the address bar.
            response = RedirectResponse("/", 303)
            response.set_cookie(TOKEN_COOKIE, request.query_params["token"], httponly=True, samesite="strict")
            return response
        return templates.TemplateResponse(request, "index.html", {"version": __version__})

    app.state.runner = runner
    return app


def one_file_each(*names: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency refusing a form that repeats one of these file fields: which one is meant is unclear."""

    async def check(request: Request) -> None:
        form = await request.form()  # Starlette parses a request's form once; the route reuses it
        for name in names:
            if (count := len(form.getlist(name))) > 1:
                raise UploadError(f"send one '{name}' file, not {count}.")

    return check


async def _discard_incoming(websocket: WebSocket) -> None:
    """Events only go to the client: what it sends is read and dropped (so nothing piles up in the
    server), and its leaving is noticed at once, even while the job waits in the queue."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


def _upload(upload: UploadFile | None) -> Upload | None:
    """A form's file field as an Upload; a browser's empty file input (no name) counts as absent."""
    if upload is None or not upload.filename:
        return None
    return Upload(upload.filename, upload.file)


def _read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
