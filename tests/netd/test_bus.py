"""org.waagent.Network1 on a private bus, bus-activated inside the VM namespace (so its rules
never reach the host): properties, methods as root, refusals for everyone else, and the
`waagent` command (status, -setup-firewall) against it."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.harness.environment import Environment
from tests.harness.paths import PYTHON
from waagent.common.names import NETWORK

from .conftest import NOBODY, write_passwd
from .netns import VmNetwork, missing_for_netns

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing_for_netns() is not None, reason=missing_for_netns() or ""),
]

WIRESERVER = "168.63.129.16"
N = (NETWORK.name, NETWORK.path, NETWORK.interface)


@pytest.fixture
def system(vm: VmNetwork, wire_user: pwd.struct_passwd) -> Iterator[Environment]:
    environment = Environment(polkit=False, activatable=False)
    with environment:
        root = environment.sandbox.root
        write_passwd(root, wire_user.pw_uid)
        (root / "var/lib/waagent/WireServerEndpoint").write_text(WIRESERVER)
        argv = environment.service_argv(NETWORK.program)
        environment.bus.add_service(
            NETWORK.name,
            [shutil.which("ip") or "/usr/sbin/ip", "netns", "exec", vm.network.vm_ns, *argv],
        )
        yield environment


def prop(system: Environment, name: str) -> object:
    return system.busctl.get_property(*N, name)


def waagent(
    system: Environment, *args: str, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    who = (
        [] if user is None else ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    )
    return subprocess.run(
        [*who, PYTHON, "-m", "waagent.cli", *args, f"-configuration-path:{system.sandbox.config_path}",
         f"-root:{system.sandbox.root}"],
        env={**system.bus.env(), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_properties_show_the_firewall_before_and_after_setup(
    system: Environment, vm: VmNetwork, wire_user: pwd.struct_passwd
) -> None:
    assert prop(system, "FirewallState") == "absent"
    assert prop(system, "Endpoint") == WIRESERVER
    assert prop(system, "Backend") == "nftables"
    reply = system.busctl.call(*N, "SetupFirewall", "s", WIRESERVER)
    assert reply.ok, reply.error
    assert prop(system, "FirewallState") == "present"
    assert prop(system, "LastError") == ""
    assert vm.nft_tables() == ["waagent"]
    assert not vm.connects(NOBODY)
    assert vm.connects(wire_user.pw_uid)


def test_a_caller_that_is_not_root_changes_nothing(system: Environment, vm: VmNetwork) -> None:
    for method in ("SetupFirewall", "RemoveFirewall"):
        args = ("s", WIRESERVER) if method == "SetupFirewall" else ()
        reply = system.busctl.call(*N, method, *args, user="nobody")
        assert not reply.ok
        assert "root" in reply.error or "authoriz" in reply.error.lower(), reply.error
    assert vm.nft_tables() == []
    assert vm.connects(NOBODY)


def test_a_bad_address_is_refused_by_name(system: Environment, vm: VmNetwork) -> None:
    reply = system.busctl.call(*N, "SetupFirewall", "s", "168.63.129")
    assert not reply.ok
    assert "168.63.129" in reply.error and "IPv4" in reply.error
    assert vm.nft_tables() == []


def test_remove_firewall_takes_the_rules_away(system: Environment, vm: VmNetwork) -> None:
    assert system.busctl.call(*N, "SetupFirewall", "s", WIRESERVER).ok
    reply = system.busctl.call(*N, "RemoveFirewall")
    assert reply.ok, reply.error
    assert prop(system, "FirewallState") == "absent"
    assert vm.nft_tables() == []
    assert vm.connects(NOBODY)


def test_waagent_setup_firewall_asks_netd_and_status_shows_it(
    system: Environment, vm: VmNetwork
) -> None:
    refused = waagent(system, f"-setup-firewall={WIRESERVER}", user=str(NOBODY))
    assert refused.returncode == 1
    assert vm.nft_tables() == []
    done = waagent(system, f"-setup-firewall={WIRESERVER}")
    assert done.returncode == 0, done.stderr
    assert vm.nft_tables() == ["waagent"]
    shown = waagent(system, "status", "--json", user=str(NOBODY))
    assert shown.returncode == 0, shown.stderr
    services = {s["name"]: s for s in json.loads(shown.stdout)["services"]}
    properties = services[NETWORK.name]["properties"]
    assert (properties["FirewallState"], properties["Backend"], properties["Endpoint"]) == (
        "present", "nftables", WIRESERVER,
    )  # fmt: skip
    busctl = {p: prop(system, p) for p in ("FirewallState", "Backend", "Endpoint", "LastError")}
    assert {p: properties[p] for p in busctl} == busctl


def test_waagent_setup_firewall_needs_an_address(system: Environment) -> None:
    result = waagent(system, "-setup-firewall")
    assert result.returncode == 1
    assert "-setup-firewall=<ip>" in result.stderr
    assert os.path.exists(system.sandbox.config_path)
