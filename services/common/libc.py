"""The C library's calls the standard library does not wrap (inotify, prctl, capset).

The interpreter's own symbols, libc's among them: `find_library("c")` would run ldconfig in a
subprocess at every import and pull in tempfile and shutil.
"""

from __future__ import annotations

import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> int:
    """`result` of a libc call, or its errno as OSError."""
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result
