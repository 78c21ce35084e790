"""The root directory every system-changing operation works in.

Production uses `/`; tests and the demo use a sandbox tree, so nothing touches the host. Paths
given to a `Root` are the paths as seen inside it (`/etc/hostname`); symlinks are followed the way
a chroot would (an absolute target is taken inside the root, `..` stops at the root), so nothing
resolved through a `Root` can land outside it. Writes that must survive a crash are atomic and get
their mode from the first byte.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import stat
import time
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from .errors import InvalidArgs

log = logging.getLogger(__name__)

_MAX_SYMLINKS = 40
# `.#<name>.<pid>-<token>.tmp`; the token-less form is what earlier versions wrote. The token
# keeps a stale file of an earlier process with the same pid from blocking a new write.
_TEMP_NAME = re.compile(r"\.#(?P<name>.+)\.(?P<pid>[0-9]+)(?:-[0-9a-f]+)?\.tmp")
# A temporary file this old is stale even when a process of its writer's pid is alive.
STALE_AFTER = 3600.0


class Root:
    """A directory treated as `/` for the operations given it."""

    def __init__(self, path: str | os.PathLike[str] = "/") -> None:
        self.path = Path(os.path.abspath(path))

    def __repr__(self) -> str:
        return f"Root({str(self.path)!r})"

    @property
    def is_host(self) -> bool:
        return self.path == Path("/")

    def join(self, inner: str | PurePosixPath) -> Path:
        """The host path of `inner`, joined lexically; `..` components are refused."""
        parts = PurePosixPath(inner).parts
        if ".." in parts:
            raise InvalidArgs(f"path {str(inner)!r} contains '..'")
        relative = [p for p in parts if p != "/"]
        return self.path.joinpath(*relative)

    def resolve(self, inner: str | PurePosixPath) -> Path:
        """The host path of `inner` with symlinks followed inside the root, like `chase()`."""
        todo = [p for p in PurePosixPath(inner).parts if p not in ("/", ".")]
        done: list[str] = []
        hops = 0
        while todo:
            part = todo.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = self.path.joinpath(*done, part)
            try:
                is_link = stat.S_ISLNK(os.lstat(candidate).st_mode)
            except FileNotFoundError:
                is_link = False
            if not is_link:
                done.append(part)
                continue
            hops += 1
            if hops > _MAX_SYMLINKS:
                raise InvalidArgs(f"too many symlinks resolving {str(inner)!r}")
            target = PurePosixPath(os.readlink(candidate))
            if target.is_absolute():
                done = []
            todo = [p for p in target.parts if p not in ("/", ".")] + todo
        return self.path.joinpath(*done)

    def inner(self, host_path: str | os.PathLike[str]) -> PurePosixPath:
        """The path inside the root of a host path that lies in it."""
        relative = Path(host_path).relative_to(self.path)
        return PurePosixPath("/") / PurePosixPath(relative.as_posix())

    def exists(self, inner: str | PurePosixPath) -> bool:
        return self.resolve(inner).exists()

    def read_bytes(self, inner: str | PurePosixPath) -> bytes | None:
        """The file's content, or None when it does not exist."""
        try:
            return self.resolve(inner).read_bytes()
        except FileNotFoundError:
            return None

    def read_text(self, inner: str | PurePosixPath) -> str | None:
        data = self.read_bytes(inner)
        return None if data is None else data.decode("utf-8", errors="replace")

    def makedirs(self, inner: str | PurePosixPath, mode: int = 0o755) -> Path:
        """Create a directory and its parents (new ones get `mode`, existing ones are kept)."""
        path = self.resolve(inner)
        missing = []
        probe = path
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for directory in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(directory, mode)
                os.chmod(directory, mode)  # not subject to the umask
        return path

    def write_atomic(
        self,
        inner: str | PurePosixPath,
        data: bytes | str,
        *,
        mode: int = 0o644,
        uid: int | None = None,
        gid: int | None = None,
    ) -> Path:
        """Write a file so a crash leaves either the old or the new content, never a mix.

        The temporary file is created with `mode` (and owner) before any byte is written, so a
        secret is never readable by others, not even for an instant.
        """
        path = self.resolve(inner)
        write_file_atomic(path, data, mode=mode, uid=uid, gid=gid)
        return path

    def remove(self, inner: str | PurePosixPath) -> bool:
        """Delete a file or symlink; False when it was not there."""
        path = self.resolve_parent(inner)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True

    def resolve_parent(self, inner: str | PurePosixPath) -> Path:
        """Resolve the directory part only: the final component may itself be a symlink."""
        pure = PurePosixPath(inner)
        return self.resolve(pure.parent) / pure.name

    def remove_stale_temps(self, inner_dirs: Iterable[str | PurePosixPath]) -> list[Path]:
        """Delete temporary files of interrupted atomic writes in these directories."""
        removed: list[Path] = []
        for inner in inner_dirs:
            directory = self.resolve(inner)
            if directory.is_dir():
                removed += remove_stale_temps(directory)
        return removed

    def glob(self, inner_dir: str | PurePosixPath, pattern: str) -> Iterator[Path]:
        directory = self.resolve(inner_dir)
        if directory.is_dir():
            yield from sorted(directory.glob(pattern))


class NotRegularFile(OSError):
    """A path that must be a regular file of bounded size is something else."""


def read_regular_file(
    path: Path, limit: int, *, follow: bool = True
) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file written by someone else (an extension): opened without
    blocking (a FIFO does not hang us), refused unless a regular file of at most `limit`
    bytes (a link to /dev/zero does not fill our memory); links refused unless `follow`."""
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    with open(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(0, "not a regular file", str(path))
        if info.st_size > limit:
            raise NotRegularFile(0, f"larger than {limit} bytes", str(path))
        return file.read(limit + 1)[:limit], info


def write_file_atomic(
    path: Path,
    data: bytes | str,
    *,
    mode: int = 0o644,
    uid: int | None = None,
    gid: int | None = None,
) -> None:
    """Atomic replace of `path`: temp file with the final mode, fsync, rename, fsync directory."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    directory = path.parent
    tmp = directory / f".#{path.name}.{os.getpid()}-{os.urandom(4).hex()}.tmp"
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, mode & 0o600
    )
    try:
        # Held until the rename: a sweeper never takes the file of a live writer.
        fcntl.flock(fd, fcntl.LOCK_EX)
        if uid is not None or gid is not None:
            os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
        os.fchmod(fd, mode)  # exact mode, whatever the umask; the file is still empty
        view = memoryview(payload)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_stale_temps(directory: Path, *, now: float | None = None) -> list[Path]:
    """Delete the temporary files `write_file_atomic` left in `directory` when killed.

    Only regular files with our naming are candidates. A file is stale when no process holds
    its lock (a writer holds it from creation to rename, and the kernel drops it when the
    writer dies) and, as well, its writer's pid is gone, or it was written before this boot,
    or it is older than STALE_AFTER. The second condition covers the instant between a
    writer's create and its lock, when the lock alone would say "free".
    """
    removed = []
    for entry in os.scandir(directory):
        if _TEMP_NAME.fullmatch(entry.name) and _remove_if_stale(Path(entry.path), now):
            log.info("removed %s, left by an interrupted write", entry.path)
            removed.append(Path(entry.path))
    return removed


def _remove_if_stale(path: Path, now: float | None) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False  # a symlink, or already gone
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live writer
        match = _TEMP_NAME.fullmatch(path.name)
        assert match is not None
        if not _writer_gone(int(match["pid"]), st.st_mtime, now):
            return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return True
    finally:
        os.close(fd)


def _writer_gone(pid: int, mtime: float, now: float | None) -> bool:
    now = time.time() if now is None else now
    booted = now - time.clock_gettime(time.CLOCK_BOOTTIME)
    if mtime < booted or now - mtime > STALE_AFTER:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed writer not yet reaped by its parent still has its pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in (b"Z", b"X")
