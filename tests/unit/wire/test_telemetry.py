"""Telemetry batches: 30 events go at once, fewer after 5 seconds (mock fabric)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from waagent.common.models.events import TelemetryEvent
from waagent.wire import telemetry

from .fabric_mock import WIRESERVER, MockFabric, make_wire

TELEMETRY_URL = f"{WIRESERVER}/machine?comp=telemetrydata"


def events(count: int) -> list[TelemetryEvent]:
    return [TelemetryEvent(parameters={"Name": f"e{n}"}) for n in range(count)]


def test_thirty_events_are_sent_at_once(tmp_path: Path) -> None:
    fabric = MockFabric()
    fabric.serve("POST", TELEMETRY_URL, 200)
    wire = make_wire(tmp_path, fabric)

    async def go() -> None:
        wire.telemetry.send(events(telemetry.FLUSH_COUNT))
        for _ in range(20):
            await asyncio.sleep(0)
        assert fabric.count("POST", TELEMETRY_URL) == 1
        assert wire.telemetry.queue == []

    asyncio.run(go())
    [(_, _, body)] = fabric.requests
    assert body.count(b"<Event ") == telemetry.FLUSH_COUNT


def test_a_few_events_wait_for_the_delay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "FLUSH_DELAY", 0.05)
    fabric = MockFabric()
    fabric.serve("POST", TELEMETRY_URL, 200)
    wire = make_wire(tmp_path, fabric)

    async def go() -> None:
        wire.telemetry.send(events(2))
        await asyncio.sleep(0)
        assert fabric.count("POST", TELEMETRY_URL) == 0
        await asyncio.sleep(0.2)
        assert fabric.count("POST", TELEMETRY_URL) == 1

    asyncio.run(go())


def test_a_batch_the_fabric_refuses_is_dropped_and_counted_out(tmp_path: Path) -> None:
    fabric = MockFabric()
    fabric.serve("POST", TELEMETRY_URL, 400)
    wire = make_wire(tmp_path, fabric)

    async def go() -> int:
        wire.telemetry.queue.extend(events(3))
        return await wire.telemetry.flush()

    assert asyncio.run(go()) == 0
    assert wire.telemetry.queue == []
