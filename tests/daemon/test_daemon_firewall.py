"""`waagent -daemon` sets up the WireServer firewall as the boot and refresh units do under
systemd: before the services start, and again when the endpoint file gets a new address. For
real, with nft, in a VM network namespace (the host's rule set is never touched)."""

from __future__ import annotations

import asyncio
import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.system import CliSystem, cli_system, installed_services
from tests.harness.paths import PYTHON
from tests.harness.wait import wait_for
from tests.netd import conftest as netd_fixtures
from tests.netd.conftest import NOBODY, write_passwd
from tests.netd.netns import VmNetwork, missing_for_netns, vm_network
from waagent.daemon.firewall import DaemonFirewall, setup_command

pytestmark = pytest.mark.skipif(missing_for_netns() is not None, reason=missing_for_netns() or "")

WIRESERVER = "168.63.129.16"
LIB = Path("var/lib/waagent")


# The wire service's user, made for the session (netd's fixture).
wire_user = netd_fixtures.wire_user


@pytest.fixture
def vm() -> Iterator[VmNetwork]:
    with vm_network() as network:
        yield network


def sandbox(root: Path, wire_uid: int, endpoint: str | None) -> Path:
    write_passwd(root, wire_uid)
    (root / "etc" / "waagent.conf").write_text("OS.EnableFirewall=y\n")
    (root / LIB).mkdir(parents=True, mode=0o700)
    if endpoint is not None:
        (root / LIB / "WireServerEndpoint").write_text(endpoint)
    return root


def daemon_firewall(root: Path, vm: VmNetwork) -> DaemonFirewall:
    argv, env = setup_command(root, root / "etc" / "waagent.conf", verbose=False)
    return DaemonFirewall(argv, env, root / LIB, vm.runner)


def ruleset(vm: VmNetwork) -> str:
    return vm.exec("nft", "list", "table", "ip", "waagent", check=False).stdout


def test_at_start_the_rules_for_the_known_endpoint_are_in_place(
    tmp_path: Path, vm: VmNetwork, wire_user: pwd.struct_passwd
) -> None:
    firewall = daemon_firewall(sandbox(tmp_path, wire_user.pw_uid, WIRESERVER), vm)
    asyncio.run(firewall.setup())
    assert f"ip daddr {WIRESERVER}" in ruleset(vm)
    assert not vm.connects(NOBODY)
    assert vm.connects(wire_user.pw_uid)


def test_with_no_endpoint_known_yet_nothing_is_set_up(
    tmp_path: Path, vm: VmNetwork, wire_user: pwd.struct_passwd
) -> None:
    asyncio.run(daemon_firewall(sandbox(tmp_path, wire_user.pw_uid, None), vm).setup())
    assert vm.nft_tables() == []


def test_a_new_endpoint_written_later_gets_the_rules_again(
    tmp_path: Path, vm: VmNetwork, wire_user: pwd.struct_passwd
) -> None:
    root = sandbox(tmp_path, wire_user.pw_uid, None)
    firewall = daemon_firewall(root, vm)

    async def scenario() -> str:
        await firewall.setup()
        with firewall.watch():
            # As wire's files are written: a temporary file renamed into place.
            new = root / LIB / ".WireServerEndpoint.new"
            new.write_text(WIRESERVER)
            os.rename(new, root / LIB / "WireServerEndpoint")
            for _ in range(3000):  # up to 60 s for the watch to fire
                if firewall.pending is not None:
                    break
                await asyncio.sleep(0.02)
            await firewall.settled()
        return ruleset(vm)

    assert f"ip daddr {WIRESERVER}" in asyncio.run(scenario())
    assert not vm.connects(NOBODY)


@pytest.fixture
def daemon_system() -> Iterator[CliSystem]:
    with cli_system({"OS.EnableFirewall": "y"}) as system:
        yield system


def test_the_daemon_puts_the_rules_in_place_before_any_service_starts(
    daemon_system: CliSystem, vm: VmNetwork, wire_user: pwd.struct_passwd
) -> None:
    system = daemon_system
    write_passwd(system.root, wire_user.pw_uid)
    (system.root / LIB).mkdir(parents=True, exist_ok=True)
    (system.root / LIB / "WireServerEndpoint").write_text(WIRESERVER)
    with open(system.env.base / "daemon-netns.out", "wb") as out:
        daemon = subprocess.Popen(
            ["ip", "netns", "exec", vm.network.vm_ns, PYTHON, "-m", "waagent.cli", "-daemon",
             f"-root:{system.root}"],
            env=system.environ(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    system.daemons.append(daemon)
    system.wait_up(installed_services())

    assert "table ip waagent" in ruleset(vm)
    lines = system.log_text().splitlines()
    firewall = next(i for i, line in enumerate(lines) if "WireServer firewall for" in line)
    first_up = next(i for i, line in enumerate(lines) if " is up (pid " in line)
    assert firewall < first_up, lines
    wait_for(lambda: not vm.connects(NOBODY), what="nobody kept from the WireServer")
