"""The rule set's pieces without a kernel: endpoints, the classic shapes, firewalld's
passthroughs (firewall-cmd answered as firewalld would), the boot-time decisions."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from waagent.common.commands import Runner
from waagent.common.config import AgentConfig
from waagent.common.errors import InvalidArgs, NotSupported
from waagent.common.root import Root
from waagent.netd.boot import setup_firewall
from waagent.netd.dhcp_routes import DhcpRoutes
from waagent.netd.firewall import Firewall
from waagent.netd.firewalld import Firewalld
from waagent.netd.iptables import is_classic, is_ours, our_rules
from waagent.netd.nftables import Nftables, expected_expressions, script
from waagent.netd.rules import FirewallState, WireRules, parse_endpoint
from waagent.netd.service import NetworkService

from .conftest import write_passwd
from .fake_firewalld import FakeFirewallCmd

RULES = WireRules(endpoint=IPv4Address("168.63.129.16"), uids=(999, 0, 999))
CLASSIC_PASSTHROUGHS = [
    ("ipv4", "-t", "security", "-A", "OUTPUT", "-d", "168.63.129.16", "-p", "tcp",
     "--destination-port", "53", "-j", "ACCEPT"),
    ("ipv4", "-t", "security", "-A", "OUTPUT", "-d", "168.63.129.16", "-p", "tcp",
     "-m", "owner", "--uid-owner", "0", "-j", "ACCEPT"),
    ("ipv4", "-t", "security", "-A", "OUTPUT", "-d", "168.63.129.16", "-p", "tcp",
     "-m", "conntrack", "--ctstate", "INVALID,NEW", "-j", "DROP"),
    # agents up to 2.7.0.6 inserted the DNS rule
    ("ipv4", "-t", "security", "-I", "OUTPUT", "-d", "168.63.129.16", "-p", "tcp",
     "--destination-port", "53", "-j", "ACCEPT"),
]  # fmt: skip


def test_the_allowed_uids_are_sorted_and_unique() -> None:
    assert RULES.uids == (0, 999)


@pytest.mark.parametrize("text", ["168.63.129", "::1", "0.0.0.0", "224.0.0.1", "wire", ""])
def test_an_endpoint_that_is_not_a_unicast_ipv4_address_is_refused_by_name(text: str) -> None:
    with pytest.raises(InvalidArgs, match="invalid WireServer endpoint"):
        parse_endpoint(text)


def test_an_endpoint_with_a_newline_is_read_as_the_classic_file_holds_it() -> None:
    assert parse_endpoint("168.63.129.16\n") == IPv4Address("168.63.129.16")


def test_the_nft_script_replaces_ours_and_the_classic_table_in_one_transaction() -> None:
    text = script(RULES)
    assert text.index("delete table ip walinuxagent") < text.index("table ip waagent {")
    assert "meta skuid != { 0, 999 }" in text
    assert "tcp dport != 53" in text


def test_the_expected_nft_rule_names_each_uid() -> None:
    skuid = expected_expressions(RULES)[2]["match"]
    assert skuid["right"] == [0, 999]


def test_the_classic_iptables_shapes_are_recognized_and_ours_are_not_classic() -> None:
    for words in CLASSIC_PASSTHROUGHS:
        assert is_classic(words[1:]), words
    for rule in our_rules(RULES):
        assert is_ours(rule) and not is_classic(rule)
    admin = (
        "-d",
        "168.63.129.16/32",
        "-p",
        "tcp",
        "-m",
        "owner",
        "--uid-owner",
        "1000",
        "-j",
        "ACCEPT",
    )
    assert not is_classic(admin)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_firewalld_replaces_the_classic_passthroughs_in_both_configurations() -> None:
    cmd = FakeFirewallCmd()
    for scope in ("permanent", "runtime"):
        cmd.passthroughs[scope] = list(CLASSIC_PASSTHROUGHS)
    firewalld = Firewalld(cmd)
    assert run(firewalld.inspect(RULES)).state == FirewallState.PARTIAL
    run(firewalld.apply(RULES))
    for scope in ("permanent", "runtime"):
        listed = cmd.passthroughs[scope]
        assert len(listed) == 4 and all(is_ours(words) for words in listed), listed
    assert run(firewalld.inspect(RULES)).state == FirewallState.PRESENT
    run(firewalld.apply(RULES))
    assert len(cmd.passthroughs["permanent"]) == 4


def test_firewalld_rules_only_in_the_running_firewall_are_partial() -> None:
    cmd = FakeFirewallCmd()
    run(Firewalld(cmd).apply(RULES))
    cmd.passthroughs["permanent"] = []
    assert run(Firewalld(cmd).inspect(RULES)).state == FirewallState.PARTIAL


def test_firewalld_is_used_only_while_it_runs() -> None:
    assert run(Firewalld(FakeFirewallCmd(running=False)).available()) is False


class NoTool:
    """A backend whose tool is missing."""

    def __init__(self) -> None:
        self.name = Nftables.name

    async def available(self) -> bool:
        return False


def test_a_host_without_any_tool_says_which_tools_were_looked_for() -> None:
    with pytest.raises(NotSupported, match="no firewall tool found.*nftables"):
        run(Firewall([NoTool()]).inspect(RULES))  # type: ignore[list-item]


def service(tmp_path: Path, *, enabled: bool = True, endpoint: str | None = None) -> NetworkService:
    write_passwd(tmp_path, 999)
    if endpoint is not None:
        (tmp_path / "var/lib/waagent").mkdir(parents=True)
        (tmp_path / "var/lib/waagent/WireServerEndpoint").write_text(endpoint)
    config = AgentConfig.model_validate({"OS.EnableFirewall": enabled})
    root = Root(tmp_path)
    firewall = Firewall([NoTool()])  # type: ignore[list-item]
    return NetworkService(config, root, firewall, routes=DhcpRoutes(root, Runner()))


def test_at_boot_nothing_is_done_when_the_firewall_is_disabled(tmp_path: Path) -> None:
    svc = service(tmp_path, enabled=False, endpoint="168.63.129.16")
    assert run(setup_firewall(svc, None)) == 0
    assert svc.status.firewall_state == FirewallState.ABSENT


def test_at_boot_nothing_is_done_before_wire_found_an_endpoint(tmp_path: Path) -> None:
    assert run(setup_firewall(service(tmp_path), None)) == 0


def test_at_boot_an_unreadable_endpoint_file_is_no_endpoint(tmp_path: Path) -> None:
    svc = service(tmp_path, endpoint="garbage")
    assert svc.known_endpoint() is None
    assert run(setup_firewall(svc, None)) == 0


def test_at_boot_a_host_without_a_tool_boots_but_shows_the_error(tmp_path: Path) -> None:
    svc = service(tmp_path, endpoint="168.63.129.16")
    assert run(setup_firewall(svc, None)) == 0
    assert svc.status.firewall_state == FirewallState.ERROR
    assert "no firewall tool found" in svc.status.last_error


def test_an_explicit_endpoint_fails_without_a_tool(tmp_path: Path) -> None:
    assert run(setup_firewall(service(tmp_path), "168.63.129.16")) == 1


def test_an_explicit_bad_endpoint_fails(tmp_path: Path) -> None:
    assert run(setup_firewall(service(tmp_path), "168.63.129")) == 1


def test_the_wire_user_is_allowed_when_it_exists(tmp_path: Path) -> None:
    svc = service(tmp_path)
    assert svc.rules(IPv4Address("168.63.129.16")).uids == (0, 999)
    write_passwd(tmp_path, None)
    assert svc.rules(IPv4Address("168.63.129.16")).uids == (0,)
