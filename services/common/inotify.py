"""inotify(7) through ctypes, for asyncio: react to a file changing instead of polling it.

The standard library has no inotify binding; three libc calls are all we need. A watch calls
back on the event loop after the kernel reports events (identical consecutive events are
merged by the kernel, so a file written in a burst costs a few callbacks, not one per write).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from collections.abc import Callable

from .libc import check, libc

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len


class Watch:
    """Calls `callback` on the running loop whenever one of the watched paths changes."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self.fd = check(libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC), "inotify_init1")
        self._callback = callback
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, path: str | os.PathLike[str], mask: int = IN_MODIFY) -> None:
        check(libc.inotify_add_watch(self.fd, os.fsencode(path), mask), f"inotify {path}")
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self.fd, self._ready)

    def _ready(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.fd, 64 * _HEADER.size):
                pass
        self._callback()

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.fd)
            self._loop = None
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
