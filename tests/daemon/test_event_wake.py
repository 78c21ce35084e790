"""The supervisor's inotify watch on the extensions' event folders (real inotify, no bus)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from waagent.daemon.event_wake import EventWake


async def wakes_within(log_dir: Path, change: list[Path], timeout: float = 2.0) -> int:
    """Run the watch, make the change (directories, then a file last), count the wakes."""
    woken: list[float] = []

    async def wake() -> None:
        woken.append(time.monotonic())

    task = asyncio.ensure_future(EventWake(log_dir, wake, rewake=60).run())
    await asyncio.sleep(0.1)
    for path in change:
        if path.suffix == ".json":
            path.write_text("[]")
        else:
            path.mkdir()
        await asyncio.sleep(0.1)
    await asyncio.sleep(timeout)
    task.cancel()
    return len(woken)


def test_an_event_file_in_a_new_handlers_folder_wakes_extd_once(tmp_path: Path) -> None:
    handler = tmp_path / "Test.Handler"
    events = handler / "events"
    assert asyncio.run(wakes_within(tmp_path, [handler, events, events / "1.json"])) == 1


def test_nothing_wakes_extd_while_the_folders_are_empty(tmp_path: Path) -> None:
    handler = tmp_path / "Test.Handler"
    assert asyncio.run(wakes_within(tmp_path, [handler, handler / "events"], 0.5)) == 0


def test_a_folder_holding_a_directory_is_not_watched(tmp_path: Path) -> None:
    events = tmp_path / "Test.Handler" / "events"
    events.mkdir(parents=True)
    (events / "stuck").mkdir()
    assert asyncio.run(wakes_within(tmp_path, [events / "1.json"], 0.5)) == 0
