"""The daemon's pid file (`Pid.File`): one `waagent -daemon` at a time.

The classic daemon trusted a live pid in the file; a stale file whose pid was reused by another
process then stopped the agent from starting. Here the file is also locked (flock) for as long
as the daemon runs, so "another daemon runs" means the lock is held, and a stale file is simply
taken over.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class PidFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def adopt(cls, path: Path, fd: int) -> PidFile:
        """The file as locked by this process before an exec (the lock goes with the fd)."""
        pid_file = cls(path)
        os.set_inheritable(fd, False)
        pid_file._fd = fd
        return pid_file

    def handed_over(self) -> int:
        """The locked fd, made to survive an exec of this process (see `adopt`)."""
        if self._fd is None:
            raise RuntimeError("the pid file is not held")
        os.set_inheritable(self._fd, True)
        return self._fd

    def acquire(self) -> int | None:
        """Lock the file and write our pid: None on success, else the running daemon's pid
        (0 when its file holds no pid yet)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return self.owner() or 0
            if not self._same_file(fd):
                # The previous daemon removed the file between our open and our lock.
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return None
        raise OSError(f"{self.path} keeps changing; is another daemon starting?")

    def _same_file(self, fd: int) -> bool:
        try:
            on_disk = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)

    def owner(self) -> int | None:
        """The pid of the daemon holding the file, None when no daemon holds it."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = os.read(fd, 64).decode("ascii", errors="replace").strip()
                return int(text) if text.isdigit() else 0
            return None
        finally:
            os.close(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            if self._same_file(self._fd):
                self.path.unlink()
        os.close(self._fd)
        self._fd = None
