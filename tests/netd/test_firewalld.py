"""The firewall through a real firewalld (Debian's 1.3), run in the VM network namespace on a
private system bus with a copy of its default configuration: our rules become its direct
passthroughs, permanent and running, they keep unprivileged users from the WireServer and
survive `firewall-cmd --reload`; the classic agent's passthroughs are replaced; removal leaves
none. The host's rule set, /etc/firewalld and /run are never touched."""

from __future__ import annotations

import asyncio
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from tests.harness.dbus_daemon import PrivateBus
from tests.harness.wait import wait_for
from waagent.common.cmdenv import BASE_ENV
from waagent.netd.build import build_firewall
from waagent.netd.firewall import Firewall
from waagent.netd.iptables import our_rules
from waagent.netd.rules import COMMENT, BackendName, FirewallState, WireRules

from .conftest import NOBODY
from .netns import NetnsRunner, VmNetwork, missing_for_netns

DEFAULT_CONFIG = Path("/etc/firewalld")
WIRESERVER = "168.63.129.16"


def missing() -> str | None:
    if reason := missing_for_netns():
        return reason
    for tool in ("firewalld", "firewall-cmd", "iptables", "dbus-daemon", "unshare"):
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install firewalld)"
    if not (DEFAULT_CONFIG / "firewalld.conf").exists():
        return f"needs firewalld's default configuration in {DEFAULT_CONFIG}"
    return None


pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")

CLASSIC = [
    ["-d", WIRESERVER, "-p", "tcp", "--destination-port", "53", "-j", "ACCEPT"],
    ["-d", WIRESERVER, "-p", "tcp", "-m", "owner", "--uid-owner", "0", "-j", "ACCEPT"],
    ["-d", WIRESERVER, "-p", "tcp", "-m", "conntrack", "--ctstate", "INVALID,NEW", "-j", "DROP"],
]


@dataclass
class Firewalld:
    vm: VmNetwork
    runner: NetnsRunner
    address: str
    config: Path

    def cmd(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**BASE_ENV, "DBUS_SYSTEM_BUS_ADDRESS": self.address}
        return subprocess.run(
            ["firewall-cmd", *args], env=env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip

    def passthroughs(self, *scope: str) -> list[str]:
        return self.cmd(*scope, "--direct", "--get-all-passthroughs").stdout.splitlines()


@pytest.fixture
def firewalld(vm: VmNetwork, tmp_path: Path) -> Iterator[Firewalld]:
    (tmp_path / "bus").mkdir()
    bus = PrivateBus(tmp_path / "bus")
    bus.start()
    config = tmp_path / "firewalld"
    shutil.copytree(DEFAULT_CONFIG, config)
    # Its own /run (it keeps state there) in a mount namespace inside the VM's network one.
    script = 'mount -t tmpfs tmpfs /run && exec "$@"'
    argv = ["firewalld", "--nofork", "--nopid", "--system-config", str(config),
            "--log-target", "file", "--log-file", str(tmp_path / "firewalld.log")]  # fmt: skip
    proc = subprocess.Popen(
        ["ip", "netns", "exec", vm.network.vm_ns, "unshare", "--mount", "sh", "-c", script,
         "sh", *argv],
        env=bus.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        runner = NetnsRunner(vm.network.vm_ns, {"DBUS_SYSTEM_BUS_ADDRESS": bus.address})
        started = Firewalld(vm, runner, bus.address, config)
        wait_for(
            lambda: started.cmd("--state").stdout.strip() == "running",
            timeout=60, what="firewalld running",
        )  # fmt: skip
        yield started
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        bus.stop()


def rules(wire: pwd.struct_passwd) -> WireRules:
    return WireRules(endpoint=IPv4Address(WIRESERVER), uids=(0, wire.pw_uid))


def firewall(firewalld: Firewalld) -> Firewall:
    return build_firewall(firewalld.runner)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_the_rules_are_firewalld_s_direct_passthroughs_permanent_and_running(
    firewalld: Firewalld, wire_user: pwd.struct_passwd
) -> None:
    vm = firewalld.vm
    seen = run(firewall(firewalld).apply(rules(wire_user)))

    assert (seen.backend, seen.found.state) == (BackendName.FIREWALLD, FirewallState.PRESENT)
    for scope in (("--permanent",), ()):
        ours = [line for line in firewalld.passthroughs(*scope) if COMMENT in line]
        assert len(ours) == len(our_rules(rules(wire_user))), firewalld.passthroughs(*scope)
    assert "direct" in (firewalld.config / "direct.xml").read_text()
    assert not vm.connects(NOBODY)
    assert vm.connects(0) and vm.connects(wire_user.pw_uid)
    assert vm.connects(NOBODY, port=53)


def test_the_rules_survive_a_firewalld_reload(
    firewalld: Firewalld, wire_user: pwd.struct_passwd
) -> None:
    run(firewall(firewalld).apply(rules(wire_user)))
    assert firewalld.cmd("--reload").returncode == 0
    wait_for(lambda: firewalld.cmd("--state").stdout.strip() == "running", what="reloaded")

    assert not firewalld.vm.connects(NOBODY)
    assert firewalld.vm.connects(wire_user.pw_uid)
    seen = run(firewall(firewalld).inspect(rules(wire_user)))
    assert seen.found.state == FirewallState.PRESENT


def test_the_classic_agents_passthroughs_are_replaced_so_wire_gets_through(
    firewalld: Firewalld, wire_user: pwd.struct_passwd
) -> None:
    for scope in (["--permanent"], []):
        for rule in CLASSIC:
            added = firewalld.cmd(*scope, "--direct", "--add-passthrough", "ipv4", "-t",
                                  "security", "-A", "OUTPUT", *rule)  # fmt: skip
            assert added.returncode == 0, added.stderr
    assert not firewalld.vm.connects(wire_user.pw_uid), "the classic rules let root only through"
    assert run(firewall(firewalld).inspect(rules(wire_user))).found.classic

    seen = run(firewall(firewalld).apply(rules(wire_user)))

    assert seen.found.state == FirewallState.PRESENT
    for scope in (("--permanent",), ()):
        assert all(COMMENT in line for line in firewalld.passthroughs(*scope))
    assert firewalld.vm.connects(wire_user.pw_uid)
    assert not firewalld.vm.connects(NOBODY)


def test_removal_leaves_no_passthrough(firewalld: Firewalld, wire_user: pwd.struct_passwd) -> None:
    run(firewall(firewalld).apply(rules(wire_user)))
    seen = run(firewall(firewalld).remove())
    assert seen.found.state == FirewallState.ABSENT
    assert firewalld.passthroughs("--permanent") == firewalld.passthroughs() == []
    assert firewalld.vm.connects(NOBODY)
