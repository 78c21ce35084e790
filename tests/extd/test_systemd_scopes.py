"""Commands placed in a transient scope of their handler's slice through org.freedesktop.systemd1.

The D-Bus calls go to a recording stand-in on a private bus (we do not own systemd); the
command is a real process, which must not start before it sits in its scope."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from dbus_fast.aio import MessageBus

from tests.harness.dbus_daemon import PrivateBus
from tests.harness.systemd_standin import Manager
from waagent.common import systemd
from waagent.extd.bus import SystemdScopes
from waagent.extd.commands import CommandSpec, HandlerCommands, SliceLimits, slice_name

pytestmark = pytest.mark.integration


@pytest.fixture
def bus(private_bus: PrivateBus) -> PrivateBus:
    return private_bus


async def with_standin(address: str, work: object) -> Manager:
    manager = Manager()
    service = await MessageBus(bus_address=address).connect()
    client = await MessageBus(bus_address=address, negotiate_unix_fd=True).connect()
    try:
        service.export("/org/freedesktop/systemd1", manager)
        await service.request_name("org.freedesktop.systemd1")
        await work(client)  # type: ignore[operator]
    finally:
        client.disconnect()
        service.disconnect()
    return manager


def test_a_command_runs_in_a_transient_scope_of_its_handlers_slice_with_its_limits(
    bus: PrivateBus, tmp_path: Path
) -> None:
    (tmp_path / "run.sh").write_text("#!/bin/sh\ndate +%s.%N > started\n")
    (tmp_path / "run.sh").chmod(0o755)
    spec = CommandSpec(
        operation="Enable",
        command="run.sh",
        cwd=tmp_path,
        env={},
        timeout=10,
        error_code=1009,
        log_file=tmp_path / "CommandExecution.log",
        slice_name=slice_name("Contoso.Tools.Probe"),
        limits=SliceLimits(cpu_quota_percent=25, memory_max_mb=200),
    )

    async def work(client: MessageBus) -> None:
        await HandlerCommands(SystemdScopes(client)).run(spec)

    manager = asyncio.run(with_standin(bus.address, work))
    start, set_props = [c for c in manager.calls if c.member != "ResetFailedUnit"]
    assert (start.member, set_props.member) == ("StartTransientUnit", "SetUnitProperties")
    assert start.unit.startswith("enable_") and start.unit.endswith(".scope")
    assert start.properties["Slice"] == "azure-vmextensions-Contoso.Tools.Probe.slice"
    assert len(start.properties["PIDs"]) == 1
    assert set_props.unit == "azure-vmextensions-Contoso.Tools.Probe.slice"
    limits = set_props.properties
    started_at = start.at
    assert limits == {
        "CPUAccounting": True,
        "MemoryAccounting": True,
        "CPUQuotaPerSecUSec": 250_000,
        "MemoryMax": 200 << 20,
    }
    # The gate held the command until it was placed.
    assert float((tmp_path / "started").read_text()) > started_at


def test_when_systemd_fails_the_command_runs_unconfined_and_placement_stops(
    bus: PrivateBus, tmp_path: Path
) -> None:
    (tmp_path / "run.sh").write_text("#!/bin/sh\necho ran > ran\n")
    (tmp_path / "run.sh").chmod(0o755)
    spec = CommandSpec(
        "Enable", "run.sh", tmp_path, {}, 10, 1009, tmp_path / "log", slice_name("P.A")
    )

    async def work() -> HandlerCommands:
        client = await MessageBus(bus_address=bus.address).connect()  # nobody owns systemd1
        try:
            commands = HandlerCommands(SystemdScopes(client))
            await commands.run(spec)
            return commands
        finally:
            client.disconnect()

    commands = asyncio.run(work())
    assert (tmp_path / "ran").read_text() == "ran\n"
    assert commands.placer is None  # classic: once systemd-run fails, commands run directly


def test_systemd_counts_as_running_only_when_booted_with_it_and_on_the_bus(bus: PrivateBus) -> None:
    async def work(client: MessageBus) -> None:
        assert await systemd.running(client, True)
        assert not await systemd.running(client, False)

    asyncio.run(with_standin(bus.address, work))

    async def alone() -> bool:
        client = await MessageBus(bus_address=bus.address).connect()
        try:
            return await systemd.running(client, True)
        finally:
            client.disconnect()

    assert not asyncio.run(alone())
    assert os.geteuid() == 0
