"""`waagent status`: what it says matches what busctl reads (one transport against another)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness.callers import UNPRIVILEGED
from tests.harness.wait import wait_for
from waagent.common.names import DISK, PROVISIONER, SERVICES, WIRE

from .system import CliSystem, installed_services

pytestmark = pytest.mark.integration


def settled(system: CliSystem) -> dict[str, int]:
    """Every service up, wire past its first poll and the provisioner done: nothing moves."""
    system.start_daemon()
    owners = system.wait_up(installed_services())
    for service, prop, value in ((WIRE, "State", "Ready"), (PROVISIONER, "State", "Provisioned")):
        wait_for(
            lambda s=service, p=prop, v=value: busctl_value(system, s.name, p) == v,
            timeout=30,
            what=f"{service.name} {prop} == {value}",
        )
    return owners


def busctl_value(system: CliSystem, name: str, prop: str) -> Any:
    service = next(s for s in SERVICES.values() if s.name == name)
    return system.env.busctl.get_property(service.name, service.path, service.interface, prop)


def status_json(system: CliSystem, user: str | None = None) -> dict[str, Any]:
    result = system.waagent("status", "--json", user=user)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return {entry["name"]: entry for entry in document["services"]}


def test_status_json_agrees_with_busctl_on_every_property(system: CliSystem) -> None:
    owners = settled(system)
    services = status_json(system)
    for name, pid in owners.items():
        entry = services[name]
        assert (entry["state"], entry["pid"]) == ("running", pid)
        assert entry["properties"], name
        for prop, value in entry["properties"].items():
            assert busctl_value(system, name, prop) == value, f"{name}.{prop}"


def test_status_names_every_service_and_which_are_absent(system: CliSystem) -> None:
    settled(system)
    services = status_json(system)
    assert set(services) == {s.name for s in SERVICES.values()}
    for name in set(services) - set(installed_services()):
        assert services[name]["state"] == "not on the bus"


def test_the_table_shows_each_service_with_its_pid_and_properties(system: CliSystem) -> None:
    owners = settled(system)
    result = system.waagent("-status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"{DISK.name}: running (pid {owners[DISK.name]})" in lines
    endpoint = busctl_value(system, WIRE.name, "Endpoint")
    assert any(line.split() == ["Endpoint", endpoint] for line in lines)
    assert any(line.split() == ["State", "Provisioned"] for line in lines)


def test_an_unprivileged_user_reads_the_same_status(system: CliSystem) -> None:
    settled(system)
    as_root = status_json(system)
    as_nobody = status_json(system, user=UNPRIVILEGED)
    assert as_nobody == as_root


def test_a_service_that_is_not_running_is_shown_as_activatable(activated: CliSystem) -> None:
    services = status_json(activated)
    assert services[DISK.name]["state"] == "activatable"
    assert services[DISK.name]["pid"] is None
    assert services[DISK.name]["properties"]["State"] == busctl_value(activated, DISK.name, "State")
