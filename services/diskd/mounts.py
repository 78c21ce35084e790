"""The kernel's own lists of mounts and active swap (/proc/self/mountinfo, /proc/swaps).

Devices are matched by device number, not by name, so a disk mounted through any path (a
by-uuid link, a partition node, a loop device) is recognised.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .models import Mount

MOUNTINFO = Path("/proc/self/mountinfo")
PROC_SWAPS = Path("/proc/swaps")
_OCTAL = re.compile(r"\\([0-7]{3})")


def unescape(field: str) -> str:
    """The kernel writes space, tab, newline and backslash in paths as octal escapes."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        major, _, minor = fields[2].partition(":")
        mounts.append(
            Mount(
                devno=(int(major), int(minor)),
                mount_point=unescape(fields[4]),
                fstype=fields[sep + 1],
                source=unescape(fields[sep + 2]),
                options=fields[5] + "," + fields[sep + 3],
            )
        )
    return mounts


@dataclass(frozen=True)
class ActiveSwap:
    path: str
    size_kib: int


def parse_swaps(text: str) -> list[ActiveSwap]:
    swaps = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3:
            swaps.append(ActiveSwap(unescape(fields[0]), int(fields[2])))
    return swaps


def device_number(path: Path) -> tuple[int, int] | None:
    """The (major, minor) of a block device node, or None when it is not one."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISBLK(st.st_mode):
        return None
    return os.major(st.st_rdev), os.minor(st.st_rdev)


class KernelState:
    """Reads the kernel's tables; the paths can be pointed elsewhere for unit tests."""

    def __init__(self, mountinfo: Path = MOUNTINFO, swaps: Path = PROC_SWAPS) -> None:
        self.mountinfo = mountinfo
        self.swaps = swaps

    def mounts(self) -> list[Mount]:
        return parse_mountinfo(self.mountinfo.read_text())

    def mount_of(self, devices: Iterable[Path]) -> Mount | None:
        """The first mount of any of `devices` (a disk and its partitions)."""
        numbers = {n for n in (device_number(d) for d in devices) if n is not None}
        return next((m for m in self.mounts() if m.devno in numbers), None)

    def active_swaps(self) -> list[ActiveSwap]:
        return parse_swaps(self.swaps.read_text())

    def swap_active(self, path: Path) -> bool:
        wanted = {str(path), os.path.realpath(path)}
        return any(s.path in wanted for s in self.active_swaps())
