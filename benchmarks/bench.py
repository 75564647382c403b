"""`make bench`: reelmake's speed and quality figures, measured in one run on this machine.

Generates a project (bench_project.py, still pictures), renders it cold, then times a no-op run, a
narration edit, an image replacement, a reorder, a revert and the join alone, then the same changes through
`reelmake watch` (one resident process) on an unrendered copy; reads Snakemake's per-rule
benchmark files; counts process launches (strace, in a separate untimed render of a copy); measures TTS
speed, output bitrate, MoviePy composing the same scenes (comparator.py) and the quality of the result
(quality.py); it re-renders the photos with Ken Burns motion and compares their video's cost with
the same scenes still; last, it puts a real `reelmake serve` under load (reelmake.service.loadtest).
Writes benchmarks/results/<UTC time>-<scenes>x<height>.json and prints the figures as Markdown tables.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import platform
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import av
import bench_project
import comparator
import imageio_ffmpeg
import quality
import yaml
from bench_project import BenchProject

from reelmake.probe import probe
from reelmake.service.loadtest import LoadPlan, run_load, spawn_server
from reelmake.watch import WatchProcess

RESULTS = Path(__file__).resolve().parent / "results"
GIB = 1024**3


class BenchError(Exception):
    """A step of the benchmark could not be carried out."""


# --- running Snakemake ------------------------------------------------------------------------------


def snakemake(folder: Path, *extra: str, cores: int, strace_log: Path | None = None) -> tuple[float, str]:
    """Run the workflow in ``folder``; return (wall seconds, stdout + stderr). Raises on failure."""
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), *extra]
    if strace_log is not None:
        command = ["strace", "-f", "-qq", "-e", "trace=execve", "-o", str(strace_log), *command]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    log = result.stdout + result.stderr
    if result.returncode != 0:
        raise BenchError(f"snakemake {' '.join(extra)} failed in {folder}:\n{error_excerpt(log)}")
    return wall, log


def error_excerpt(log: str, limit: int = 3000) -> str:
    """The first error Snakemake reported (its traceback), and the end of the log."""
    match = re.search(r"^.*(Error|Exception|Traceback).*$", log, re.M)
    head = log[match.start() : match.start() + limit] if match else ""
    tail = log[-1000:]
    return head if tail in head else f"{head}\n...\n{tail}"


def scene_files(folder: Path) -> dict[str, int]:
    """Every file under build/scenes/ and its mtime (ns)."""
    root = folder / "build" / "scenes"
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def rerendered(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """Scene folders (hashes) in which a file appeared or got a new mtime."""
    return sorted({Path(path).parts[0] for path, mtime in after.items() if before.get(path) != mtime})


def jobs_run(log: str) -> dict[str, int]:
    """Snakemake's "Job stats" table as {rule: count} (empty when nothing ran)."""
    if "Job stats:" not in log:
        return {}
    rows = log.split("Job stats:")[1].split("total")[0].splitlines()
    counts = {}
    for row in rows:
        parts = row.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def check_output(project: BenchProject) -> dict[str, Any]:
    """Is build/final.mp4 valid: packet scan (no decode), frame count, size, streams, scene order."""
    build = project.path / "build"
    problems: list[str] = []
    manifest = json.loads((build / "manifest.json").read_text())
    expected_frames = sum(s["frames"] for s in manifest["scenes"])
    frames = None
    try:
        report = probe(build / "final.mp4", decode="none")
        frames = report.frame_count
        if frames != expected_frames:
            problems.append(f"{frames} frames, expected {expected_frames}")
        if (report.width, report.height) != (project.width, project.height):
            problems.append(f"size {report.width}x{report.height}")
        if (report.video_streams, report.audio_streams) != (1, 1):
            problems.append(f"{report.video_streams} video / {report.audio_streams} audio streams")
        if report.audio_duration_s is None or report.video_duration_s is None:
            problems.append("a stream has no duration")
        elif abs(report.audio_duration_s - report.video_duration_s) > 1 / project.fps + 1e-6:
            problems.append(f"audio {report.audio_duration_s:.3f} s, video {report.video_duration_s:.3f} s")
    except Exception as exc:
        problems.append(f"probe failed: {exc}")
    if round(manifest["duration_s"] * project.fps) != expected_frames:
        problems.append(f"manifest duration {manifest['duration_s']} s is not {expected_frames} frames")
    titles = [s["title"] for s in manifest["scenes"]]
    if titles != [s.title for s in project.scenes]:
        problems.append("the manifest's scene order is not the script's")
    return {"valid": not problems, "frames": frames, "expected_frames": expected_frames, "problems": problems}


def timed_step(
    project: BenchProject, change: Callable[[], None], *extra: str, cores: int, full_s: float | None
) -> dict[str, Any]:
    """Make ``change``, run the workflow, and say how long it took and which scenes were re-rendered."""
    before = scene_files(project.path)
    change()
    wall, log = snakemake(project.path, *extra, cores=cores)
    changed = rerendered(before, scene_files(project.path))
    return {
        "wall_s": round(wall, 3),
        "ratio_to_full": round(wall / full_s, 4) if full_s else 1.0,
        "scenes_rerendered": len(changed),
        "rerendered_hashes": changed,
        "jobs": jobs_run(log),
        "nothing_to_be_done": "Nothing to be done" in log,
        **check_output(project),
    }


# --- what the cold render's files say ---------------------------------------------------------------


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "", "-", "NA") else None
    except ValueError:
        return None


def rule_benchmarks(build: Path) -> dict[str, dict[str, Any]]:
    """Per rule, from build/benchmarks/<rule>.tsv and build/benchmarks/<rule>/*.tsv: job count, sum and
    max of wall seconds (`s`), max peak RSS (`max_rss`, MB)."""
    rows: dict[str, list[dict[str, str]]] = {}
    root = build / "benchmarks"
    for tsv in sorted(root.rglob("*.tsv")):
        rule = tsv.stem if tsv.parent == root else tsv.relative_to(root).parts[0]
        with tsv.open(newline="") as fh:
            rows.setdefault(rule, []).extend(csv.DictReader(fh, delimiter="\t"))
    table = {}
    for rule, entries in rows.items():
        seconds = [v for v in (_number(e.get("s")) for e in entries) if v is not None]
        rss = [v for v in (_number(e.get("max_rss")) for e in entries) if v is not None]
        table[rule] = {
            "jobs": len(entries),
            "sum_s": round(sum(seconds), 3),
            "max_s": round(max(seconds), 3) if seconds else None,
            "max_rss_mb": round(max(rss), 1) if rss else None,
        }
    return table


def wav_seconds(build: Path, manifest: dict[str, Any]) -> float:
    total = 0.0
    for scene in manifest["scenes"]:
        samples, rate = quality.read_wav(build / "scenes" / scene["hash"] / "narration.wav")
        total += len(samples) / rate
    return total


def output_figures(video: Path) -> dict[str, Any]:
    """Size and average bitrates (video stream, audio stream, whole file) from a packet scan."""
    report = probe(video, decode="none")
    sizes: Counter[str] = Counter()
    with av.open(str(video)) as container:
        for packet in container.demux():
            if packet.size:
                sizes[packet.stream.type] += packet.size
    vdur, adur = report.video_duration_s or 0.0, report.audio_duration_s or 0.0
    duration = report.duration_s or vdur
    return {
        "size_bytes": report.size_bytes,
        "duration_s": duration,
        "video_kbps": round(sizes["video"] * 8 / vdur / 1000, 1) if vdur else None,
        "audio_kbps": round(sizes["audio"] * 8 / adur / 1000, 1) if adur else None,
        "total_kbps": round(report.size_bytes * 8 / duration / 1000, 1) if duration else None,
        "audio_end_minus_video_end_ms": round((adur - vdur) * 1000, 2) if vdur and adur else None,
    }


# --- process launches ---------------------------------------------------------------------------------


def ensure_strace() -> str | None:
    """Path of strace; installed with apt-get when missing and we are root; None when unavailable."""
    found = shutil.which("strace")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "install", "-y", "strace"],
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "strace"],
    ):
        subprocess.run(command, capture_output=True, env=env, check=False)
        if shutil.which("strace"):
            break
    return shutil.which("strace")


def count_execs(log: Path) -> dict[str, Any]:
    """Successful execve calls in an ``strace -f`` log, in total and by program name."""
    pending: dict[str, str] = {}
    programs: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        pid, _, rest = line.partition(" ")
        rest = rest.strip()
        if "execve(" in rest:
            match = re.search(r'execve\("([^"]*)"', rest)
            path = match.group(1) if match else "?"
            if rest.endswith("<unfinished ...>"):
                pending[pid] = path
                continue
        elif "<... execve resumed>" in rest:
            path = pending.pop(pid, "?")
        else:
            continue
        if re.search(r"\)\s*=\s*0\s*$", rest):
            programs[Path(path).name] += 1
    return {"total": sum(programs.values()), "by_program": dict(programs.most_common())}


def measure_launches(source: Path, work: Path, cores: int) -> dict[str, Any]:
    """Cold-render a copy of the untouched project under strace (untimed) and count exec calls."""
    where = "a separate untimed cold render of a copy of the bench project (not the timed render)"
    if ensure_strace() is None:
        return {"total": None, "measured_on": where, "note": "strace is not available"}
    copy = work / "launches"
    shutil.copytree(source, copy)
    log = work / "strace.log"
    wall, _ = snakemake(copy, cores=cores, strace_log=log)
    return {**count_execs(log), "measured_on": where, "render_wall_s_under_strace": round(wall, 2)}


def measure_preview(source: Path, copy: Path, cores: int, full_s: float, measured_on: str) -> dict[str, Any]:
    """Render a copy of ``source`` as a preview (`--config preview=true`), timed."""
    shutil.copytree(source, copy)
    wall, _ = snakemake(copy, "--config", "preview=true", cores=cores)
    manifest = json.loads((copy / "build" / "preview" / "manifest.json").read_text())
    return {
        "wall_s": round(wall, 3),
        "full_over_preview": round(full_s / wall, 2),
        "size": f"{manifest['width']}x{manifest['height']}",
        "measured_on": measured_on,
    }


def defaults_preview_step(pristine: Path, work: Path, cores: int) -> dict[str, Any]:
    """The bench project with the settings a creator starts from (burned captions, moving photos): a cold
    full render against a cold preview of another copy, both timed, one after the other.

    The timed steps use still pictures and sidecar captions (like for like with MoviePy); there the
    narration, which a preview speaks as it is, is most of the work.
    """
    source = work / "defaults-pristine"
    shutil.copytree(pristine, source)
    config = source / "config.yaml"
    settings = yaml.safe_load(config.read_text())
    for key in ("motion", "captions"):
        settings.pop(key)
    config.write_text(yaml.safe_dump(settings))
    full_copy = work / "defaults-full"
    shutil.copytree(source, full_copy)
    full_s, _ = snakemake(full_copy, cores=cores)
    measured_on = "a copy of the untouched bench project with its own settings removed (defaults)"
    preview = measure_preview(source, work / "defaults-preview", cores, full_s, measured_on)
    return {"settings": settings, "full_wall_s": round(full_s, 3), "preview": preview}


# --- TTS ----------------------------------------------------------------------------------------------


def tts_direct(sentences: list[str]) -> dict[str, Any]:
    """hibari in this process: seconds of speech per second of synthesis (model load reported apart)."""
    try:
        from reelmake.speech import engine_for

        started = time.perf_counter()
        engine = engine_for("heart", 1.0)
        loaded = time.perf_counter()
        samples = sum(len(engine.synthesize(s)) for s in sentences)
        took = time.perf_counter() - loaded
    except Exception as exc:
        return {"x_realtime": None, "note": f"in-process TTS failed: {exc}"}
    audio_s = samples / engine.sample_rate
    return {
        "x_realtime": round(audio_s / took, 1),
        "speech_s": round(audio_s, 2),
        "synthesis_s": round(took, 3),
        "model_load_s": round(loaded - started, 3),
        "sentences": len(sentences),
    }


# --- machine -----------------------------------------------------------------------------------------


def _proc_field(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    mem = _proc_field("/proc/meminfo", "MemTotal")
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name"),
        "mem_total_gib": round(int(mem.split()[0]) * 1024 / GIB, 1) if mem else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "ffmpeg": imageio_ffmpeg.get_ffmpeg_version(),
        "packages": {p: _version(p) for p in ("reelmake", "snakemake", "hibari-tts", "av", "moviepy")},
    }


def load_now() -> dict[str, Any]:
    one, five, fifteen = os.getloadavg()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    return {"loadavg": [one, five, fifteen], "uptime": uptime or None}


# --- the run -----------------------------------------------------------------------------------------


def pick_scenes(project: BenchProject) -> tuple[int, int, int]:
    """(scene whose narration is edited, photo scene whose image is replaced, first of two swapped)."""
    count = len(project.scenes)
    slides = [i for i, s in enumerate(project.scenes) if s.kind == "slide"]
    photos = [i for i, s in enumerate(project.scenes) if s.kind == "photo"]
    edit = min(slides, key=lambda i: abs(i - (count - 1) // 2))
    photo = min((i for i in photos if i != edit), key=lambda i: abs(i - edit - 3))
    return edit, photo, count // 3


def cold_figures(build: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """What the cold render's files say: per-rule benchmarks, output size and bitrates, TTS speed."""
    rules = rule_benchmarks(build)
    narration_s = wav_seconds(build, manifest)
    narration_rule_s = rules.get("narration", {}).get("sum_s")
    tts = {
        "narration_audio_s": round(narration_s, 2),
        "narration_rule_sum_s": narration_rule_s,
        "rule_x_realtime": round(narration_s / narration_rule_s, 1) if narration_rule_s else None,
        "note": "narration WAV seconds (pauses included) / sum of the narration rule's benchmark `s`, "
        "which includes each job's start-up (process launch or in-process set-up) and TTS model load",
    }
    return {"rules": rules, "output": output_figures(build / "final.mp4"), "tts": tts}


def edits(project: BenchProject) -> tuple[dict[str, Callable[[], None]], dict[str, str]]:
    """The timed changes, in order (edit a narration, replace an image, swap two scenes, revert the edit),
    and which scenes they touch."""
    edit, photo, swap = pick_scenes(project)
    edited, replaced = project.scenes[edit], project.scenes[photo]
    original = edited.sentences[1]
    touched = {"narration_edited": edited.title, "image_replaced": replaced.title,
               "swapped": f"{project.scenes[swap].title} <-> {project.scenes[swap + 1].title}"}  # fmt: skip

    def closing(text: str) -> Callable[[], None]:
        def apply() -> None:
            edited.sentences[1] = text
            project.write_script()

        return apply

    def swap_two() -> None:
        project.scenes[swap], project.scenes[swap + 1] = project.scenes[swap + 1], project.scenes[swap]
        project.write_script()

    def new_image() -> None:
        bench_project.replace_photo(project, replaced, seed=1000 + photo)

    changes = {
        "edit_narration": closing(bench_project.EDITED_CLOSING),
        "replace_image": new_image,
        "reorder": swap_two,
        "revert_narration": closing(original),
    }
    return changes, touched


def incremental_steps(
    project: BenchProject, steps: dict[str, Any], cores: int, full: float
) -> dict[str, str]:
    """Time the runs after the cold render, each after its change; returns which scenes were changed."""
    changes, touched = edits(project)

    def step(change: Callable[[], None], *extra: str) -> dict[str, Any]:
        return timed_step(project, change, *extra, cores=cores, full_s=full)

    steps["noop"] = step(lambda: None)
    for name, change in changes.items():
        steps[name] = step(change)
    steps["compose_only"] = step(lambda: None, "--forcerun", "compose")
    return touched


def watched_render(watcher: WatchProcess) -> str:
    """Wait for the watcher's next render; BenchError unless it rendered the video."""
    try:
        line = watcher.next_render(timeout=600)
    except queue.Empty:
        raise BenchError("reelmake watch reported no render in 600 s") from None
    if "rendered in" not in line:
        raise BenchError(f"reelmake watch: {line}\n{error_excerpt(watcher.stderr.read_text())}")
    return line


def watch_steps(project: BenchProject, cores: int, log: Path) -> dict[str, Any]:
    """The same changes through `reelmake watch` on an unrendered copy: its first render (timed from the
    command's start, so it pays Snakemake's and the voice's loading once) is the full render the edits
    are compared with; each edit is timed from the save to the watcher's line (its polling included)."""
    changes, _ = edits(project)
    steps: dict[str, Any] = {}
    started = time.perf_counter()
    watcher = WatchProcess(project.path, log, cores=cores)
    try:
        watched_render(watcher)
        full = time.perf_counter() - started
        steps["cold"] = {"wall_s": round(full, 3), "ratio_to_full": 1.0, **check_output(project)}
        for name, change in changes.items():
            before = scene_files(project.path)
            started = time.perf_counter()
            change()
            line = watched_render(watcher)
            wall = time.perf_counter() - started
            changed = rerendered(before, scene_files(project.path))
            steps[name] = {
                "wall_s": round(wall, 3),
                "ratio_to_full": round(wall / full, 4),
                "scenes_rerendered": len(changed),
                "rerendered_hashes": changed,
                "line": line,
                **check_output(project),
            }
    finally:
        watcher.stop()
    return {"steps": steps, "measured_on": "an unrendered copy of the bench project, after the timed steps"}


def run_bench(args: argparse.Namespace, work: Path, result: dict[str, Any]) -> None:
    """Fill ``result`` step by step (so that a failure still leaves the figures measured so far)."""
    width, height = args.size
    project = bench_project.generate(
        work / "project", scenes=args.scenes, width=width, height=height, fps=args.fps
    )
    pristine = work / "pristine"
    shutil.copytree(project.path, pristine)
    generated = copy.deepcopy(project)
    clip_titles = {s.title for s in project.scenes if s.kind == "video"}
    sentences = [s for scene in project.scenes for s in scene.sentences]
    steps: dict[str, Any] = {}
    result["steps"] = steps
    result["load"]["before"] = load_now()

    steps["cold"] = timed_step(project, lambda: None, cores=args.cores, full_s=None)
    full = steps["cold"]["wall_s"]
    build = project.path / "build"
    cold_manifest = json.loads((build / "manifest.json").read_text())
    result.update(cold_figures(build, cold_manifest))

    result["changes"] = incremental_steps(project, steps, args.cores, full)
    manifest = json.loads((build / "manifest.json").read_text())
    result["composition"] = {
        "run_wall_s": steps["compose_only"]["wall_s"],
        "rule_s": rule_benchmarks(build).get("compose", {}).get("max_s"),
        "manifest_composition_s": manifest.get("composition_s"),
    }
    result["preview"] = optional(
        lambda: measure_preview(
            pristine, work / "preview", args.cores, full,
            "a cold render of a copy of the untouched bench project, right after the timed steps",
        )
    )  # fmt: skip
    # The usual order: a preview after the project was rendered, so its narration is in the cache.
    result["preview_after_full"] = optional(
        lambda: measure_preview(
            project.path, work / "preview-after-full", args.cores, full,
            "a copy of the bench project after the timed steps (narration in build/cache/narration)",
        )
    )  # fmt: skip
    watched = watch_copy(generated, pristine, work)
    result["watch"] = optional(lambda: watch_steps(watched, args.cores, work / "watch.log"))
    result["load"]["after_timed_steps"] = load_now()

    result["quality"] = optional(lambda: measure_quality(build, manifest, clip_titles, args.fps))

    # The untimed extras: a failure is reported in its own figure and does not stop the others.
    no_strace = {"total": None, "note": "--no-strace"}
    result["launches"] = optional(
        lambda: measure_launches(pristine, work, args.cores) if args.strace else no_strace
    )
    result["tts"]["direct"] = tts_direct(sentences)
    result["moviepy"] = optional(lambda: run_comparator(args, project, build, cold_manifest, full, work))
    result["motion"] = optional(lambda: motion_step(project, args.cores, full))
    result["defaults_preview"] = optional(lambda: defaults_preview_step(pristine, work, args.cores))
    no_load = {"note": "skipped: --no-load"}
    result["service_load"] = optional(lambda: measure_service_load(work) if args.service_load else no_load)
    result["load"]["after"] = load_now()


def watch_copy(generated: BenchProject, pristine: Path, work: Path) -> BenchProject:
    """An unrendered copy of the bench project as ``generated`` (before the timed steps changed it)."""
    folder = work / "watch"
    shutil.copytree(pristine, folder)
    return replace(copy.deepcopy(generated), path=folder)


def measure_service_load(work: Path) -> dict[str, Any]:
    """The studio under load (reelmake.service.loadtest, the same run as the fault suite's load test):
    a real `reelmake serve --workers 1`, 50 clients reading Range requests of a finished video, 20
    WebSocket watchers and 10 renders queued at once."""
    data = work / "service-load" / "data"
    data.parent.mkdir(parents=True)
    plan = LoadPlan()
    process, port = spawn_server(data, "--workers", "1", log=data.parent / "server.log")
    try:
        report = run_load(f"http://127.0.0.1:{port}", data, process.pid, plan)
    finally:
        process.terminate()
        process.wait(30)
    return {"plan": asdict(plan), **report.figures()}


def service_load_markdown(figures: dict[str, Any]) -> str:
    """The load figures as their own table (absent when the step was skipped or failed)."""
    if "range_reads" not in figures:
        return f"studio under load: {figures.get('note', 'n/a')}"
    plan = figures["plan"]
    rows = [
        ("Range reads (all bytes compared)", f"{figures['range_reads']} by {plan['range_clients']} clients"),
        ("Range reads per second", _fmt(figures["range_reads_per_s"], "", 1)),
        ("Range read latency p50 / p99", f"{figures['p50_ms']:.1f} ms / {figures['p99_ms']:.1f} ms"),
        ("WebSocket watchers that saw their job end", f"{figures['watchers_complete']} / {plan['watchers']}"),
        ("renders queued at once, succeeded", f"{figures['renders_succeeded']} / {plan['renders']}"),
        ("server RSS before / peak (VmHWM)",
         f"{figures['server_rss_before_mb']:.0f} MB / {figures['server_peak_rss_mb']:.0f} MB"),
        ("wrong or missing answers", str(len(figures["failures"]))),
        ("wall time", f"{figures['seconds']:.1f} s"),
    ]  # fmt: skip
    lines = ["| studio under load (`reelmake serve --workers 1`) | value |", "|---|---|"]
    return "\n".join(lines + [f"| {name} | {value} |" for name, value in rows])


VIDEO_RULES = ("scene_image", "scene_clip")  # all but the narration


def video_seconds(build: Path, scene_hash: str) -> float:
    """Sum of Snakemake's `s` over the jobs that made one scene's picture and video segment."""
    total = 0.0
    for rule in VIDEO_RULES:
        tsv = build / "benchmarks" / rule / f"{scene_hash}.tsv"
        if tsv.exists():
            with tsv.open(newline="") as fh:
                total += sum(_number(row.get("s")) or 0.0 for row in csv.DictReader(fh, delimiter="\t"))
    return total


def motion_step(project: BenchProject, cores: int, full: float) -> dict[str, Any]:
    """The photo scenes re-rendered moving (``motion: auto``): the run, and the video cost per second.

    Runs last, so that every other figure is of the still project. The motion setting is part of those
    scenes' hashes, but their narration comes from the narration cache; the cost per second of video
    counts only the picture and video jobs, moving (canvas, title, every frame) against still (picture,
    keyframe, skip frames) for the same scenes.
    """
    build = project.path / "build"
    photos = {s.title for s in project.scenes if s.kind == "photo"}
    still = {s["title"]: s for s in json.loads((build / "manifest.json").read_text())["scenes"]}
    config = project.path / "config.yaml"

    def move_photos() -> None:
        config.write_text(config.read_text().replace("motion: none", "motion: auto"))

    step = timed_step(project, move_photos, cores=cores, full_s=full)
    moving = {s["title"]: s for s in json.loads((build / "manifest.json").read_text())["scenes"]}
    video_s = sum(moving[t]["frames"] for t in photos) / project.fps
    moving_s = sum(video_seconds(build, moving[t]["hash"]) for t in photos)
    still_s = sum(video_seconds(build, still[t]["hash"]) for t in photos)
    return {
        "step": step,
        "photo_scenes": len(photos),
        "video_s": round(video_s, 2),
        "moving_video_jobs_s": round(moving_s, 2),
        "still_video_jobs_s": round(still_s, 2),
        "moving_s_per_video_s": round(moving_s / video_s, 4) if video_s else None,
        "still_s_per_video_s": round(still_s / video_s, 4) if video_s else None,
        "note": "photo scenes with motion: auto; their narration is reused from the narration cache; "
        "per-second figures sum Snakemake's `s` of scene_image and scene_clip",
    }


def measure_quality(build: Path, manifest: dict[str, Any], clip_titles: set[str], fps: int) -> dict[str, Any]:
    """quality.py on the final video as it stands, plus |audio end - video end| from a packet scan."""
    figures = quality.analyse(build / "final.mp4", quality.scene_refs(build, manifest, clip_titles), fps)
    figures["measured_on"] = "build/final.mp4 after all steps (reordered, image replaced, reverted)"
    end = probe(build / "final.mp4", decode="none")
    if end.audio_duration_s is not None and end.video_duration_s is not None:
        figures["end_offset_ms"] = round(abs(end.audio_duration_s - end.video_duration_s) * 1000, 2)
    return figures


def optional(measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one extra measurement; on failure, its figures are null and the note says why."""
    try:
        return measure()
    except Exception as exc:
        return {"failed": True, "note": f"failed: {type(exc).__name__}: {exc}"}


def run_comparator(
    args: argparse.Namespace,
    project: BenchProject,
    build: Path,
    manifest: dict[str, Any],
    full: float,
    work: Path,
) -> dict[str, Any]:
    """MoviePy composing the cold render's scenes (stills, WAVs, clips) in the same order."""
    found = comparator.available()
    if not args.moviepy or found is None:
        note = "skipped: --no-moviepy" if not args.moviepy else "skipped: moviepy is not importable"
        return {"seconds": None, "ratio_to_full": None, "note": note}
    scenes = []
    for s in manifest["scenes"]:
        folder = build / "scenes" / s["hash"]
        visual = project.scene_titled(s["title"])
        clip = project.path / visual.visual if visual.kind == "video" and visual.visual else None
        scenes.append(
            comparator.ComparatorScene(
                folder / "image.png", folder / "narration.wav", s["frames"] / args.fps, clip
            )
        )
    out = work / "moviepy.mp4"
    seconds = comparator.render(scenes, out, size=args.size, fps=args.fps)
    report = probe(out, decode="none")
    return {
        "seconds": round(seconds, 2),
        "ratio_to_full": round(seconds / full, 2),
        "version": found,
        "frames": report.frame_count,
        "expected_frames": sum(s["frames"] for s in manifest["scenes"]),
        "size_bytes": report.size_bytes,
        "note": "composes reelmake's already-rendered stills and narration WAVs (no TTS, no slide drawing)",
    }


# --- report --------------------------------------------------------------------------------------------


def _fmt(value: Any, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**NO**")


def targets(result: dict[str, Any], fps: int) -> list[dict[str, Any]]:
    """The issue's targets, each as {figure, value, target, met}; ``met`` is None when not measured."""
    rows: list[dict[str, Any]] = []
    steps = result.get("steps", {})
    frame_ms = 1000 / fps

    def add(figure: str, value: str, target: str, met: bool | None) -> None:
        rows.append({"figure": figure, "value": value, "target": target, "met": met})

    def step_row(
        name: str, figure: str, limit: float, scenes: int | None, timed: dict[str, Any] = steps
    ) -> None:
        step = timed.get(name)
        if not step:
            return add(figure, "n/a", f"≤ {limit}", None)
        ok = step["ratio_to_full"] <= limit and step["valid"]
        target = f"≤ {limit}"
        if scenes is not None:
            ok = ok and step["scenes_rerendered"] == scenes
            target += f", {scenes} scenes re-rendered" if scenes == 0 else ""
        value = (
            f"{step['ratio_to_full']:.3f} ({step['wall_s']:.2f} s, {step['scenes_rerendered']} re-rendered)"
        )
        return add(figure, value, target, ok)

    if "cold" in steps:
        add("cold full render", f"{steps['cold']['wall_s']:.2f} s", "—", None)
    moviepy = result.get("moviepy", {})
    ratio = moviepy.get("ratio_to_full")
    mp_value = f"{_fmt(ratio)} ({_fmt(moviepy.get('seconds'), ' s')})"
    add("MoviePy ÷ full render", mp_value, "≥ 10", None if ratio is None else ratio >= 10)
    step_row("edit_narration", "edit narration ÷ full", 0.08, None)
    step_row("replace_image", "replace image ÷ full", 0.08, None)
    step_row("reorder", "reorder ÷ full", 0.05, 0)
    step_row("revert_narration", "revert edit ÷ full", 0.05, 0)
    # The same changes through `reelmake watch`, against its own first (cold) render.
    watched = result.get("watch", {}).get("steps", {})
    if "cold" in watched:
        add(
            "`reelmake watch`: first render (from the command's start)",
            f"{watched['cold']['wall_s']:.2f} s",
            "—",
            None,
        )
    step_row("edit_narration", "`reelmake watch`: edit narration ÷ its first render", 0.08, None, watched)
    step_row("replace_image", "`reelmake watch`: replace image ÷ its first render", 0.08, None, watched)
    step_row("reorder", "`reelmake watch`: reorder ÷ its first render", 0.05, 0, watched)
    step_row("revert_narration", "`reelmake watch`: revert edit ÷ its first render", 0.05, 0, watched)
    comp = result.get("composition", {})
    rule_s = comp.get("rule_s")
    add(
        "composition (compose rule `s`)", _fmt(rule_s, " s"), "≤ 2 s", None if rule_s is None else rule_s <= 2
    )
    add("composition (manifest composition_s)", _fmt(comp.get("manifest_composition_s"), " s", 3), "—", None)
    add("compose-only run (`--forcerun compose`, wall)", _fmt(comp.get("run_wall_s"), " s"), "—", None)
    preview = result.get("preview", {})
    speedup = preview.get("full_over_preview")
    add(
        "full render ÷ cold preview",
        f"{_fmt(speedup)} ({_fmt(preview.get('wall_s'), ' s')}, {preview.get('size', 'n/a')})",
        "≥ 4",
        None if speedup is None else speedup >= 4,
    )
    defaults = result.get("defaults_preview", {})
    default_speedup = defaults.get("preview", {}).get("full_over_preview")
    add(
        "default settings (burned captions, moving photos): full render ÷ cold preview",
        f"{_fmt(default_speedup)} ({_fmt(defaults.get('full_wall_s'), ' s')} ÷ "
        f"{_fmt(defaults.get('preview', {}).get('wall_s'), ' s')})",
        "≥ 4",
        None if default_speedup is None else default_speedup >= 4,
    )
    after = result.get("preview_after_full", {})
    add(
        "full render ÷ preview after a full render (narration cached)",
        f"{_fmt(after.get('full_over_preview'))} ({_fmt(after.get('wall_s'), ' s')})",
        "—",
        None,
    )
    noop = steps.get("noop")
    add("no-op run", _fmt(noop and noop["wall_s"], " s"), "≤ 3 s", None if not noop else noop["wall_s"] <= 3)
    rss = [r["max_rss_mb"] for r in result.get("rules", {}).values() if r.get("max_rss_mb") is not None]
    peak = max(rss) if rss else None
    add(
        "peak RSS of any job",
        _fmt(peak, " MB", 0),
        "≤ 1 GB (1024 MB)",
        None if peak is None else peak <= 1024,
    )
    q = result.get("quality", {})
    ssim = q.get("min_ssim")
    add(
        "min SSIM (mid-scene frame vs still)",
        _fmt(ssim, "", 4),
        "≥ 0.98",
        None if ssim is None else ssim >= 0.98,
    )
    offset = q.get("max_abs_offset_ms")
    complete = offset is not None and not q.get("scenes_unmeasured")
    frame = f"≤ 1 frame ({frame_ms:.1f} ms)"
    measured = f"{_fmt(offset, ' ms', 1)} ({q.get('scenes_measured', 0)} scenes)"
    add(
        "max |A/V offset| at scene starts",
        measured,
        frame,
        None if offset is None else complete and offset <= frame_ms + 1e-6,
    )
    end = q.get("end_offset_ms")
    add(
        "|audio end − video end|", _fmt(end, " ms", 1), frame, None if end is None else end <= frame_ms + 1e-6
    )
    out = result.get("output", {})
    kbps = out.get("video_kbps")
    video_rate = _fmt(kbps and kbps / 1000, " Mbit/s", 2)
    add("average video bitrate", video_rate, "≤ 4 Mbit/s", None if kbps is None else kbps <= 4000)
    size = out.get("size_bytes")
    total = f"{_fmt(out.get('total_kbps'), ' kbit/s', 0)} / {_fmt(size and size / 1e6, ' MB', 1)}"
    add("average total bitrate / size", total, "—", None)
    launches = result.get("launches", {})
    add("process launches per cold render (execve)", _fmt(launches.get("total")), "—", None)
    tts = result.get("tts", {})
    add(
        "TTS x realtime (narration rule, incl. start-up)", _fmt(tts.get("rule_x_realtime"), "x", 1), "—", None
    )
    add("TTS x realtime (in-process)", _fmt(tts.get("direct", {}).get("x_realtime"), "x", 1), "—", None)
    motion = result.get("motion", {})
    moving, still = motion.get("moving_s_per_video_s"), motion.get("still_s_per_video_s")
    photos = motion.get("photo_scenes")
    cost = f"{_fmt(moving, ' s', 3)} moving, {_fmt(still, ' s', 3)} still ({photos} photos)"
    add("video jobs per second of photo scene (Ken Burns)", cost, "—", None)
    step = motion.get("step")
    wall = f"{step['wall_s']:.2f} s ({step['scenes_rerendered']} re-rendered)" if step else "n/a"
    add("photos re-rendered with motion (narration reused)", wall, "—", None)
    return rows


def markdown(result: dict[str, Any]) -> str:
    lines = ["| figure | value | target | met? |", "|---|---|---|---|"]
    lines += [
        f"| {r['figure']} | {r['value']} | {r['target']} | {_met(r['met'])} |" for r in result["targets"]
    ]
    lines += ["", "| step | wall s | ÷ full | scenes re-rendered | valid |", "|---|---|---|---|---|"]
    for name, step in result.get("steps", {}).items():
        valid = "yes" if step["valid"] else "NO: " + "; ".join(step["problems"])
        figures = f"{step['wall_s']:.2f} | {step['ratio_to_full']:.3f} | {step['scenes_rerendered']}"
        lines.append(f"| {name} | {figures} | {valid} |")
    lines += ["", "| rule (cold render) | jobs | sum s | max s | max RSS MB |", "|---|---|---|---|---|"]
    for rule, row in sorted(result.get("rules", {}).items()):
        rss = _fmt(row["max_rss_mb"], "", 0)
        lines.append(f"| {rule} | {row['jobs']} | {_fmt(row['sum_s'])} | {_fmt(row['max_s'])} | {rss} |")
    if "service_load" in result:
        lines += ["", service_load_markdown(result["service_load"])]
    return "\n".join(lines)


def size_arg(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if not match:
        raise argparse.ArgumentTypeError("expected WxH, e.g. 1920x1080")
    return int(match.group(1)), int(match.group(2))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenes", type=int, default=30, help="number of scenes (default 30, at least 3)")
    parser.add_argument(
        "--size", type=size_arg, default=(1920, 1080), help="frame size WxH (default 1920x1080)"
    )
    parser.add_argument(
        "--fps", type=int, default=30, choices=(24, 25, 30, 60), help="frame rate (default 30)"
    )
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores (default 2)")
    parser.add_argument(
        "--no-moviepy", dest="moviepy", action="store_false", help="skip the MoviePy comparator"
    )
    parser.add_argument(
        "--no-strace", dest="strace", action="store_false", help="do not count process launches"
    )
    parser.add_argument(
        "--no-load", dest="service_load", action="store_false", help="skip the studio's load test"
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="folder for the JSON (default benchmarks/results)"
    )
    parser.add_argument("--workdir", type=Path, help="work folder (new or empty; kept afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stamp = datetime.now(UTC)
    if args.workdir:
        work = args.workdir.resolve()
        if work.exists() and any(work.iterdir()):
            print(f"bench: --workdir {work} is not empty", file=sys.stderr)
            return 2
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="reelmake-bench-", dir="/tmp"))
    width, height = args.size
    result: dict[str, Any] = {
        "timestamp": stamp.isoformat(timespec="seconds"),
        "config": {
            "scenes": args.scenes,
            "width": width,
            "height": height,
            "fps": args.fps,
            "cores": args.cores,
        },
        "machine": machine_info(),
        "load": {},
        "workdir": str(work),
    }
    error = None
    started = time.perf_counter()
    try:
        run_bench(args, work, result)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        result["error"] = error
        result["traceback"] = traceback.format_exc()
    finally:
        result["bench_wall_s"] = round(time.perf_counter() - started, 1)
        if not args.workdir and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            result["workdir"] = None
    result["targets"] = targets(result, args.fps)
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"{stamp.strftime('%Y%m%dT%H%M%SZ')}-{args.scenes}x{height}.json"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    load = result["load"].get("before", {}).get("loadavg")
    print(
        f"reelmake bench: {args.scenes} scenes, {width}x{height} @ {args.fps} fps, --cores {args.cores}; "
        f"load average before {load}; {result['bench_wall_s']} s in all\n"
    )
    print(markdown(result))
    print()
    for name in ("moviepy", "launches", "quality"):
        figures = result.get(name, {})
        if note := figures.get("note") or figures.get("measured_on"):
            print(f"{name}: {note[:600]}")
    print(f"\nResults: {out}" + (f"\nWork folder kept: {work}" if result["workdir"] else ""))
    if error:
        print(f"\nbench: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
