"""The systemd client (transient units, waiting for jobs) and diskd's systemd backend, against a
stand-in manager on a private bus."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from dbus_fast.aio import MessageBus

from tests.harness.dbus_daemon import PrivateBus
from tests.harness.systemd_standin import Manager
from waagent.common.clients import systemd
from waagent.common.errors import Failed
from waagent.diskd.activation import SystemdUnits

pytestmark = pytest.mark.integration


@pytest.fixture
def bus(private_bus: PrivateBus) -> PrivateBus:
    return private_bus


def with_manager(
    bus: PrivateBus,
    body: Callable[[systemd.Systemd], Awaitable[None]],
    manager: Manager | None = None,
) -> Manager:
    """Run `body` against a client of a fake systemd (`manager`, or a fresh one) on `bus`."""
    manager = manager or Manager()

    async def go() -> None:
        service = await MessageBus(bus_address=bus.address).connect()
        service.export(systemd.PATH, manager)
        await service.request_name(systemd.NAME)
        client = await MessageBus(bus_address=bus.address).connect()
        try:
            assert await systemd.available(client)
            await body(systemd.Systemd(client))
        finally:
            client.disconnect()
            service.disconnect()

    asyncio.run(go())
    return manager


@pytest.mark.parametrize(
    "path", ["/mnt/resource", "/mnt/resource/swapfile", "/srv/my disk/.x", "/.x/y", "/", "/a-b/ü"]
)
def test_paths_are_escaped_exactly_like_systemd_escape(path: str) -> None:
    expected = subprocess.run(
        ["systemd-escape", "--path", path], capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()
    assert systemd.escape_path(path) == expected


def test_systemd_is_not_available_on_a_bus_without_it(bus: PrivateBus) -> None:
    async def go() -> bool:
        client = await MessageBus(bus_address=bus.address).connect()
        try:
            return await systemd.available(client)
        finally:
            client.disconnect()

    assert asyncio.run(go()) is False


def test_a_mount_and_a_swap_become_transient_units(bus: PrivateBus) -> None:
    async def body(client: systemd.Systemd) -> None:
        units = SystemdUnits(client)
        await units.mount(Path("/dev/sdb1"), "ext4", "nodev,nosuid", Path("/mnt/resource"))
        await units.swapon(Path("/mnt/resource/swapfile"))
        await units.swapoff(Path("/mnt/resource/swapfile"))

    manager = with_manager(bus, body)
    assert manager.subscribed
    calls = [(c.member, c.unit, c.properties) for c in manager.calls]
    assert calls == [
        (
            "StartTransientUnit",
            "mnt-resource.mount",
            {"What": "/dev/sdb1", "Type": "ext4", "Options": "nodev,nosuid"},
        ),
        ("StartTransientUnit", "mnt-resource-swapfile.swap", {"What": "/mnt/resource/swapfile"}),
        ("StopUnit", "mnt-resource-swapfile.swap", {}),
    ]


def test_a_failed_job_is_a_clear_error(bus: PrivateBus) -> None:
    async def body(client: systemd.Systemd) -> None:
        with pytest.raises(
            Failed, match="^systemd's StartTransientUnit of mnt-resource.mount ended in 'failed'$"
        ):
            await SystemdUnits(client).mount(Path("/dev/sdb1"), "ext4", None, Path("/mnt/resource"))

    manager = Manager()
    manager.results["mnt-resource.mount"] = "failed"
    with_manager(bus, body, manager)


def test_systemd_counts_as_running_only_when_booted_with_it_and_on_the_bus(bus: PrivateBus) -> None:
    async def booted(client: systemd.Systemd) -> None:
        assert await systemd.running(client.bus, True)
        assert not await systemd.running(client.bus, False)

    with_manager(bus, booted)

    async def alone() -> bool:
        client = await MessageBus(bus_address=bus.address).connect()  # nobody owns systemd1
        try:
            return await systemd.running(client, True)
        finally:
            client.disconnect()

    assert not asyncio.run(alone())


@pytest.mark.parametrize(
    ("unit", "path"),
    [
        ("waagent-extension-enable-0a1b.service", "waagent_2dextension_2denable_2d0a1b_2eservice"),
        ("mnt-resource.mount", "mnt_2dresource_2emount"),
        ("a_b\\x2d.swap", "a_5fb_5cx2d_2eswap"),
    ],
)
def test_unit_object_paths_are_escaped_as_systemd_does(unit: str, path: str) -> None:
    assert systemd.unit_object_path(unit) == f"/org/freedesktop/systemd1/unit/{path}"
