"""wire against the fabric simulator: discovery, the goal state, certificates, the signal."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from pathlib import Path

import pytest
from dbus_fast import Message
from dbus_fast.aio import MessageBus

from tests.harness.callers import UNPRIVILEGED
from tests.harness.wait import wait_for
from tests.wire.system import WireSystem
from waagent.common.bus.client import add_match
from waagent.common.names import WIRE

pytestmark = pytest.mark.integration


def test_the_endpoint_comes_from_the_dhcp_lease(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    assert wire.prop("Endpoint") == wire.fabric.address
    assert wire.state_file("WireServerEndpoint").read_text() == wire.fabric.address
    assert wire.state_file("Protocol").read_text() == "WireProtocol"
    assert "(from lease /var/lib/dhcp/dhclient.eth0.leases)" in wire.log()


def test_the_goal_state_is_fetched_and_exposed_over_the_bus(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    scenario = wire.fabric.scenario
    summary = wire.json("GetGoalState", user=UNPRIVILEGED)
    assert summary["incarnation"] == str(scenario.identity.incarnation)
    assert summary["container_id"] == scenario.identity.container_id
    assert summary["role_instance_id"] == scenario.identity.role_instance_id
    assert summary["deployment_name"] == scenario.identity.deployment_name
    assert summary["role_name"] == scenario.identity.role_name
    assert wire.prop("Incarnation") == summary["incarnation"]
    assert wire.prop("ContainerId") == scenario.identity.container_id
    assert wire.prop("LastContact") > 0
    extensions = wire.json("GetExtensionsGoalState")
    assert [p["name"] for p in extensions["plugins"]] == [e.name for e in scenario.extensions]
    assert extensions["status_upload_blob"]["url"].startswith(f"http://{wire.fabric.address}:")
    assert wire.state_file("SharedConfig.xml").read_bytes().startswith(b"<")


def test_certificates_are_decrypted_and_written_0600_with_matching_thumbprints(
    wire: WireSystem,
) -> None:
    wire.wait_prop("State", "Ready")
    expected = wire.fabric.tenant_certificates()
    summary = wire.json("GetGoalState")
    assert {c["thumbprint"] for c in summary["certificates"]} == set(expected)
    for thumbprint, pems in expected.items():
        crt, prv = wire.state_file(f"{thumbprint}.crt"), wire.state_file(f"{thumbprint}.prv")
        assert stat.S_IMODE(crt.stat().st_mode) == 0o600
        assert stat.S_IMODE(prv.stat().st_mode) == 0o600
        assert crt.read_text().strip() == pems["certificate"].strip()
    assert stat.S_IMODE(wire.state_file("TransportPrivate.pem").stat().st_mode) == 0o600


def test_certificates_with_keys_go_to_root_only(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    certs = wire.json("GetCertificates")
    assert certs and all(c["private_key_pem"].startswith("-----BEGIN PRIVATE KEY") for c in certs)
    # The bus policy closes it to everyone but root before the service is even asked.
    refused = wire.call("GetCertificates", user=UNPRIVILEGED)
    assert not refused.ok
    assert "Access denied" in refused.error


def test_an_incarnation_bump_emits_goal_state_changed_once(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    before = int(wire.prop("Incarnation"))

    async def watch() -> list[list[str]]:
        bus = await MessageBus(bus_address=wire.env.address).connect()
        signals: list[list[str]] = []

        def on_message(msg: Message) -> None:
            if msg.member == "GoalStateChanged" and msg.interface == WIRE.interface:
                signals.append(list(msg.body))

        bus.add_message_handler(on_message)
        await add_match(
            bus, f"type='signal',interface='{WIRE.interface}',member='GoalStateChanged'"
        )
        wire.fabric.bump_incarnation()
        for _ in range(300):
            if wire.prop("Incarnation") == str(before + 1):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.5)  # two more poll periods: no second signal may come
        bus.disconnect()
        return signals

    signals = asyncio.run(watch())
    assert signals == [[str(before + 1), f"incarnation_{before + 1}"]]


def test_each_goal_state_is_kept_in_the_history(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    wire.fabric.bump_incarnation()
    wire.wait_prop("Incarnation", "2")
    history = sorted(p.name for p in wire.state_file("history").iterdir())
    assert [name.split("__")[1] for name in history] == ["1", "2"]
    latest = wire.state_file("history") / history[-1]
    assert {"GoalState.xml", "ExtensionsConfig.xml", "SharedConfig.xml", "Certificates.json"} <= {
        p.name for p in latest.iterdir()
    }
    assert "sig=" not in (latest / "ExtensionsConfig.xml").read_text()


def test_unchanged_polls_fetch_only_the_goal_state(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    first = len(wire.fabric.requests())
    wait_for(
        lambda: sum(r.endpoint == "goalstate" for r in wire.fabric.requests()[first:]) >= 3,
        timeout=15,
        what="three more polls",
    )
    endpoints = {r.endpoint for r in wire.fabric.requests()[first:]}
    # No document of the goal state is fetched again (extd may still be downloading packages).
    documents = {"versions", "hostingenv", "sharedconfig", "extensionsconfig", "certificates"}
    assert "goalstate" in endpoints
    assert not endpoints & documents


def test_a_restarted_wire_hands_the_goal_state_to_extd_again(wire: WireSystem) -> None:
    """The classic agent re-ran enable at every start (a reboot): so does a restarted wire."""
    wire.wait_prop("State", "Ready")
    lib = wire.env.sandbox.path("/var/lib/waagent")
    log = wait_for(
        lambda: next(
            (
                p
                for p in lib.glob("Fabric.Samples.Hello-*/operations.log")
                if "enable" in p.read_text()
            ),
            None,
        ),
        timeout=60,
        what="the sample extension enabled",
    )
    enables = log.read_text().count("enable")
    pid = wire.env.busctl.owner_pid(WIRE.name)
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=30, what="wire to stop")
    wire.wait_prop("State", "Ready")  # activates a new wire, which starts from its cache
    wait_for(lambda: log.read_text().count("enable") > enables, timeout=60, what="a second enable")
