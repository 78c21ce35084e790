"""Extension telemetry: event folders -> events for wire (§9.12), and the agent's own events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from waagent.common.models.events import LOGS_PROVIDER, TelemetryBatch
from waagent.extd.telemetry import Telemetry, collect_events, operation_event

from .system import PROBE, System, probe_extension

EVENT = {
    "Version": "1.0",
    "Timestamp": "2026-01-01T00:00:00Z",
    "TaskName": "work",
    "EventLevel": "Warning",
    "Message": "see https://a.blob.core.windows.net/c/b?sv=1&sig=secret",
    "EventPid": "12",
    "EventTid": 3,
    "OperationId": "op",
}


def write(folder: Path, name: str, content: Any) -> None:
    (folder / name).write_text(content if isinstance(content, str) else json.dumps(content))


def test_events_are_mapped_to_generic_logs_and_the_files_are_deleted(tmp_path: Path) -> None:
    write(tmp_path, "1.json", EVENT)
    write(
        tmp_path, "2.json", [EVENT, {**EVENT, "message": "lower-case keys work", "Message": None}]
    )
    events, dropped = collect_events(tmp_path, "P.A", "1.2")
    assert dropped == 0
    assert len(events) == 3
    first = events[-1]
    assert (first.provider_id, first.event_id) == (LOGS_PROVIDER, 7)
    assert first.parameters["EventName"] == "P.A-1.2"
    assert first.parameters["CapabilityUsed"] == "Warning"
    assert first.parameters["Context1"] == "see https://a.blob.core.windows.net/c/b?<redacted>"
    assert first.parameters["Context3"] == "op"
    assert (first.parameters["EventPid"], first.parameters["EventTid"]) == (12, 3)
    assert list(tmp_path.iterdir()) == []


def test_invalid_events_are_dropped_and_counted(tmp_path: Path) -> None:
    write(tmp_path, "1.json", {**EVENT, "Message": ""})
    write(tmp_path, "2.json", {k: v for k, v in EVENT.items() if k != "OperationId"})
    write(tmp_path, "3.json", "{not json")
    write(tmp_path, "4.json", {**EVENT, "Message": "m" * 7000})  # cut to 3072: kept
    events, dropped = collect_events(tmp_path, "P.A", "1.2")
    assert dropped == 3
    assert len(events) == 1 and len(str(events[0].parameters["Context1"])) == 3072


def test_at_most_360_events_are_taken_per_handler_and_links_are_not_followed(
    tmp_path: Path,
) -> None:
    write(tmp_path, "1.json", [EVENT] * 400)
    (tmp_path / "2.json").symlink_to("/etc/passwd")
    events, dropped = collect_events(tmp_path, "P.A", "1.2")
    assert len(events) == 360 and dropped == 40
    assert list(tmp_path.iterdir()) == []


def test_operation_events_use_the_extension_events_schema() -> None:
    event = operation_event("P.A", "1.0", "Enable", True, "ok", 1.5)
    assert event.event_id == 1
    assert event.parameters == {
        "Name": "P.A",
        "Version": "1.0",
        "Operation": "Enable",
        "OperationSuccess": True,
        "Message": "ok",
        "Duration": 1500,
        "ExtensionType": "",
        "IsInternal": False,
    }


class TestEndToEnd:
    pytestmark = pytest.mark.integration

    @pytest.fixture
    def scenario(self, scenario: Any) -> Any:
        probe = probe_extension(public_settings={"event": "hello from the probe"})
        return scenario.model_copy(update={"extensions": [probe]})

    def test_extension_events_and_operation_events_reach_the_fabric(self, system: System) -> None:
        from tests.harness.wait import wait_for

        system.start()
        system.wait_extension_status(PROBE, "success", seq=0)

        def sent() -> list[dict[str, Any]]:
            return [e for r in system.fabric.records("telemetry") for e in r["events"]]

        def generic() -> list[dict[str, Any]]:
            return [e for e in sent() if e["params"].get("EventName") == f"{PROBE}-1.0.0"]

        (event,) = wait_for(generic, timeout=20, what="the extension's event at the fabric")
        assert event["params"]["Context1"] == "hello from the probe"
        operations = {
            e["params"].get("Operation") for e in sent() if e["params"].get("Name") == PROBE
        }
        assert {"Download", "Install", "Enable"} <= operations


def test_events_of_a_send_cancelled_by_the_exit_are_kept_for_the_last_flush() -> None:
    class SlowWire:
        async def send_events(self, batch: TelemetryBatch) -> None:
            await asyncio.sleep(10)

    async def exit_during_send() -> Telemetry:
        telemetry = Telemetry()
        telemetry.operation("P.A", "1.0", "Enable", True, "ok", 1.0)
        task = asyncio.ensure_future(telemetry.flush(SlowWire()))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return telemetry

    assert len(asyncio.run(exit_during_send()).queue) == 1
