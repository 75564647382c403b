"""Projects of the service: `<data>/projects/<uuid>/`, ordinary reelmake project folders.

Uploads are assembled in `<data>/tmp/` on top of the `reelmake new` template, checked with the same
plan_project as `reelmake check`, and only then renamed into place: a refused upload keeps nothing. Only
the script, config.yaml and assets/ are taken from an upload: the Snakefile and profile always come from
the template, so an upload can never bring code that Snakemake would run.
"""

from __future__ import annotations

import contextlib
import io
import lzma
import re
import shutil
import stat
import struct
import tarfile
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from reelmake.assets import inspect_asset
from reelmake.errors import UserError
from reelmake.plan import CONFIG_NAME, Plan, plan_project
from reelmake.script import SCRIPT_NAMES
from reelmake.workflow import project_template

SCRIPT_SUFFIXES = {".md": "script.md", ".yaml": "script.yaml", ".yml": "script.yaml"}
UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
COPY_CHUNK = 1 << 20
# What reading a damaged, truncated, encrypted or exotically packed archive raises (never a server error):
# a bad CRC or a size its directory lies about, a broken deflate or LZMA stream, an early end of data, an
# encrypted entry or an unknown method, offsets and fields that make no sense; and OSErrors without an
# errno (see _archive_damage).
DAMAGED_ARCHIVE = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,  # e.g. a header offset that points before the file's start
    struct.error,
)


class UploadError(Exception):
    """An upload refused before it is checked as a project: HTTP ``status`` with a message for the user."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """Caps on one upload: its request size, and an archive's unpacked size and file count."""

    max_upload_bytes: int = 2_000_000_000
    max_archive_files: int = 1000


@dataclass(frozen=True)
class Upload:
    """One uploaded file: the name the client gave and its content."""

    name: str
    file: BinaryIO


def safe_name(name: str) -> str:
    """An uploaded file's name, refused unless it is a plain file name (no folders, no hidden files)."""
    base = PurePosixPath(name.replace("\\", "/")).name
    if not base or base.startswith(".") or UNSAFE_NAME.search(base) or len(base) > 200:
        raise UploadError(f"'{name}' is not an acceptable file name; rename it (letters, digits, . - _).")
    return base


class ProjectStore:
    """Creates, edits and finds project folders under ``<data>/projects``."""

    def __init__(self, data: Path, limits: Limits) -> None:
        self.root = data / "projects"
        self.staging = data / "tmp"
        self.limits = limits
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.staging, ignore_errors=True)  # uploads interrupted by a restart
        self.staging.mkdir(parents=True)

    def folder(self, project_id: str) -> Path | None:
        """The project's folder, or None if the id is not one of ours (a UUID; never any other path)."""
        try:
            canonical = str(uuid.UUID(project_id))
        except ValueError:
            return None
        folder = self.root / canonical
        return folder if canonical == project_id and folder.is_dir() else None

    def ids(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    def create(self, script: Upload | None, assets: list[Upload], archive: Upload | None) -> tuple[str, Plan]:
        """A new project from a script and assets, or from an archive of a project folder."""
        if (script is None) == (archive is None):
            raise UploadError("send either a 'script' file (with optional 'assets') or one 'archive' file.")
        project_id = str(uuid.uuid4())
        with self._staged(project_id) as folder:
            if archive is not None:
                if assets:
                    raise UploadError("send assets inside the archive, not beside it.")
                self._unpack(archive, folder)
            else:
                assert script is not None
                self._write_script(folder, script)
                self._write_assets(folder, assets)
            plan = check_project(folder)
            folder.rename(self.root / project_id)
        return project_id, plan

    def replace_script(self, project_id: str, script: Upload) -> Plan:
        """Replace the script; refused (and the old one kept) if the new one fails the checks."""
        return self._edit(project_id, lambda staged: self._write_script(staged, script))

    def add_assets(self, project_id: str, assets: list[Upload]) -> Plan:
        """Add or replace assets; refused (the old files kept) if the project then fails the checks."""
        if not assets:
            raise UploadError("send one or more 'assets' files.")
        return self._edit(project_id, lambda staged: self._write_assets(staged, assets))

    def _edit(self, project_id: str, change: Callable[[Path], None]) -> Plan:
        """Apply ``change`` to a staged copy of the project's sources, check it, then move the files in."""
        folder = self.root / project_id
        with self._staged(project_id) as staged:
            for name in (*SCRIPT_NAMES, CONFIG_NAME):
                if (folder / name).is_file():
                    shutil.copy2(folder / name, staged / name)
            for asset in (folder / "assets").iterdir():
                (staged / "assets" / asset.name).hardlink_to(asset)  # unchanged assets keep their mtimes
            change(staged)
            check_project(staged)
            for name in SCRIPT_NAMES:
                (folder / name).unlink(missing_ok=True)
            for path in [*staged.glob("script.*"), *staged.glob("assets/*")]:
                target = folder / path.relative_to(staged)
                if not (target.exists() and target.samefile(path)):
                    path.replace(target)
        return check_project(folder)

    @contextlib.contextmanager
    def _staged(self, project_id: str) -> Iterator[Path]:
        """A fresh folder made like `reelmake new`, removed afterwards whatever happens."""
        folder = self.staging / f"{project_id}-{uuid.uuid4().hex[:8]}"
        shutil.copytree(project_template(), folder)
        (folder / "script.md").unlink()
        (folder / "assets" / ".keep").unlink(missing_ok=True)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _write_script(self, folder: Path, script: Upload) -> None:
        name = SCRIPT_SUFFIXES.get(PurePosixPath(safe_name(script.name)).suffix.lower())
        if name is None:
            raise UploadError(f"'{script.name}' is not a script: send script.md or script.yaml.")
        for old in SCRIPT_NAMES:
            (folder / old).unlink(missing_ok=True)
        self._copy(script.file, folder / name, budget=[self.limits.max_upload_bytes])

    def _write_assets(self, folder: Path, assets: list[Upload]) -> None:
        budget = [self.limits.max_upload_bytes]
        names = [safe_name(asset.name) for asset in assets]
        if repeated := sorted({name for name in names if names.count(name) > 1}):
            raise UploadError(f"two or more assets are named '{repeated[0]}'; send each file once.")
        for asset in assets:
            target = folder / "assets" / safe_name(asset.name)
            target.unlink(missing_ok=True)  # a hard link to the project's old file: never write through it
            self._copy(asset.file, target, budget)
            inspect_asset(target, shown_as=f"assets/{target.name}")  # by content, not name

    def _copy(self, source: BinaryIO, target: Path, budget: list[int]) -> None:
        """Copy while the shared ``budget`` lasts, counting the bytes read (headers' sizes can lie)."""
        with target.open("wb") as out:
            while chunk := source.read(COPY_CHUNK):
                budget[0] -= len(chunk)
                if budget[0] < 0:
                    raise UploadError(
                        f"the upload is over the limit of {self.limits.max_upload_bytes / 1e6:,.0f} MB.",
                        status=413,
                    )
                out.write(chunk)

    def _unpack(self, archive: Upload, folder: Path) -> None:
        """Extract the script, config.yaml and assets/ of a .zip or .tar.gz, refusing anything unsafe."""
        entries = _archive_entries(archive, self.limits)
        names = [name for name, _, _ in entries]
        root = _project_root(names)
        budget = [self.limits.max_upload_bytes]
        for name, size, open_entry in entries:
            if size is None:
                continue  # a folder
            parts = PurePosixPath(name.replace("\\", "/")).parts[len(root.parts) :]
            relative = Path(*parts) if parts else Path(".")
            wanted = (len(parts) == 1 and parts[0] in (*SCRIPT_NAMES, CONFIG_NAME)) or (
                len(parts) == 2 and parts[0] == "assets" and not parts[1].startswith(".")
            )
            if not wanted:
                continue  # Snakefile, profiles, build/, logs/: the service provides or makes these
            if len(parts) == 2:
                safe_name(parts[1])
            try:
                with open_entry() as source:
                    self._copy(source, folder / relative, budget)
            except Exception as error:
                if not _archive_damage(error):
                    raise
                raise UploadError(
                    f"the archive entry '{name}' cannot be read ({_reason(error)}); pack the project again."
                ) from None
        if not any((folder / name).is_file() for name in SCRIPT_NAMES):
            raise UploadError(
                "the archive has no script.md (or script.yaml) at its root or in its one top folder."
            )
        for asset in sorted((folder / "assets").iterdir()):
            inspect_asset(asset, shown_as=f"assets/{asset.name}")


def _archive_entries(archive: Upload, limits: Limits) -> list[tuple[str, int | None, Callable[[], Any]]]:
    """(name, size or None for a folder, opener) for each entry; links, devices and escaping names refused,
    and so is an archive with too many entries or whose entries add up to more than the upload limit,
    before anything is decompressed (a tar's entries are counted as they are reached, so a bomb is
    refused at its first oversized entry, not after inflating it)."""
    entries: list[tuple[str, int | None, Callable[[], Any]]] = []
    declared = 0  # the bytes the entries say they hold (a lie is caught while copying: _copy counts)

    def add(name: str, size: int | None, opener: Callable[[], Any]) -> None:
        nonlocal declared
        _check_entry_name(name)
        entries.append((name, size, opener))
        declared += size or 0
        if len(entries) > limits.max_archive_files:
            raise UploadError(
                f"the archive holds more than {limits.max_archive_files} entries, the limit.", status=413
            )
        if declared > limits.max_upload_bytes:
            raise UploadError(
                f"the archive unpacks to more than {limits.max_upload_bytes / 1e6:,.0f} MB, the limit.",
                status=413,
            )

    lowered = archive.name.lower()
    if lowered.endswith(".zip"):
        try:
            zipped = zipfile.ZipFile(archive.file)
        except Exception as error:
            if not _archive_damage(error):
                raise
            raise UploadError(f"'{archive.name}' is not a readable .zip file.") from None
        for info in zipped.infolist():
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UploadError(f"the archive entry '{info.filename}' is a link or special file; refused.")
            add(info.filename, None if info.is_dir() else info.file_size, lambda i=info: zipped.open(i))
    elif lowered.endswith((".tar.gz", ".tgz")):
        try:
            tar = tarfile.open(fileobj=archive.file, mode="r:gz")  # noqa: SIM115 (read lazily below)
            while (member := tar.next()) is not None:
                if not (member.isfile() or member.isdir()):
                    raise UploadError(
                        f"the archive entry '{member.name}' is a link or special file; refused."
                    )
                add(
                    member.name,
                    None if member.isdir() else member.size,
                    lambda m=member: contextlib.closing(tar.extractfile(m) or io.BytesIO()),
                )
        except Exception as error:
            if not _archive_damage(error):
                raise
            raise UploadError(f"'{archive.name}' is not a readable .tar.gz file.") from None
    else:
        raise UploadError(f"'{archive.name}' is not an archive this service reads: send a .zip or .tar.gz.")
    return entries


def _archive_damage(error: Exception) -> bool:
    """Whether an error met while reading an archive is the archive's fault rather than the server's. A
    broken bz2 or gzip stream is an OSError without an errno; one with an errno is the disk (full, failing)
    and stays a server error."""
    if isinstance(error, OSError):
        return error.errno is None
    return isinstance(error, DAMAGED_ARCHIVE)


def _reason(error: BaseException) -> str:
    """Why an archive entry could not be read, in a few words (never a server path)."""
    if isinstance(error, RuntimeError | NotImplementedError):
        return "encrypted, or packed with a method this service does not read"
    return "damaged or truncated"


def _check_entry_name(name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or name.startswith(("/", "\\")):
        raise UploadError(f"the archive entry '{name}' points outside the project folder; refused.")


def _project_root(names: list[str]) -> PurePosixPath:
    """The archive's project folder: its root if it has a script there, else its single top-level folder."""
    paths = [PurePosixPath(name) for name in names]
    if any(str(p) in SCRIPT_NAMES for p in paths):
        return PurePosixPath(".")
    tops = {p.parts[0] for p in paths if p.parts}
    if len(tops) == 1:
        return PurePosixPath(tops.pop())
    raise UploadError("the archive has no script.md (or script.yaml) at its root or in its one top folder.")


def check_project(folder: Path) -> Plan:
    """The checks of `reelmake check`; messages name the project's files, never the server's folders."""
    try:
        return plan_project(folder)
    except UserError as error:
        raise UserError(
            str(error).replace(f"{folder.resolve()}/", "").replace(str(folder.resolve()), "the project")
        ) from None
