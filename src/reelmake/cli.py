"""The `reelmake` command: new, check, render, watch, gc, probe, serve."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import shutil
import sys
from pathlib import Path

from reelmake import __version__
from reelmake.errors import UserError
from reelmake.workflow import project_template


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reelmake", description="A build system for video.")
    parser.add_argument("--version", action="version", version=f"reelmake {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    new = commands.add_parser(
        "new", help="create a project folder: Snakefile, script.md, config.yaml, assets/"
    )
    new.add_argument("path", type=Path)
    new.set_defaults(run=cmd_new)

    check = commands.add_parser("check", help="validate the script and assets without rendering")
    check.add_argument("path", type=Path, nargs="?", default=Path("."))
    check.set_defaults(run=cmd_check)

    render = commands.add_parser("render", help="build the video, with a progress bar")
    render.add_argument("path", type=Path, nargs="?", default=Path("."))
    render.add_argument("--cores", type=int, default=0, help="CPU cores to use (default: all)")
    render.add_argument("-n", "--dry-run", action="store_true", help="show what would be rendered")
    render.add_argument(
        "--preview", action="store_true", help="a quick low-resolution render into build/preview/"
    )
    render.add_argument(
        "--profile",
        type=Path,
        help="render with this Snakemake profile, e.g. profiles/slurm (relative to the project folder)",
    )
    render.set_defaults(run=cmd_render)

    watch = commands.add_parser(
        "watch", help="render, then render again each time a file of the project changes (Ctrl-C stops)"
    )
    watch.add_argument("path", type=Path, nargs="?", default=Path("."))
    watch.add_argument("--cores", type=int, default=0, help="CPU cores to use (default: all)")
    watch.add_argument("--preview", action="store_true", help="quick low-resolution renders (build/preview/)")
    watch.set_defaults(run=cmd_watch)

    gc = commands.add_parser("gc", help="show (then with --yes delete) rendered files no longer needed")
    gc.add_argument("path", type=Path, nargs="?", default=Path("."), help="a project folder")
    gc.add_argument("--data", type=Path, help="a `reelmake serve` data folder instead of one project")
    gc.add_argument("--keep", type=int, help="with --data: keep the N newest renders of each project")
    gc.add_argument("--older-than", type=float, metavar="DAYS", help="with --data: delete older renders")
    gc.add_argument("--yes", action="store_true", help="delete (without it, only show what would go)")
    gc.set_defaults(run=cmd_gc)

    probe = commands.add_parser("probe", help="print the validation report of an MP4 as JSON")
    probe.add_argument("file", type=Path)
    probe.add_argument(
        "--decode", choices=["full", "none"], default="full", help="decode every frame (default)"
    )
    probe.set_defaults(run=cmd_probe)

    serve = commands.add_parser("serve", help="the studio: upload, render and watch in a browser")
    serve.add_argument("--data", type=Path, default=Path("reelmake-data"), help="default: ./reelmake-data")
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (others need a token)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="renders at once (default 1)")
    serve.add_argument("--token", default=os.environ.get("REELMAKE_TOKEN"), help="or REELMAKE_TOKEN")
    serve.add_argument("--max-upload-mb", type=float, default=2000, help="one upload's limit (default 2000)")
    serve.add_argument("--max-archive-files", type=int, default=1000, help="files in one archive")
    serve.add_argument(
        "--profile",
        type=Path,
        help="render with this Snakemake profile of each project, e.g. profiles/slurm (a cluster)",
    )
    serve.add_argument("--gc-every", type=float, metavar="HOURS", help="run `reelmake gc --data` this often")
    serve.add_argument("--gc-keep", type=int, metavar="N", help="its --keep (default: keep every render)")
    serve.add_argument("--gc-older-than", type=float, metavar="DAYS", help="its --older-than")
    serve.set_defaults(run=cmd_serve)

    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserError as error:
        print(f"reelmake: error: {error}", file=sys.stderr)
        return 1


def cmd_new(args: argparse.Namespace) -> int:
    target: Path = args.path
    if target.exists() and any(target.iterdir()):
        raise UserError(f"{target} already exists and is not empty; choose a new folder.")
    shutil.copytree(project_template(), target, dirs_exist_ok=True)
    (target / "assets" / ".keep").unlink(missing_ok=True)
    print(f"Created {target}: edit script.md, put images and clips in assets/, then run")
    print(f"  cd {target} && snakemake --cores 8      (or: reelmake render {target})")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from reelmake.plan import plan_project

    plan = plan_project(args.path)
    s = plan.settings
    print(
        f"{plan.script_file}: '{plan.title}', {len(plan.scenes)} scenes, "
        f"{s['width']}x{s['height']} {s['fps']} fps"
    )
    for scene in plan.scenes:
        paths = (scene.spec.get(key, {}).get("path") for key in ("asset", "voice_file"))
        files = "  ".join(path for path in paths if path)
        print(f"  {scene.index:>3}  {scene.hash}  {scene.kind:<5}  {scene.title}  {files}".rstrip())
    if plan.music:
        print(f"  music: {plan.music['path']} at {plan.music['volume_db']:g} dB")
    print("OK")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from reelmake.plan import plan_project
    from reelmake.render import render, render_with_profile

    project = args.path.resolve()
    overrides = {"preview": True} if args.preview else {}
    plan = plan_project(project, overrides)  # clear errors before Snakemake starts
    if args.profile is not None:
        if not (project / args.profile).is_dir():
            raise UserError(f"no profile folder {args.profile} in {project}; `reelmake new` writes profiles/")
        status = render_with_profile(project, args.profile, overrides, dry_run=args.dry_run)
    else:
        status = render(project, overrides, cores=args.cores or None, dry_run=args.dry_run)
    if status == 0 and not args.dry_run:
        print(project / plan.output_dir / "final.mp4")
    return status


def cmd_watch(args: argparse.Namespace) -> int:
    from reelmake.watch import watch

    project = args.path.resolve()
    if not (project / "Snakefile").is_file():
        raise UserError(f"{project} is not a reelmake project (no Snakefile); `reelmake new` makes one.")
    return watch(project, {"preview": True} if args.preview else {}, cores=args.cores or None)


def cmd_gc(args: argparse.Namespace) -> int:
    from reelmake.lock import ProjectBusy, project_lock
    from reelmake.plan import output_bytes, unused_outputs
    from reelmake.service.gc import Removal, data_removals

    if args.data:
        if args.keep is not None and args.keep < 0:
            raise UserError("--keep must be 0 or more.")
        root = args.data.resolve()
        projects = sorted(p for p in (root / "projects").glob("*") if p.is_dir())
    else:
        if args.keep is not None or args.older_than is not None:
            raise UserError(
                "--keep and --older-than apply to renders of a studio data folder: add --data DIR."
            )
        root = args.path.resolve()
        projects = [root]
    with contextlib.ExitStack() as held:
        # Each project stays locked from the choice to the deletion: a render cannot start in between
        # and need what is being deleted (a project being rendered is left alone).
        busy: set[Path] = set()
        for project in projects:
            try:
                held.enter_context(project_lock(project))
            except ProjectBusy:
                busy.add(project)
        if args.data:
            removals, skipped = data_removals(
                args.data, keep=args.keep, older_than_days=args.older_than, busy=busy
            )
        elif busy:
            raise UserError(f"{root} is being rendered; run gc again when the render has finished.")
        else:
            skipped = []
            removals = [
                Removal(root, output, output_bytes(output), "the script no longer uses it")
                for output in unused_outputs(root)
            ]
        for note in skipped:
            print(f"skipped {note}")
        for removal in removals:
            print(f"{removal.size / 1e6:10.1f} MB  {removal.folder.relative_to(root)}  ({removal.why})")
            if args.yes:
                removal.remove()
    total = sum(removal.size for removal in removals) / 1e6
    if args.yes:
        print(f"removed {len(removals)} item(s), {total:.1f} MB freed")
    else:
        print(f"would remove {len(removals)} item(s), {total:.1f} MB; run again with --yes to delete")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from reelmake.probe import probe
    from reelmake.recommendations import platform_checks

    report = probe(args.file, decode=args.decode)
    print(json.dumps({**report.to_dict(), "platform": platform_checks(args.file, report)}, indent=2))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from reelmake.service.app import WS_MAX_MESSAGE, ServiceSettings, create_app
    from reelmake.service.projects import Limits

    if args.gc_every is not None and args.gc_every <= 0:
        raise UserError("--gc-every must be a positive number of hours.")
    if not args.token and not _is_loopback(args.host):
        raise UserError(f"binding {args.host} needs a token: pass --token or set REELMAKE_TOKEN.")
    if args.workers < 1:
        raise UserError("--workers must be 1 or more.")
    if args.profile is not None and not (project_template() / args.profile).is_dir():
        profiles = ", ".join(
            sorted(f"profiles/{p.name}" for p in (project_template() / "profiles").iterdir())
        )
        raise UserError(f"no profile {args.profile} in the projects' template; choose one of: {profiles}.")
    limits = Limits(int(args.max_upload_mb * 1_000_000), args.max_archive_files)
    settings = ServiceSettings(
        args.data.resolve(),
        args.workers,
        args.token or None,
        limits,
        args.gc_every,
        args.gc_keep,
        args.gc_older_than,
        args.profile,
    )
    app = create_app(settings)
    print(f"reelmake studio on http://{args.host}:{args.port}/ ; data in {args.data.resolve()}", flush=True)
    # A WebSocket client only listens: a message from it over 64 kB closes its socket (1009).
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", ws_max_size=WS_MAX_MESSAGE)
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())
