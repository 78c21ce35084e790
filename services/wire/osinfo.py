"""guestOSInfo of the status blob, and the OS fields of telemetry."""

from __future__ import annotations

import functools
import os
import platform
import socket

from .. import AGENT_VERSION
from ..common.models.status import GuestOSInfo
from ..common.root import Root


@functools.cache
def os_release(root: Root) -> dict[str, str]:
    """/etc/os-release of the root (read once: it changes with an OS upgrade, and a reboot)."""
    text = root.read_text("/etc/os-release") or root.read_text("/usr/lib/os-release") or ""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"')
    return values


def guest_os_info(root: Root) -> GuestOSInfo:
    release = os_release(root)
    return GuestOSInfo(
        computer_name=socket.gethostname(),
        os_name=release.get("ID", platform.system().lower()),
        os_version=release.get("VERSION_ID", ""),
        version=AGENT_VERSION,
    )


def telemetry_os_version(root: Root) -> str:
    release = os_release(root)
    return (
        f"Linux:{release.get('ID', 'linux')}-{release.get('VERSION_ID', '')}-"
        f"{release.get('VERSION_CODENAME', '')}:{platform.release()}"
    )


def memory_mb() -> int:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0
    return pages // (1 << 20)
