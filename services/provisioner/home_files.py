"""Files beneath a user's home, reached without ever following a symlink.

A key `Path` from the fabric must land inside the user's home. The path is first checked
lexically (after `$HOME` and `..` are resolved), then every directory below the home is opened
relative to its parent with O_NOFOLLOW, so a symlink planted inside the home (pointing to
/etc/cron.d, say) is refused instead of followed. A target that is a hard link to another file
is refused too: its content would be read and rewritten under the user's ownership.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
from collections.abc import Iterator
from pathlib import PurePosixPath

from ..common.errors import InvalidArgs
from ..common.root import Root

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_FILE = 1 << 20


class KeyPathError(InvalidArgs):
    """A key path the provisioner refuses; the message is the ProvisioningFailed reason."""


def normalize(path: str, home_dir: str) -> PurePosixPath:
    """Classic: `$HOME` becomes OS.HomeDir, then the path is normalized."""
    return PurePosixPath(posixpath.normpath(path.replace("$HOME", home_dir)))


def parts_beneath(path: PurePosixPath, home: PurePosixPath, shown: str) -> tuple[str, ...]:
    """The components of `path` below `home`; anything else is refused."""
    if not path.is_absolute():
        raise KeyPathError(f"key path {shown!r} is not absolute")
    try:
        relative = path.relative_to(home)
    except ValueError:
        raise KeyPathError(f"key path {shown!r} is outside the user's home {home}") from None
    if not relative.parts:
        raise KeyPathError(f"key path {shown!r} is the home directory itself")
    return relative.parts


class HomeFiles:
    """Reads and writes below one home directory as its owner (uid, gid)."""

    def __init__(self, root: Root, home: PurePosixPath, uid: int, gid: int) -> None:
        self.root = root
        self.home = home
        self.uid = uid
        self.gid = gid

    def _open_home(self) -> int | None:
        try:
            return os.open(self.root.resolve_parent(self.home), _DIR_FLAGS)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise KeyPathError(
                f"the home {self.home} is not a plain directory: {exc.strerror}"
            ) from None

    @contextlib.contextmanager
    def _directory(self, parts: tuple[str, ...], *, create: bool) -> Iterator[int | None]:
        """A descriptor of the directory `parts` below the home (None: it does not exist)."""
        fd = self._open_home()
        try:
            for depth, part in enumerate(parts):
                if fd is None:
                    break
                where = self.home.joinpath(*parts[: depth + 1])
                try:
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    if not create:
                        os.close(fd)
                        fd = None
                        break
                    os.mkdir(part, 0o700, dir_fd=fd)
                    os.chown(part, self.uid, self.gid, dir_fd=fd, follow_symlinks=False)
                else:
                    if stat.S_ISLNK(st.st_mode):
                        raise KeyPathError(f"{where} is a symlink; refusing to follow it")
                    if not stat.S_ISDIR(st.st_mode):
                        raise KeyPathError(f"{where} is not a directory")
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
            yield fd
        finally:
            if fd is not None:
                os.close(fd)

    def _check_target(self, fd: int, name: str, where: PurePosixPath) -> os.stat_result | None:
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(st.st_mode):
            raise KeyPathError(f"{where} is a symlink; refusing to follow it")
        if not stat.S_ISREG(st.st_mode):
            raise KeyPathError(f"{where} is not a regular file")
        if st.st_nlink > 1:
            raise KeyPathError(f"{where} has other hard links; refusing to rewrite it")
        return st

    def check(self, parts: tuple[str, ...]) -> None:
        """Refuse symlinks, non-directories and hard links on the way to `parts` (no change)."""
        with self._directory(parts[:-1], create=False) as fd:
            if fd is not None:
                self._check_target(fd, parts[-1], self.home.joinpath(*parts))

    def read(self, parts: tuple[str, ...]) -> bytes | None:
        with self._directory(parts[:-1], create=False) as fd:
            if fd is None or self._check_target(fd, parts[-1], self.home.joinpath(*parts)) is None:
                return None
            file_fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            with os.fdopen(file_fd, "rb") as f:
                return f.read(MAX_FILE)

    def write(self, parts: tuple[str, ...], data: bytes, mode: int) -> None:
        """Atomically replace the file, owned by the user with `mode` from the first byte; the
        directories on the way are made 0700 for the user, and the file's own one is set so."""
        where = self.home.joinpath(*parts)
        with self._directory(parts[:-1], create=True) as fd:
            assert fd is not None
            if len(parts) > 1:
                os.fchown(fd, self.uid, self.gid)
                os.fchmod(fd, 0o700)
            name = parts[-1]
            self._check_target(fd, name, where)
            tmp = f".{name}.waagent-tmp"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=fd)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            file_fd = os.open(tmp, flags, 0o600, dir_fd=fd)
            try:
                os.fchown(file_fd, self.uid, self.gid)
                os.fchmod(file_fd, mode)
                view = memoryview(data)
                while view:
                    view = view[os.write(file_fd, view) :]
                os.fsync(file_fd)
            except BaseException:
                os.close(file_fd)
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=fd)
                raise
            os.close(file_fd)
            os.rename(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
            os.fsync(fd)
