"""Unpacking a handler package safely (reference §9.4, §9.5).

The zip comes from the network, so nothing in it is trusted. Before a byte is written the
archive's directory is judged as a tree: no absolute paths, no `..` in names, no entry twice, no
entry below a file or a symlink, nothing that is not a regular file, a directory or a symlink,
and every symlink resolved through the other symlinks of the archive (as the kernel will) must
stay inside the handler directory; a total size and a file count limit refuse a zip bomb from
its directory, and a budget cuts an archive that lies about sizes while writing.

Writing never follows a link: every file is created relative to a directory descriptor opened
with O_NOFOLLOW, with O_EXCL. After writing, every symlink is resolved once more against the
real tree. Everything lands in a temporary directory next to the target and is renamed into
place only when complete, so a crash never leaves a half-unpacked handler.
"""

from __future__ import annotations

import contextlib
import errno
import logging
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

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_MAX_FILES = 50_000
_CHUNK = 1 << 20
_MAX_LINK_TARGET = 4096
_MAX_LINK_HOPS = 40  # the kernel's limit (ELOOP)
# Directories the agent writes into after unpacking (§9.6): a package may ship them, but only
# as directories, so the agent's settings and state never land anywhere else.
_AGENT_DIRS = frozenset({"config", "status"})
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

Parts = tuple[str, ...]


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_files: int = DEFAULT_MAX_FILES


def _refuse(message: str) -> ExtensionError:
    return ExtensionError(Code.PACKAGE_EXTRACTION_FAILED, f"unsafe package: {message}")


def _show(parts: Parts) -> str:
    return repr("/".join(parts))


def _member_path(info: zipfile.ZipInfo) -> Parts:
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
    return path.parts


def _kind(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16
    if info.is_dir() or stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    # No file type at all is a regular file: DOS-made zips carry no mode, and Python's
    # zipfile.writestr sets permission bits only.
    if stat.S_IFMT(mode) == 0 or stat.S_ISREG(mode):
        return "file"
    return "special"


# ---- the archive as a tree, judged before writing ------------------------------------------


@dataclass
class _Tree:
    """What the archive would create: kinds by path, and the targets of its symlinks."""

    kinds: dict[Parts, str]
    links: dict[Parts, str]


def _link_target(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Parts) -> str:
    if info.file_size > _MAX_LINK_TARGET:
        raise _refuse(f"symlink {_show(path)} has an oversized target")
    try:
        target = archive.read(info).decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(f"the target of symlink {_show(path)} is not UTF-8") from None
    if not target or "\x00" in target:
        raise _refuse(f"symlink {_show(path)} has an empty target or a NUL in it")
    return target


def _tree(archive: zipfile.ZipFile) -> _Tree:
    tree = _Tree({}, {})
    for info in archive.infolist():
        path = _member_path(info)
        kind = _kind(info)
        if kind == "special":
            raise _refuse(f"entry {info.filename!r} is a device, FIFO or socket")
        if path in tree.kinds and not (kind == "dir" == tree.kinds[path]):
            raise _refuse(f"entry {_show(path)} appears twice")
        tree.kinds[path] = kind
        if kind == "symlink":
            tree.links[path] = _link_target(archive, info, path)
    return tree


def _check_parents(tree: _Tree, path: Parts) -> None:
    """An entry goes through directories only: never a file or a symlink of the archive."""
    for depth in range(1, len(path)):
        kind = tree.kinds.get(path[:depth])
        if kind == "symlink":
            raise _refuse(f"entry {_show(path)} goes through the symlink {_show(path[:depth])}")
        if kind == "file":
            raise _refuse(f"entry {_show(path)} goes through the file {_show(path[:depth])}")


def _resolve_link(tree: _Tree, link: Parts) -> Parts:
    """Where `link` leads, following the archive's other links the way the kernel does: a link
    met on the way is replaced by its target before any `..` after it is applied."""
    outside = _refuse(f"symlink {_show(link)} points to {tree.links[link]!r}, outside the handler")
    done: list[str] = list(link[:-1])
    todo: list[str] = list(PurePosixPath(tree.links[link]).parts)
    hops = 1
    while todo:
        part = todo.pop(0)
        if part.startswith("/"):  # an absolute target, here or in a link on the way
            raise outside
        if part == ".":
            continue
        if part == "..":
            if not done:
                raise outside
            done.pop()
            continue
        done.append(part)
        target = tree.links.get(tuple(done))
        if target is None:
            continue
        hops += 1
        if hops > _MAX_LINK_HOPS:
            raise _refuse(f"symlink {_show(link)} is part of a loop of symlinks")
        done.pop()
        todo = [*PurePosixPath(target).parts, *todo]
    return tuple(done)


def _check_agent_dirs(tree: _Tree) -> None:
    for name in _AGENT_DIRS:
        kind = tree.kinds.get((name,))
        if kind is not None and kind != "dir":
            raise _refuse(f"{name!r} must be a directory (the agent writes into it), not a {kind}")


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
    tree = _tree(archive)
    for path in tree.kinds:
        _check_parents(tree, path)
    for link in tree.links:
        _resolve_link(tree, link)
    _check_agent_dirs(tree)


# ---- writing, relative to directory descriptors, never through a link ----------------------


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


def _open_dir(parent_fd: int, name: str, path: Parts) -> int:
    """The directory `name` below `parent_fd` (created when missing); a link is not followed."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o755, dir_fd=parent_fd)
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _refuse(f"entry {_show(path)} goes through {name!r}, not a directory") from None
        raise


@contextlib.contextmanager
def _directory(root_fd: int, path: Parts) -> Iterator[int]:
    """A descriptor of the directory `path` below `root_fd`, walked one component at a time."""
    fd = os.dup(root_fd)
    try:
        for name in path:
            child = _open_dir(fd, name, path)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _write_file(parent_fd: int, name: str, source: IO[bytes], mode: int, budget: _Budget) -> None:
    fd = os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=parent_fd)
    with open(fd, "wb") as sink:
        _copy(source, sink, budget)
        # Classic: the owner may execute every file of the handler (§9.4).
        os.fchmod(sink.fileno(), mode | stat.S_IRWXU)


def extract(archive: zipfile.ZipFile, target: Path, limits: Limits) -> None:
    """Unpack into the (empty, existing) directory `target`; check_archive judged it."""
    budget = _Budget(limits.max_bytes)
    root_fd = os.open(target, _DIR_FLAGS)
    try:
        for info in archive.infolist():
            path = _member_path(info)
            kind = _kind(info)
            if kind == "dir":
                with _directory(root_fd, path):
                    continue
            with _directory(root_fd, path[:-1]) as parent_fd:
                if kind == "symlink":
                    os.symlink(archive.read(info).decode("utf-8"), path[-1], dir_fd=parent_fd)
                    continue
                mode = (info.external_attr >> 16) & 0o777 or 0o644
                with archive.open(info) as source:
                    _write_file(parent_fd, path[-1], source, mode, budget)
    finally:
        os.close(root_fd)


def check_tree(directory: Path) -> None:
    """Every symlink under `directory`, resolved against the real tree, stays inside it."""
    base = os.path.realpath(directory)
    for top, dirs, files in os.walk(directory):
        for name in (*dirs, *files):
            path = os.path.join(top, name)
            if not os.path.islink(path):
                continue
            real = os.path.realpath(path)
            if real != base and not real.startswith(base + os.sep):
                relative = os.path.relpath(path, directory)
                raise _refuse(f"symlink {relative!r} resolves to {real!r}, outside the handler")


# ---- the handler manifest at the top ------------------------------------------------------


def _first_manifest(directory: Path) -> Path | None:
    """The HandlerManifest.json nearest the top (the first found, as the classic agent); a
    symlink does not count (os.walk does not enter linked directories either)."""
    found = [
        Path(top) / FILE_NAME
        for top, _, names in os.walk(directory)
        if FILE_NAME in names and not os.path.islink(os.path.join(top, FILE_NAME))
    ]
    return min(found, key=lambda p: (len(p.parts), str(p))) if found else None


def _read_nofollow(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    with open(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _refuse(f"{FILE_NAME} is not a regular file")
        return file.read()


def _manifest_to_top(directory: Path) -> None:
    """Copy the nearest manifest to the top, replacing whatever is there (a link is removed,
    never written through)."""
    manifest = _first_manifest(directory)
    if manifest is None:
        raise ExtensionError(Code.HANDLER_MANIFEST_NOT_FOUND, f"the package has no {FILE_NAME}")
    if manifest == directory / FILE_NAME:
        return
    text = _read_nofollow(manifest).removeprefix(b"\xef\xbb\xbf")
    root_fd = os.open(directory, _DIR_FLAGS)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(FILE_NAME, dir_fd=root_fd)
        fd = os.open(FILE_NAME, _NEW_FILE_FLAGS, 0o644, dir_fd=root_fd)
        with open(fd, "wb") as sink:
            sink.write(text)
    finally:
        os.close(root_fd)


# ---- all or nothing -----------------------------------------------------------------------


@contextlib.contextmanager
def _temporary_dir(target: Path) -> Iterator[Path]:
    temp = target.parent / f".{target.name}.unpacking.{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(mode=0o700)
    try:
        yield temp
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _unpack(package: BinaryIO, target: Path, limits: Limits) -> None:
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
        check_tree(temp)
        _manifest_to_top(temp)
        os.chmod(temp, 0o755)  # noqa: S103 - the classic mode; Lib.Dir above it is 0700
        if target.exists() or target.is_symlink():
            remove_tree(target)
        os.rename(temp, target)


def unpack(package: BinaryIO, target: Path, limits: Limits = Limits()) -> None:
    """Unpack a handler package to `target` (replacing whatever was there), all or nothing.

    Every failure is this handler's ExtensionError: the archive is hostile input, and the zip
    library raises many types for it (NotImplementedError, RuntimeError, zlib.error, ...).
    """
    try:
        _unpack(package, target, limits)
    except ExtensionError:
        raise
    except Exception as exc:
        log.warning("unpacking %s failed", target.name, exc_info=True)
        raise ExtensionError(
            Code.PACKAGE_EXTRACTION_FAILED,
            f"the package could not be unpacked: {type(exc).__name__}: {exc}",
        ) from None


def remove_tree(path: Path) -> None:
    """Delete a handler directory; one that is already gone is fine (classic ignores ENOENT)."""
    if path.is_symlink():
        path.unlink(missing_ok=True)
        return
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)
