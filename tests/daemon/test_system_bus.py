"""Choosing the system bus, and the configuration of the bus the daemon starts itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

from defusedxml import ElementTree

from waagent.common.names import WIRE
from waagent.common.root import Root
from waagent.daemon import activation, system_bus


def test_the_socket_path_is_read_from_a_unix_address() -> None:
    assert system_bus.unix_path("unix:path=/run/dbus/system_bus_socket") == (
        "/run/dbus/system_bus_socket"
    )
    assert system_bus.unix_path("tcp:host=x,port=1;unix:guid=1,path=/a%20b") == "/a b"
    assert system_bus.unix_path("unix:abstract=/tmp/dbus-x") is None


def test_with_no_bus_at_the_named_address_the_daemon_listens_there(tmp_path: Path) -> None:
    address = f"unix:path={tmp_path}/bus/socket"
    plan = asyncio.run(system_bus.plan({"DBUS_SYSTEM_BUS_ADDRESS": address}, Root(tmp_path)))
    assert plan.own
    assert (plan.address, plan.socket) == (address, tmp_path / "bus" / "socket")


def test_a_named_bus_that_is_no_socket_path_is_replaced_by_the_standard_socket_in_the_root(
    tmp_path: Path,
) -> None:
    plan = asyncio.run(
        system_bus.plan(
            {"DBUS_SYSTEM_BUS_ADDRESS": "unix:abstract=/nothing-listens-here"}, Root(tmp_path)
        )
    )
    assert plan.socket == tmp_path / "run/dbus/system_bus_socket"


def test_the_bus_configuration_includes_the_policy_directories(tmp_path: Path) -> None:
    text = system_bus.config_text(
        tmp_path / "socket", [tmp_path / "policy"], root_owns_wire=False, user="messagebus"
    )
    document = ElementTree.fromstring(text)
    assert document.findtext("listen") == f"unix:path={tmp_path}/socket"
    assert document.findtext("user") == "messagebus"
    assert [e.text for e in document.iter("includedir")] == [str(tmp_path / "policy")]
    assert document.find("servicedir") is None  # nothing is activated without a directory
    assert WIRE.name not in text


def test_the_bus_activates_from_the_agents_own_directory_only(tmp_path: Path) -> None:
    servicedir = tmp_path / "bus-services"
    text = system_bus.config_text(
        tmp_path / "socket",
        [],
        root_owns_wire=False,
        activation=activation.servicedir_config(servicedir),
    )
    document = ElementTree.fromstring(text)
    assert [e.text for e in document.iter("servicedir")] == [str(servicedir)]
    assert document.find("standard_system_servicedirs") is None
    assert document.find("user") is None  # it starts root services: it stays root
    limit = document.find("limit")
    assert limit is not None and limit.get("name") == "service_start_timeout"
    assert int(limit.text or 0) >= 120_000  # diskd may format the resource disk first


def test_an_activation_file_runs_the_command_as_written(tmp_path: Path) -> None:
    entry = activation.Activatable(WIRE.name, ["/bin/setpriv", "--", "python3", "-m", "a b"], "u")
    [path] = activation.write_services(tmp_path / "d", [entry])
    assert path.name == f"{WIRE.name}.service"
    assert path.read_text() == (
        f"[D-BUS Service]\nName={WIRE.name}\nExec=/bin/setpriv -- python3 -m 'a b'\nUser=u\n"
    )


def test_without_the_wire_user_root_may_own_the_wire_name(tmp_path: Path) -> None:
    text = system_bus.config_text(tmp_path / "s", [], root_owns_wire=True, user=None)
    owners = [
        allow.get("own")
        for policy in ElementTree.fromstring(text).iter("policy")
        if policy.get("user") == "root"
        for allow in policy.iter("allow")
    ]
    assert WIRE.name in owners


def test_the_source_checkout_policy_directory_is_found() -> None:
    assert system_bus.SOURCE_POLICY_DIR in system_bus.policy_dirs()
    assert (system_bus.SOURCE_POLICY_DIR / f"{WIRE.name}.conf").exists()
