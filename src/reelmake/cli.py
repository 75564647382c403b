"""The `reelmake` command: new, check, render, probe."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from importlib.resources import files
from pathlib import Path

from reelmake import __version__
from reelmake.errors import UserError


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

    gc = commands.add_parser("gc", help="delete rendered scenes the script no longer uses")
    gc.add_argument("path", type=Path, nargs="?", default=Path("."))
    gc.set_defaults(run=cmd_gc)

    probe = commands.add_parser("probe", help="print the validation report of an MP4 as JSON")
    probe.add_argument("file", type=Path)
    probe.add_argument(
        "--decode", choices=["full", "none"], default="full", help="decode every frame (default)"
    )
    probe.set_defaults(run=cmd_probe)

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
    template = Path(str(files("reelmake") / "templates" / "project"))
    shutil.copytree(template, target, dirs_exist_ok=True)
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
        asset = scene.spec.get("asset", {}).get("path", "")
        print(f"  {scene.index:>3}  {scene.hash}  {scene.kind:<5}  {scene.title}  {asset}".rstrip())
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


def cmd_gc(args: argparse.Namespace) -> int:
    from reelmake.plan import collect_garbage

    removed, freed = collect_garbage(args.path)
    print(f"removed {removed} unused scene(s), {freed / 1e6:.1f} MB freed")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from reelmake.probe import probe
    from reelmake.recommendations import platform_checks

    report = probe(args.file, decode=args.decode)
    print(json.dumps({**report.to_dict(), "platform": platform_checks(args.file, report)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
