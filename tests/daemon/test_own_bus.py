"""`waagent -daemon` where no system bus answers: it runs a dbus-daemon of its own."""

from __future__ import annotations

import os
import signal

import pytest

from tests.cli.system import CliSystem, children_of, installed_services
from tests.daemon.conftest import BUS_DAEMON, busctl
from tests.harness.procs import alive
from waagent.common.names import DISK, WIRE

pytestmark = pytest.mark.integration


def test_the_daemon_starts_a_bus_where_the_environment_points_and_runs_the_services_on_it(
    system: CliSystem, address: str
) -> None:
    daemon = system.start_daemon(address=address)
    owners = system.wait_up([BUS_DAEMON, *installed_services()], address=address)
    assert owners[BUS_DAEMON] in children_of(daemon.pid)
    assert system.owner(DISK.name) is None  # nothing runs on the other bus
    reply = busctl(address, "get-property", WIRE.name, WIRE.path, WIRE.interface, "Version")
    assert reply.returncode == 0, reply.stderr
    assert "a bus of its own" in system.log_text()


def test_the_own_bus_applies_the_project_policy(system: CliSystem, address: str) -> None:
    system.start_daemon(address=address)
    system.wait_up(installed_services(), address=address)
    reply = busctl(
        address,
        "call",
        BUS_DAEMON,
        "/org/freedesktop/DBus",
        BUS_DAEMON,
        "RequestName",
        "su",
        WIRE.name,
        "4",
    )
    assert reply.returncode != 0
    assert "Access denied" in reply.stderr  # root may not own Wire1: only waagent-wire


def test_everything_stops_with_the_daemon_the_bus_last(system: CliSystem, address: str) -> None:
    daemon = system.start_daemon(address=address)
    owners = system.wait_up([BUS_DAEMON, *installed_services()], address=address)
    children = children_of(daemon.pid)
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(60) == 0
    assert [pid for pid in [*children, *owners.values()] if alive(pid)] == []
    socket = address.split("=", 1)[1]
    assert busctl(address, "list").returncode != 0
    assert not system.env.sandbox.path("/run/waagent/system-bus.conf").exists()
    assert not os.path.exists(socket)
    out = system.output()
    assert "Traceback" not in out, out
