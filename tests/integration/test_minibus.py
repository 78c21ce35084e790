"""common/minibus.py against a real dbus-daemon with the repository's policies: what the
resident `waagent -daemon` asks of its bus (is it up, who owns a name, activate a service,
reload), answered as busctl sees it."""

from __future__ import annotations

import asyncio

import pytest

from tests.harness.dbus_daemon import PrivateBus
from tests.harness.environment import Environment
from waagent.common import minibus
from waagent.daemon import activation

pytestmark = pytest.mark.integration

PROBE = "org.waagent.Probe1"


def test_the_bus_daemon_answers_as_busctl_sees_it(private_bus: PrivateBus) -> None:
    address = private_bus.address
    assert private_bus.proc is not None

    async def ask() -> None:
        assert await minibus.accepts(address)
        assert await minibus.owner_pid(address, minibus.BUS_DAEMON) == private_bus.proc.pid
        assert await minibus.owner_pid(address, "org.waagent.Nobody1") is None
        with pytest.raises(minibus.BusError) as refused:
            await minibus.bus_daemon(address, "StartServiceByName", "su", ["org.x.Absent", 0])
        assert refused.value.name == "org.freedesktop.DBus.Error.ServiceUnknown"
        assert "org.x.Absent" in refused.value.message
        assert await minibus.bus_daemon(address, "ReloadConfig") == []

    asyncio.run(ask())


def test_start_service_activates_the_service_as_the_bus_reports_it(env: Environment) -> None:
    address = env.bus.address
    assert asyncio.run(minibus.owner_pid(address, PROBE)) is None
    assert asyncio.run(activation.start_service(address, PROBE, timeout=30))
    assert asyncio.run(minibus.owner_pid(address, PROBE)) == env.busctl.owner_pid(PROBE)
    assert not asyncio.run(activation.start_service(address, "org.waagent.Absent1", timeout=30))
