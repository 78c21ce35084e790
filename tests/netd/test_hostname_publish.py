"""Network1.PublishHostname on a private bus, netd bus-activated inside the VM namespace (its
links never reach the host): no bare link flap where no DHCP client it can ask manages the link,
systemd-networkd's ReconfigureLink and NetworkManager's Reapply where their stand-ins run
(the real networkd: tests/system/test_hostname.py), refusals, and the HostnamePublishing event a
failure sends through the real wire to the fabric simulator."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.callers import UNPRIVILEGED
from tests.harness.environment import Environment
from tests.harness.polkitd import name_has_owner
from tests.harness.procs import terminate
from tests.harness.wait import wait_for
from tests.wire.system import WireSystem, wire_system
from waagent.common.names import NETWORK, WIRE

from .fake_network_stacks import POLICY, calls, stand_in
from .netns import VmNetwork, missing_for_netns

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing_for_netns() is not None, reason=missing_for_netns() or ""),
]

N = (NETWORK.name, NETWORK.path, NETWORK.interface)


def netd_in_vm(env: Environment, vm: VmNetwork) -> None:
    argv = env.service_argv(NETWORK.program)
    ip = shutil.which("ip") or "/usr/sbin/ip"
    env.bus.add_service(NETWORK.name, [ip, "netns", "exec", vm.network.vm_ns, *argv])


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "fake-network-stacks.conf"
    path.write_text(POLICY)
    return path


@pytest.fixture
def system(vm: VmNetwork, policy: Path) -> Iterator[Environment]:
    with Environment(polkit=False, activatable=False, extra_policies=[policy]) as env:
        netd_in_vm(env, vm)
        yield env


def with_default_route(vm: VmNetwork) -> int:
    vm.exec("ip", "route", "add", "default", "dev", vm.network.vm_veth)
    return int(
        json.loads(vm.exec("ip", "-j", "link", "show", vm.network.vm_veth).stdout)[0]["ifindex"]
    )


class LinkMonitor:
    """`ip monitor link` in the VM namespace: what happened to the links meanwhile."""

    def __init__(self, vm: VmNetwork) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", vm.network.vm_ns, "ip", "-o", "monitor", "link"],
            stdout=subprocess.PIPE,
            text=True,
        )

    def lines(self) -> list[str]:
        terminate([self.proc.pid])
        out, _ = self.proc.communicate(timeout=10)
        return out.splitlines()


def publish(env: Environment, user: str | None = None) -> tuple[bool, str]:
    reply = env.busctl.call(*N, "PublishHostname", user=user, timeout=60)
    return reply.ok, reply.error


def prop(env: Environment, name: str) -> object:
    return env.busctl.get_property(*N, name)


def test_without_a_dhcp_client_it_can_ask_the_link_is_left_alone(
    system: Environment, vm: VmNetwork
) -> None:
    """No networkd, NetworkManager or ifupdown: a bare link flap would drop the routes (and the
    WireServer with them) without making dhclient send anything, so netd refuses and says why."""
    with_default_route(vm)
    routes = vm.exec("ip", "route").stdout
    monitor = LinkMonitor(vm)
    ok, error = publish(system)
    seen = monitor.lines()
    assert not ok
    assert "no DHCP client waagent can ask manages" in error
    assert "no DHCP client waagent can ask manages" in str(prop(system, "PublishError"))
    assert not any("DOWN" in line for line in seen), seen
    assert vm.exec("ip", "route").stdout == routes


def test_networkd_is_asked_to_reconfigure_the_link_which_stays_up(
    system: Environment, vm: VmNetwork, tmp_path: Path
) -> None:
    ifindex = with_default_route(vm)
    with stand_in(system, "networkd", tmp_path / "calls") as record:
        monitor = LinkMonitor(vm)
        ok, error = publish(system)
        seen = monitor.lines()
    assert ok, error
    assert calls(record) == [["GetLinkByIndex", ifindex], ["ReconfigureLink", ifindex]]
    assert prop(system, "PublishMethod") == "systemd-networkd"
    assert not any("DOWN" in line for line in seen), seen


def test_networkmanager_reapplies_the_connection_with_the_dhcp_hostname(
    system: Environment, vm: VmNetwork, tmp_path: Path
) -> None:
    with_default_route(vm)
    with stand_in(system, "nm", tmp_path / "calls") as record:
        ok, error = publish(system)
    assert ok, error
    reapplied = [c for c in calls(record) if c[0] == "Reapply"]
    assert reapplied == [
        ["Reapply", {"method": "auto", "dhcp-hostname": socket.gethostname()}, 7, 0]
    ]
    assert calls(record)[0] == ["GetDeviceByIpIface", vm.network.vm_veth]
    assert prop(system, "PublishMethod") == "NetworkManager"


def test_only_root_may_publish(system: Environment, vm: VmNetwork) -> None:
    with_default_route(vm)
    ok, error = publish(system, user=UNPRIVILEGED)
    assert not ok
    assert "only root may call" in error
    assert prop(system, "PublishedHostname") == ""


def sent_event(wire: WireSystem, operation: str) -> dict[str, object] | None:
    """The parameters of the first event of `operation` the fabric received."""
    for record in wire.records("telemetry"):
        for sent in record["events"]:
            if sent["params"].get("Operation") == operation:
                return dict(sent["params"])
    return None


@pytest.fixture
def wire_and_netd(vm: VmNetwork) -> Iterator[WireSystem]:
    with wire_system() as wire:
        netd_in_vm(wire.env, vm)
        yield wire


def test_a_failure_is_an_error_a_property_and_a_hostname_publishing_event(
    wire_and_netd: WireSystem, vm: VmNetwork
) -> None:
    wire = wire_and_netd
    wire.wait_prop("State", "Ready")
    vm.exec("ip", "route", "del", "168.63.129.16/32", "dev", vm.network.vm_veth)
    ok, error = publish(wire.env)  # no default route, no route to the WireServer
    assert not ok
    assert "no default route" in error
    assert "no default route" in str(prop(wire.env, "PublishError"))
    assert prop(wire.env, "PublishMethod") == ""

    params = wait_for(lambda: sent_event(wire, "HostnamePublishing"), timeout=30, what="the event")
    assert params["OperationSuccess"] in (False, "False")
    assert str(params["Message"]).startswith("Error while publishing the hostname: no default")


def test_a_firewall_setup_through_the_bus_sends_a_firewall_event(
    wire_and_netd: WireSystem, vm: VmNetwork
) -> None:
    wire = wire_and_netd
    wire.wait_prop("State", "Ready")
    reply = wire.env.busctl.call(*N, "SetupFirewall", "s", "168.63.129.16", timeout=60)
    assert reply.ok, reply.error

    params = wait_for(lambda: sent_event(wire, "Firewall"), timeout=30, what="a Firewall event")
    assert params["OperationSuccess"] in (True, "True")
    assert "168.63.129.16" in str(params["Message"])
    assert vm.nft_tables() == ["waagent"]


def test_without_a_default_route_the_wireserver_s_interface_is_the_one(
    system: Environment, vm: VmNetwork
) -> None:
    """An Azure lease may carry classless static routes only (option 121), no default route."""
    ok, error = publish(system)
    assert not ok
    assert f"manages {vm.network.vm_veth}" in error


def test_the_boot_time_setup_reports_to_a_running_wire_and_never_starts_it(
    wire_and_netd: WireSystem, vm: VmNetwork
) -> None:
    wire = wire_and_netd
    argv = wire.env.service_argv(NETWORK.program, "--setup-firewall=168.63.129.16")
    boot = ["ip", "netns", "exec", vm.network.vm_ns, *argv]

    def run_boot_unit() -> None:
        result = subprocess.run(
            boot, env=wire.env.bus.env(), capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr

    run_boot_unit()
    assert not name_has_owner(wire.env.bus, WIRE.name)  # before the network: wire waits for it
    wire.wait_prop("State", "Ready")
    run_boot_unit()
    persisted = wait_for(
        lambda: sent_event(wire, "PersistFirewallRules"), timeout=30, what="the event"
    )
    assert persisted["OperationSuccess"] in (True, "True")
    assert persisted["Message"] == "Persistent firewall rules setup successfully"
    assert sent_event(wire, "Firewall") is not None
