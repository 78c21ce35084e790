"""Extension events while extd is not running, without systemd: an inotify watch that starts it.

Under systemd a path unit per handler's events folder starts extd when an extension drops an
event file (services/extd/event_watch.py). Under `waagent -daemon`, where extd is bus-activated
and exits when idle, the supervisor does the same with inotify: it watches the extension log
directory, each handler's folder in it and each handler's `events` folder, and asks the bus to
start extd whenever an events folder holds a file. extd collects at its start, while it runs and
before it exits; a folder still not empty `rewake` seconds later starts it again (as a path unit
would). A folder holding a directory, which extd never deletes, is left out (it would wake extd
forever), as under systemd.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from ..common import inotify
from ..extd.event_folder import watchable

log = logging.getLogger(__name__)

# The classic agent collects extension events once a minute at most.
REWAKE = 60.0
NEW_ENTRY = inotify.IN_CREATE | inotify.IN_MOVED_TO
NEW_FILE = NEW_ENTRY | inotify.IN_CLOSE_WRITE


def subdirectories(path: Path) -> Iterator[Path]:
    with contextlib.suppress(OSError), os.scandir(path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield Path(entry.path)


def has_files(folder: Path) -> bool:
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        return any(True for _ in entries)
    return False


class EventWake:
    def __init__(
        self, log_dir: Path, wake: Callable[[], Awaitable[object]], rewake: float = REWAKE
    ) -> None:
        self.log_dir = log_dir
        self.wake = wake
        self.rewake = rewake

    def _watch(self, watch: inotify.Watch) -> list[Path]:
        """(Re)add the watches; the events folders that hold files."""
        watch.add(self.log_dir, NEW_ENTRY)
        pending = []
        for handler in subdirectories(self.log_dir):
            events = handler / "events"
            with contextlib.suppress(OSError):  # removed meanwhile: seen at the next change
                watch.add(handler, NEW_ENTRY)
                if events.is_dir() and watchable(events):
                    watch.add(events, NEW_FILE)
                    if has_files(events):
                        pending.append(events)
        return pending

    async def run(self) -> None:
        changed = asyncio.Event()
        try:
            watch = inotify.Watch(changed.set)
        except OSError as exc:
            log.warning("extension events are collected only when extd runs: %s", exc)
            return
        with watch:
            while True:
                changed.clear()
                try:
                    pending = self._watch(watch)
                except OSError as exc:
                    log.warning("extension events are collected only when extd runs: %s", exc)
                    return
                if not pending:
                    await changed.wait()
                    continue
                log.info("extension events in %s: starting extd", pending[0])
                try:
                    await self.wake()
                except Exception as exc:  # the bus is restarting, say: try again later
                    log.warning("cannot start extd for extension events: %s", exc)
                await asyncio.sleep(self.rewake)
