"""Extension event folders: the path units extd asks systemd for, the per-period budget, and
what collection leaves in a folder (reference §9.12)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from waagent.common.errors import Failed
from waagent.extd.event_budget import EventBudget
from waagent.extd.event_watch import PATTERN, EventWatch, unit_name
from waagent.extd.telemetry import LEFTOVER_AGE, Telemetry, collect_events

from .test_telemetry import EVENT


class Units:
    """systemd's manager as EventWatch uses it: StartUnit, StopUnit, ListUnitsByPatterns."""

    def __init__(self, active: list[str] | None = None, fail: bool = False) -> None:
        self.active = list(active or [])
        self.calls: list[tuple[str, str]] = []
        self.fail = fail

    async def start(self, unit: str) -> None:
        self.calls.append(("start", unit))
        self.active.append(unit)

    async def stop(self, unit: str) -> None:
        self.calls.append(("stop", unit))
        self.active.remove(unit)

    async def active_units(self, pattern: str) -> list[str]:
        assert pattern == PATTERN
        if self.fail:
            raise Failed("systemd ListUnitsByPatterns: access denied")
        self.calls.append(("list", pattern))
        return list(self.active)


def test_the_unit_is_the_template_instance_of_the_escaped_folder() -> None:
    folder = Path("/var/log/azure/Microsoft.Azure.Monitor-Agent/events")
    assert unit_name(folder) == (
        "waagent-extension-events@var-log-azure-Microsoft.Azure.Monitor\\x2dAgent-events.path"
    )


def test_folders_of_new_handlers_are_watched_and_those_of_removed_ones_not(
    tmp_path: Path,
) -> None:
    kept, new, gone = (tmp_path / name / "events" for name in ("A.Kept", "A.New", "A.Gone"))
    units = Units(active=[unit_name(kept), unit_name(gone)])
    asyncio.run(EventWatch(units).sync([kept, new]))
    assert ("start", unit_name(new)) in units.calls
    assert ("stop", unit_name(gone)) in units.calls
    assert sorted(units.active) == sorted([unit_name(kept), unit_name(new)])


def test_systemd_is_asked_again_only_when_the_folders_change(tmp_path: Path) -> None:
    units = Units()
    watch = EventWatch(units)
    folder = tmp_path / "A.B" / "events"

    async def twice() -> None:
        await watch.sync([folder])
        await watch.sync([folder])

    asyncio.run(twice())
    assert units.calls == [("list", PATTERN), ("start", unit_name(folder))]


def test_a_folder_holding_a_directory_is_not_watched(tmp_path: Path) -> None:
    folder = tmp_path / "A.B" / "events"
    (folder / "stuck").mkdir(parents=True)
    units = Units()
    asyncio.run(EventWatch(units).sync([folder]))
    assert units.active == []


def test_without_systemd_or_when_it_refuses_nothing_breaks(tmp_path: Path) -> None:
    asyncio.run(EventWatch(None).sync([tmp_path]))
    asyncio.run(EventWatch(Units(fail=True)).sync([tmp_path]))


def test_the_budget_is_360_events_per_handler_per_period_across_runs(tmp_path: Path) -> None:
    now = [1000.0]
    path = tmp_path / "extd.events.json"
    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "1.json").write_text(json.dumps([EVENT] * 300))
    telemetry = Telemetry()
    telemetry.collect([("A.B", "1.0", folder)], EventBudget(path, 300, clock=lambda: now[0]))
    assert len(telemetry.queue) == 300
    # A later extd, within the same period: 60 more, the rest dropped.
    (folder / "2.json").write_text(json.dumps([EVENT] * 100))
    now[0] += 100
    later = EventBudget(path, 300, clock=lambda: now[0])
    telemetry.collect([("A.B", "1.0", folder)], later)
    assert len(telemetry.queue) == 360
    assert later.remaining("A.B") == 0 and later.remaining("C.D") == 360
    # The next period starts afresh.
    now[0] += 300
    assert EventBudget(path, 300, clock=lambda: now[0]).remaining("A.B") == 360
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_stale_files_that_are_not_events_are_deleted_young_ones_kept(tmp_path: Path) -> None:
    (tmp_path / "stale.txt").write_text("x")
    old = time.time() - LEFTOVER_AGE - 5
    os.utime(tmp_path / "stale.txt", (old, old))
    (tmp_path / "1.json.tmp").write_text("{}")  # an extension's file being written
    (tmp_path / "sub").mkdir()
    collect_events(tmp_path, "A.B", "1.0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.json.tmp", "sub"]
