"""Unpacking a handler package safely (reference §9.4, §9.5).

The zip comes from the network, so nothing in it is trusted: no absolute paths, no `..`, no
entry that is not a regular file, a directory or a symlink staying inside the handler directory;
a total size and a file count limit checked before anything is written (a zip bomb is refused
from its directory) and again while writing (an archive that lies about sizes fails its CRC or
is cut). Everything lands in a temporary directory next to the target and is renamed into place
only when complete, so a crash never leaves a half-unpacked handler.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from .errors import Code, ExtensionError
from .handler_manifest import FILE_NAME

DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_MAX_FILES = 50_000
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_files: int = DEFAULT_MAX_FILES


def _refuse(message: str) -> ExtensionError:
    return ExtensionError(Code.PACKAGE_EXTRACTION_FAILED, f"unsafe package: {message}")


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath:
    name = info.filename
    if "\x00" in name:
        raise _refuse(f"entry {name!r} has a NUL in its name")
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("/"):
        raise _refuse(f"entry {name!r} is an absolute path")
    if ".." in path.parts:
        raise _refuse(f"entry {name!r} leaves the handler directory ('..')")
    if not path.parts or path.parts == (".",):
        raise _refuse(f"entry {name!r} has no name")
    return path


def _kind(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16
    if info.is_dir() or stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if mode == 0 or stat.S_ISREG(mode):
        return "file"
    return "special"


def _check_link(path: PurePosixPath, target: str) -> None:
    """A symlink must point inside the handler directory, relative to where it is."""
    if not target or target.startswith("/"):
        raise _refuse(f"symlink {str(path)!r} points to {target!r}, outside the handler")
    depth = len(path.parent.parts)
    for part in PurePosixPath(target).parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            raise _refuse(f"symlink {str(path)!r} points to {target!r}, outside the handler")


def check_archive(archive: zipfile.ZipFile, limits: Limits) -> None:
    """Everything that can be refused from the central directory, before writing a byte."""
    members = archive.infolist()
    if len(members) > limits.max_files:
        raise _refuse(f"{len(members)} entries, more than the {limits.max_files} allowed")
    total = sum(info.file_size for info in members)
    if total > limits.max_bytes:
        raise _refuse(
            f"it unpacks to {total} bytes, more than the {limits.max_bytes} allowed (a zip bomb?)"
        )
    for info in members:
        path = _member_path(info)
        kind = _kind(info)
        if kind == "special":
            raise _refuse(f"entry {info.filename!r} is a device, FIFO or socket")
        if kind == "symlink":
            if info.file_size > 4096:
                raise _refuse(f"symlink {info.filename!r} has an oversized target")
            _check_link(path, archive.read(info).decode("utf-8", errors="replace"))


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit

    def take(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise _refuse("it unpacks to more bytes than its directory declares (a zip bomb?)")


def _copy(source: IO[bytes], target: IO[bytes], budget: _Budget) -> None:
    while chunk := source.read(_CHUNK):
        budget.take(len(chunk))
        target.write(chunk)


def _safe_join(base: Path, path: PurePosixPath) -> Path:
    """Join and refuse to go through a symlink created by an earlier entry."""
    current = base
    for part in path.parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise _refuse(f"entry {str(path)!r} goes through the symlink {part!r}")
    return current / path.parts[-1]


def extract(archive: zipfile.ZipFile, target: Path, limits: Limits) -> None:
    """Unpack into the (empty, existing) directory `target`."""
    budget = _Budget(limits.max_bytes)
    for info in archive.infolist():
        path = _member_path(info)
        destination = _safe_join(target, path)
        kind = _kind(info)
        if kind == "dir":
            destination.mkdir(parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        if destination.is_symlink() or destination.exists():
            destination.unlink()
        if kind == "symlink":
            os.symlink(archive.read(info).decode("utf-8"), destination)
            continue
        mode = (info.external_attr >> 16) & 0o777 or 0o644
        fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with open(fd, "wb") as sink, archive.open(info) as source:
            _copy(source, sink, budget)
        # Classic: the owner may execute every file of the handler (§9.4).
        os.chmod(destination, mode | stat.S_IRUSR | stat.S_IWUSR | stat.S_IXUSR)


def _first_manifest(directory: Path) -> Path | None:
    """The HandlerManifest.json nearest the top (the first found, as the classic agent)."""
    found = [Path(top) / FILE_NAME for top, _, names in os.walk(directory) if FILE_NAME in names]
    found = [p for p in found if p.is_file() and not p.is_symlink()]
    return min(found, key=lambda p: (len(p.parts), str(p))) if found else None


@contextlib.contextmanager
def _temporary_dir(target: Path) -> Iterator[Path]:
    temp = target.parent / f".{target.name}.unpacking.{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(mode=0o700)
    try:
        yield temp
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def unpack(package: BinaryIO, target: Path, limits: Limits = Limits()) -> None:
    """Unpack a handler package to `target` (replacing whatever was there), all or nothing."""
    try:
        archive = zipfile.ZipFile(package)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ExtensionError(
            Code.PACKAGE_EXTRACTION_FAILED, f"the package is not a zip archive: {exc}"
        ) from None
    with archive, _temporary_dir(target) as temp:
        check_archive(archive, limits)
        try:
            extract(archive, temp, limits)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            raise ExtensionError(
                Code.PACKAGE_EXTRACTION_FAILED, f"the package is corrupt: {exc}"
            ) from None
        manifest = _first_manifest(temp)
        if manifest is None:
            raise ExtensionError(Code.HANDLER_MANIFEST_NOT_FOUND, f"the package has no {FILE_NAME}")
        if manifest != temp / FILE_NAME:
            text = manifest.read_bytes().removeprefix(b"\xef\xbb\xbf")
            (temp / FILE_NAME).write_bytes(text)
        os.chmod(temp, 0o755)  # noqa: S103 - the classic mode; Lib.Dir above it is 0700
        if target.exists() or target.is_symlink():
            remove_tree(target)
        os.rename(temp, target)


def remove_tree(path: Path) -> None:
    """Delete a handler directory; one that is already gone is fine (classic ignores ENOENT)."""
    if path.is_symlink():
        path.unlink(missing_ok=True)
        return
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)
