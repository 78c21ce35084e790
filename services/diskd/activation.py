"""Making a mount or a swap area active: by the kernel commands, or through systemd.

When systemd is PID 1, diskd runs in a sandbox whose mount namespace is its own: a mount made
there would never reach the host. So diskd hands mounts and swap to systemd as transient
`.mount` and `.swap` units (which also makes them visible to admins: `systemctl status
mnt-resource.mount`); host mounts propagate back into diskd's view, where it writes the README
and the swap file. Without systemd, `mount`/`swapon`/`swapoff` do the same directly.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from ..common.clients.systemd import Systemd, unit_for_path
from ..common.clients.systemd_units import MountUnit
from ..common.commands import CommandRunner

log = logging.getLogger(__name__)

MOUNT_TIMEOUT = 60
SWAPON_TIMEOUT = 120
SWAPOFF_TIMEOUT = 600  # pages in use are read back into memory first


class Activator(Protocol):
    async def mount(self, device: Path, fstype: str, options: str | None, where: Path) -> None: ...

    async def swapon(self, target: Path) -> None: ...

    async def swapoff(self, target: Path) -> None: ...


class Commands:
    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    async def mount(self, device: Path, fstype: str, options: str | None, where: Path) -> None:
        argv = ["mount", "-t", fstype]
        if options:
            argv += ["-o", options]
        await self.runner.run([*argv, str(device), str(where)], timeout=MOUNT_TIMEOUT)

    async def swapon(self, target: Path) -> None:
        await self.runner.run(["swapon", str(target)], timeout=SWAPON_TIMEOUT)

    async def swapoff(self, target: Path) -> None:
        await self.runner.run(["swapoff", str(target)], timeout=SWAPOFF_TIMEOUT)


class SystemdUnits:
    def __init__(self, systemd: Systemd) -> None:
        self.systemd = systemd

    async def mount(self, device: Path, fstype: str, options: str | None, where: Path) -> None:
        unit = MountUnit(str(device), fstype, options)
        await self.systemd.start_transient(unit_for_path(str(where), "mount"), unit)

    async def swapon(self, target: Path) -> None:
        unit = unit_for_path(str(target), "swap")
        await self.systemd.start_transient(unit, MountUnit(str(target)))

    async def swapoff(self, target: Path) -> None:
        await self.systemd.stop(unit_for_path(str(target), "swap"))
