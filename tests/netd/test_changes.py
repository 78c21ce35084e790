"""Changes of the firewall from several processes, for real in a VM namespace: concurrent runs
of the boot setup (nftables.service's reload racing the refresh unit) all succeed and leave one
rule set; a setup waits while another change holds the lock; and a running netd's properties
follow a change the boot setup made behind its back."""

from __future__ import annotations

import fcntl
import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.environment import Environment
from tests.harness.paths import PYTHON
from tests.harness.wait import wait_for
from waagent.common.names import NETWORK
from waagent.netd.changes import LOCK_FILE

from . import test_bus
from .conftest import NOBODY, write_passwd
from .netns import VmNetwork, missing_for_netns
from .test_bus import WIRESERVER, prop
from .test_firewall_netns import put_classic_rules

# The private bus with netd activatable in the VM namespace.
system = test_bus.system

pytestmark = pytest.mark.skipif(missing_for_netns() is not None, reason=missing_for_netns() or "")


@pytest.fixture
def root(tmp_path: Path, wire_user: pwd.struct_passwd) -> Path:
    write_passwd(tmp_path, wire_user.pw_uid)
    (tmp_path / "etc" / "waagent.conf").write_text("OS.EnableFirewall=y\n")
    return tmp_path


def boot_setup(vm: VmNetwork, root: Path) -> subprocess.Popen[str]:
    """What waagent-network-setup.service (and its reload) runs, in the VM's namespace."""
    argv = [PYTHON, "-m", "waagent.netd", f"--setup-firewall={WIRESERVER}", "--root", str(root)]
    return subprocess.Popen(
        ["ip", "netns", "exec", vm.network.vm_ns, *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.fixture
def held_lock(root: Path) -> Iterator[int]:
    path = root / str(LOCK_FILE).lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield fd
    os.close(fd)


def test_concurrent_setups_all_succeed_and_leave_one_rule_set(
    vm: VmNetwork, wire_user: pwd.struct_passwd, root: Path
) -> None:
    # Classic rules in iptables: each setup deletes them, which fails for the second of two
    # that both saw them.
    put_classic_rules(vm, "iptables")
    runs = [boot_setup(vm, root) for _ in range(4)]
    results = [(run.wait(timeout=120), run.stderr.read() if run.stderr else "") for run in runs]

    assert [code for code, _ in results] == [0, 0, 0, 0], results
    # (iptables-nft keeps its rules in a table "security")
    assert [table for table in vm.nft_tables() if "waagent" in table] == ["waagent"]
    assert vm.iptables_rules() == []
    assert not vm.connects(NOBODY)
    assert vm.connects(wire_user.pw_uid)


def test_a_setup_waits_while_another_change_holds_the_lock(
    vm: VmNetwork, root: Path, held_lock: int
) -> None:
    run = boot_setup(vm, root)
    assert run.stderr is not None
    said = run.stderr.readline()
    assert "waiting for another change of the WireServer firewall" in said, said
    assert vm.nft_tables() == [], "changed while another change was under way"

    fcntl.flock(held_lock, fcntl.LOCK_UN)
    assert run.wait(timeout=120) == 0, run.stderr.read()
    assert vm.nft_tables() == ["waagent"]


def test_netd_s_properties_follow_a_change_the_boot_setup_made(
    system: Environment, vm: VmNetwork
) -> None:
    assert prop(system, "FirewallState") == "absent"
    netd = system.busctl.call(
        "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
        "GetConnectionUnixProcessID", "s", NETWORK.name,
    )  # fmt: skip
    assert netd.ok, netd.error

    setup = boot_setup(vm, system.sandbox.root)
    assert setup.wait(timeout=120) == 0, setup.stderr.read() if setup.stderr else ""

    wait_for(lambda: prop(system, "FirewallState") == "present", what="FirewallState=present")
    assert prop(system, "Endpoint") == WIRESERVER
    again = system.busctl.call(
        "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
        "GetConnectionUnixProcessID", "s", NETWORK.name,
    )  # fmt: skip
    assert again.ok and again.data == netd.data, "the same netd process, not a new activation"
