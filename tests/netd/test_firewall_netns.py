"""The WireServer firewall for real, in a VM network namespace: each backend's rules stop an
unprivileged user's new connections to the WireServer and let root, waagent-wire and DNS through;
the classic agent's rules (root only) are replaced; partial rules are repaired; nothing doubles.
"""

from __future__ import annotations

import asyncio
import pwd
from ipaddress import IPv4Address

import pytest

from waagent.netd.backend import Backend
from waagent.netd.firewall import Firewall
from waagent.netd.firewalld import Firewalld
from waagent.netd.iptables import Iptables
from waagent.netd.nftables import Nftables
from waagent.netd.rules import COMMENT, BackendName, FirewallState, WireRules

from .conftest import NOBODY
from .fake_firewalld import FakeFirewallCmd
from .netns import CLASSIC_NFT, VmNetwork, missing_for_netns

pytestmark = pytest.mark.skipif(missing_for_netns() is not None, reason=missing_for_netns() or "")

WIRESERVER = IPv4Address("168.63.129.16")
BACKENDS = ["nft", "iptables", "iptables-legacy"]

CLASSIC_IPTABLES = [
    ["-d", "168.63.129.16", "-p", "tcp", "--destination-port", "53", "-j", "ACCEPT"],
    ["-d", "168.63.129.16", "-p", "tcp", "-m", "owner", "--uid-owner", "0", "-j", "ACCEPT"],
    ["-d", "168.63.129.16", "-p", "tcp", "-m", "conntrack", "--ctstate", "INVALID,NEW", "-j", "DROP"],
]  # fmt: skip


def backend_for(program: str, vm: VmNetwork) -> Backend:
    return Nftables(vm.runner) if program == "nft" else Iptables(vm.runner, program)


def rules_for(wire: pwd.struct_passwd) -> WireRules:
    return WireRules(endpoint=WIRESERVER, uids=(0, wire.pw_uid))


def put_classic_rules(vm: VmNetwork, program: str) -> None:
    if program == "nft":
        vm.network.run_in_vm(["sh", "-c", f"nft -f - <<'EOF'\n{CLASSIC_NFT}EOF"])
    else:
        for rule in CLASSIC_IPTABLES:
            vm.exec(program, "-w", "-t", "security", "-A", "OUTPUT", *rule)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.mark.parametrize("program", BACKENDS)
def test_only_root_and_waagent_wire_open_connections_to_the_wireserver(
    vm: VmNetwork, wire_user: pwd.struct_passwd, program: str
) -> None:
    assert vm.connects(NOBODY), "the WireServer is reachable before the firewall"
    backend = backend_for(program, vm)
    run(backend.apply(rules_for(wire_user)))
    assert not vm.connects(NOBODY)
    assert vm.connects(0)
    assert vm.connects(wire_user.pw_uid)
    assert vm.connects(NOBODY, port=53), "DNS stays open to everyone"
    assert run(backend.inspect(rules_for(wire_user))).state == FirewallState.PRESENT


@pytest.mark.parametrize("program", BACKENDS)
def test_the_classic_agents_rules_are_replaced_so_wire_gets_through(
    vm: VmNetwork, wire_user: pwd.struct_passwd, program: str
) -> None:
    put_classic_rules(vm, program)
    assert not vm.connects(wire_user.pw_uid), "the classic rules block waagent-wire"
    backend = backend_for(program, vm)
    assert run(backend.inspect(rules_for(wire_user))).classic
    run(backend.apply(rules_for(wire_user)))
    assert vm.connects(wire_user.pw_uid)
    assert not vm.connects(NOBODY)
    found = run(backend.inspect(rules_for(wire_user)))
    assert (found.complete, found.partial, found.classic) == (True, False, False)
    if program == "nft":
        assert vm.nft_tables() == ["waagent"]
    else:
        assert len(vm.iptables_rules(program)) == 4
        assert all("waagent" in rule for rule in vm.iptables_rules(program))


@pytest.mark.parametrize("program", BACKENDS)
def test_applying_twice_leaves_one_set_of_rules(
    vm: VmNetwork, wire_user: pwd.struct_passwd, program: str
) -> None:
    backend = backend_for(program, vm)
    run(backend.apply(rules_for(wire_user)))
    first = vm.exec("nft", "list", "ruleset").stdout if program == "nft" else None
    run(backend.apply(rules_for(wire_user)))
    if program == "nft":
        assert vm.exec("nft", "list", "ruleset").stdout == first
        assert vm.exec("nft", "list", "ruleset").stdout.count("drop") == 1
    else:
        assert len(vm.iptables_rules(program)) == 4


@pytest.mark.parametrize("program", BACKENDS)
def test_partial_rules_are_seen_and_repaired(
    vm: VmNetwork, wire_user: pwd.struct_passwd, program: str
) -> None:
    backend = backend_for(program, vm)
    rules = rules_for(wire_user)
    run(backend.apply(rules))
    if program == "nft":
        handle = vm.exec("nft", "-a", "list", "chain", "ip", "waagent", "output").stdout
        number = handle.rsplit("# handle ", 1)[1].split()[0]
        vm.exec("nft", "delete", "rule", "ip", "waagent", "output", "handle", number)
    else:
        vm.exec(program, "-w", "-t", "security", "-D", "OUTPUT", "-d", "168.63.129.16/32",
                "-p", "tcp", "-m", "conntrack", "--ctstate", "INVALID,NEW",
                "-m", "comment", "--comment", COMMENT, "-j", "DROP")  # fmt: skip
    assert vm.connects(NOBODY)
    assert run(backend.inspect(rules)).state == FirewallState.PARTIAL
    run(backend.apply(rules))
    assert run(backend.inspect(rules)).state == FirewallState.PRESENT
    assert not vm.connects(NOBODY)


@pytest.mark.parametrize("program", BACKENDS)
def test_rules_for_another_endpoint_are_partial_and_replaced(
    vm: VmNetwork, wire_user: pwd.struct_passwd, program: str
) -> None:
    backend = backend_for(program, vm)
    run(backend.apply(WireRules(endpoint=IPv4Address("10.9.9.9"), uids=(0, wire_user.pw_uid))))
    assert vm.connects(NOBODY)
    assert run(backend.inspect(rules_for(wire_user))).state == FirewallState.PARTIAL
    run(backend.apply(rules_for(wire_user)))
    assert run(backend.inspect(rules_for(wire_user))).state == FirewallState.PRESENT
    assert not vm.connects(NOBODY)


@pytest.mark.parametrize("program", BACKENDS)
def test_removal_leaves_neither_ours_nor_the_classic_rules(
    vm: VmNetwork, wire_user: pwd.struct_passwd, program: str
) -> None:
    backend = backend_for(program, vm)
    run(backend.apply(rules_for(wire_user)))
    put_classic_rules(vm, program)
    run(backend.remove())
    assert run(backend.inspect(rules_for(wire_user))).state == FirewallState.ABSENT
    assert vm.connects(NOBODY)
    assert vm.connects(wire_user.pw_uid)


def test_classic_iptables_rules_are_removed_when_nftables_does_the_work(
    vm: VmNetwork, wire_user: pwd.struct_passwd
) -> None:
    """An in-place upgrade: the classic agent preferred iptables, we prefer nft."""
    put_classic_rules(vm, "iptables")
    firewall = Firewall([Nftables(vm.runner), Iptables(vm.runner)])
    before = run(firewall.inspect(rules_for(wire_user)))
    assert (before.backend, before.found.state) == (BackendName.NFTABLES, FirewallState.PARTIAL)
    seen = run(firewall.apply(rules_for(wire_user)))
    assert (seen.backend, seen.found.state) == (BackendName.NFTABLES, FirewallState.PRESENT)
    assert vm.iptables_rules() == []
    assert vm.connects(wire_user.pw_uid)
    assert not vm.connects(NOBODY)


def test_the_rule_set_is_read_as_nft_prints_it(vm: VmNetwork, wire_user: pwd.struct_passwd) -> None:
    run(Nftables(vm.runner).apply(rules_for(wire_user)))
    listed = vm.exec("nft", "list", "table", "ip", "waagent").stdout
    assert "ip daddr 168.63.129.16 tcp dport != 53" in listed
    assert f"meta skuid != {{ 0, {wire_user.pw_uid} }}" in listed
    assert "ct state invalid,new counter packets 0 bytes 0 drop" in listed


def test_with_firewalld_its_rules_in_iptables_are_kept_and_the_classic_ones_removed(
    vm: VmNetwork, wire_user: pwd.struct_passwd
) -> None:
    """firewalld's runtime passthroughs are iptables rules: not stale, unlike the classic ones."""
    rules = rules_for(wire_user)
    run(Iptables(vm.runner).apply(rules))  # what firewalld's runtime passthroughs amount to
    put_classic_rules(vm, "iptables")
    firewall = Firewall([Firewalld(FakeFirewallCmd()), Nftables(vm.runner), Iptables(vm.runner)])
    seen = run(firewall.apply(rules))
    assert (seen.backend, seen.found.state) == (BackendName.FIREWALLD, FirewallState.PRESENT)
    assert len(vm.iptables_rules()) == 4
    assert all("waagent-wireserver-firewall" in rule for rule in vm.iptables_rules())
    assert vm.connects(wire_user.pw_uid)
    assert not vm.connects(NOBODY)
