"""Extension event folders watched by systemd, so their events are collected within about a
minute without a process of ours waiting (reference §9.12).

extd exits when idle, and wire, the one resident service, is unprivileged and may not delete an
extension's files. So systemd watches: one instance of the path unit template
`waagent-extension-events@.path` per handler's events folder (the instance is the folder's path,
escaped as `systemd-escape --path` does), with `DirectoryNotEmpty=%f` and `Unit=` extd's own
service. When an extension drops a file while extd is not running, systemd starts extd, which
collects at its start, every `interval` seconds while it runs, and before it exits; while extd
runs the path unit waits, and a folder that is not empty when extd stops starts it again. The
standing cost is one inotify watch per handler in PID 1.

extd starts the instances of the handlers on disk and stops the others after each goal state
and at its start (they are runtime units, so a reboot clears them; wire starts extd after every
start of its own). Without systemd (`waagent -daemon`, where extd stays resident) the periodic
collection alone does the job. A folder holding a directory, which extd never deletes, would wake
extd forever: it is not watched (its events are still collected whenever extd runs).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from ..common.clients.systemd import escape_path
from ..common.errors import WaagentError
from .event_folder import watchable

log = logging.getLogger(__name__)

TEMPLATE = "waagent-extension-events@"
PATTERN = f"{TEMPLATE}*.path"


class PathUnits(Protocol):
    async def start(self, unit: str) -> None: ...

    async def stop(self, unit: str) -> None: ...

    async def active_units(self, pattern: str) -> list[str]: ...


def unit_name(folder: Path) -> str:
    return f"{TEMPLATE}{escape_path(str(folder))}.path"


class EventWatch:
    def __init__(self, units: PathUnits | None) -> None:
        self.units = units
        self._synced: set[str] | None = None
        self._warned: set[Path] = set()

    async def sync(self, folders: Iterable[Path]) -> None:
        """Watch exactly these folders (the handlers on disk)."""
        if self.units is None:
            return
        wanted: set[str] = set()
        for folder in folders:
            if watchable(folder):
                wanted.add(unit_name(folder))
            elif folder not in self._warned:
                self._warned.add(folder)
                log.warning("%s holds a directory: not watched (collected when extd runs)", folder)
        if wanted == self._synced:
            return
        try:
            active = set(await self.units.active_units(PATTERN))
            for unit in sorted(wanted - active):
                await self.units.start(unit)
            for unit in sorted(active - wanted):
                await self.units.stop(unit)
        except WaagentError as exc:
            log.warning("extension event folders are not watched: %s", exc)
            return
        self._synced = wanted
