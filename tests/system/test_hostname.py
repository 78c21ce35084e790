"""The hostname published and kept published, in the booted VM with the real systemd-networkd
and the fabric simulator's DHCP server: the provisioned name reaches the DHCP server (before
Ready), and so does each later change, by `hostnamectl set-hostname` and by `hostname`, within
5 s and without the link going down (same ifindex, carrier and address; `ip monitor link` sees
no DOWN).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.harness.wait import wait_for
from tests.system.container import missing_tools
from tests.system.test_boot import agent_processes
from tests.system.vm import Vm, booted_vm
from waagent.common.names import NETWORK

pytestmark = pytest.mark.system
if reason := missing_tools():
    pytestmark = [pytest.mark.system, pytest.mark.skip(reason=reason)]

CONFIG = {"Provisioning.MonitorHostName": "y", "Services.IdleTimeout": "5"}
PUBLISHED_WITHIN = 5.0  # the acceptance
WOKEN_WITHIN = 30.0  # from the poller alone: three services start on demand first


def names_sent(vm: Vm) -> list[str]:
    return [str(r.fields.get("hostname")) for r in vm.fabric.client.records("dhcp")]


def link(vm: Vm, interface: str) -> dict[str, object]:
    shown = json.loads(vm.run("ip", "-j", "addr", "show", "dev", interface).stdout)[0]
    addresses = [a["local"] for a in shown["addr_info"] if a["family"] == "inet"]
    return {"ifindex": shown["ifindex"], "carrier": "LOWER_UP" in shown["flags"], "inet": addresses}


@contextlib.contextmanager
def link_events(netns: str) -> Iterator[list[str]]:
    """`ip monitor link` in the VM's namespace meanwhile; the list is filled when the block ends."""
    monitor = subprocess.Popen(
        ["ip", "netns", "exec", netns, "ip", "-o", "monitor", "link"],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        yield lines
    finally:
        monitor.terminate()
        out, _ = monitor.communicate(timeout=10)
        lines.extend(out.splitlines())


def published(vm: Vm, name: str) -> None:
    since = len(names_sent(vm))
    wait_for(
        lambda: name in names_sent(vm)[since:],
        timeout=PUBLISHED_WITHIN,
        what=f"a DHCP request carrying {name}",
    )


@pytest.fixture(scope="module")
def vm() -> Iterator[Vm]:
    """The VM's only interface configured by systemd-networkd from the fabric's DHCP server."""
    with booted_vm(CONFIG, dhcp=True) as booted:
        wait_for(
            lambda: any(r["state"] == "Ready" for r in booted.fabric.client.records("health")),
            timeout=120,
            what="provisioning to report Ready",
        )
        yield booted


def test_the_provisioned_name_reaches_the_dhcp_server(vm: Vm) -> None:
    booted = vm
    hostname = booted.scenario.identity.hostname
    wait_for(lambda: hostname in names_sent(booted), timeout=30, what=f"{hostname} sent")
    assert booted.run("hostname").stdout.strip() == hostname


def test_the_dhcp_server_has_the_provisioned_name_before_ready(vm: Vm) -> None:
    """As classic: the name is set and published (joined before the marker) before the fabric
    hears Ready, though both run beside the account steps."""
    hostname = vm.scenario.identity.hostname
    client = vm.fabric.client
    sent = [r.seq for r in client.records("dhcp") if r.fields.get("hostname") == hostname]
    ready = [r.seq for r in client.records("health") if r["state"] == "Ready"]
    assert sent, f"no DHCP request carried {hostname} by the time Ready was reported"
    assert sent[0] < ready[0]


@pytest.mark.parametrize(
    ("command", "name"),
    [(("hostnamectl", "set-hostname", "new-name"), "new-name"), (("hostname", "other"), "other")],
    ids=["hostnamectl", "hostname"],
)
def test_a_changed_name_is_published_within_5_s_without_the_link_going_down(
    vm: Vm, command: tuple[str, ...], name: str
) -> None:
    booted, interface = vm, vm.interface
    before = link(booted, interface)
    with link_events(vm.netns) as events:
        changed = booted.run(*command)
        assert changed.returncode == 0, changed.stderr
        published(booted, name)
        # networkd's ReconfigureLink releases the lease and asks again: the address is gone
        # between its RELEASE and the new ACK (some 40 ms), the link itself never goes down.
        wait_for(lambda: link(booted, interface) == before, timeout=10, what="the address back")
    assert not [line for line in events if "DOWN" in line or "NO-CARRIER" in line], events
    assert booted.box.path("/etc/hostname").read_text().strip() == name  # kept in step, as classic
    assert booted.box.path("/var/lib/waagent/published_hostname").read_text() == name
    assert booted.prop(NETWORK.name, "PublishMethod") == "systemd-networkd"
    assert booted.prop(NETWORK.name, "PublishedHostname") == name


def test_a_name_changed_while_only_the_poller_runs_is_published(vm: Vm) -> None:
    """Issue 17 moved the watch of MonitorHostName into the resident poller once wire leaves
    when idle: a change then wakes wire, which has the provisioner publish it (wire, the
    provisioner and netd all started on demand, hence the wider bound than a running wire's)."""
    wait_for(
        lambda: agent_processes(vm) == ["waagent-wire waagent-wirepoll"],
        timeout=120,
        what="the poller alone at idle",
    )
    since = len(names_sent(vm))
    changed = vm.run("hostname", "idle-name")
    assert changed.returncode == 0, changed.stderr
    wait_for(
        lambda: "idle-name" in names_sent(vm)[since:],
        timeout=WOKEN_WITHIN,
        what="a DHCP request carrying idle-name",
    )
    assert vm.box.path("/var/lib/waagent/published_hostname").read_text() == "idle-name"
    journal = vm.run("journalctl", "-u", "waagent-wirepoll", "-o", "cat").stdout
    assert "waking wire: the hostname changed" in journal, journal
