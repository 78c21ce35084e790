"""The WireServer firewall in the booted VM: in place before the network, unprivileged users
cannot reach 168.63.129.16 while wire's goal-state polls go on, a stale classic rule set is
replaced, and the rules come back after nftables.service flushes the rule set.

The base image has no nft: the test unpacks Debian's nftables packages into the VM's tree (the
VM's own network namespace is the FabricNetwork's, never the host's).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.wait import wait_for
from tests.netd.netns import CLASSIC_NFT
from tests.system.container import CACHE, Container, missing_tools
from tests.system.vm import Vm, booted_vm

pytestmark = pytest.mark.system
if reason := missing_tools():
    pytestmark = [pytest.mark.system, pytest.mark.skip(reason=reason)]

NFT_PACKAGES = ("nftables", "libnftables1", "libnftnl11", "libjansson4")
WIRESERVER = "168.63.129.16"
CONFIG = {"Extensions.GoalStatePeriod": "2", "Services.IdleTimeout": "5"}
PROBE = (
    "import socket, sys\n"
    "try: socket.create_connection(('168.63.129.16', int(sys.argv[1])), timeout=2).close()\n"
    "except OSError as e: print(e); sys.exit(1)\n"
)


def nft_debs() -> list[Path]:
    """Debian's nftables and its libraries, downloaded once next to the base image."""
    where = CACHE / "netd-debs"
    where.mkdir(parents=True, exist_ok=True)
    missing = [p for p in NFT_PACKAGES if not list(where.glob(f"{p}_*.deb"))]
    if missing:
        subprocess.run(
            ["apt-get", "download", *missing],
            cwd=where,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return [next(where.glob(f"{p}_*.deb")) for p in NFT_PACKAGES]


def install_nft_and_a_known_endpoint(box: Container) -> None:
    for deb in nft_debs():
        # Through tar, keeping the image's /lib -> usr/lib links (dpkg-deb -x would replace them).
        files = subprocess.run(
            ["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True, timeout=60
        ).stdout
        subprocess.run(
            ["tar", "-x", "--keep-directory-symlink", "-C", str(box.rootfs)],
            input=files, check=True, timeout=60,
        )  # fmt: skip
    subprocess.run(["ldconfig", "-r", str(box.rootfs)], check=True, timeout=60)
    # As a previous boot left it: the endpoint wire found, in the classic file.
    lib = box.path("/var/lib/waagent")
    lib.mkdir(mode=0o700, parents=True, exist_ok=True)
    (lib / "WireServerEndpoint").write_text(WIRESERVER)


@pytest.fixture(scope="module")
def vm() -> Iterator[Vm]:
    with booted_vm(CONFIG, before_boot=install_nft_and_a_known_endpoint) as booted:
        yield booted


def reaches(vm: Vm, user: str, port: int = 80) -> bool:
    who = (
        []
        if user == "root"
        else ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    )
    return vm.run(*who, "python3", "-c", PROBE, str(port)).returncode == 0


def polls(vm: Vm) -> int:
    return sum(
        1 for r in vm.fabric.client.requests() if r.endpoint == "goalstate" and r.status == 200
    )


def wire_keeps_polling(vm: Vm) -> None:
    seen = polls(vm)
    wait_for(lambda: polls(vm) >= seen + 2, timeout=30, what="two more goal-state polls by wire")


def tables(vm: Vm) -> list[str]:
    listed = vm.run("nft", "list", "tables").stdout.splitlines()
    return [line.split()[-1] for line in listed if line.startswith("table ip ")]


def test_the_rules_are_in_place_before_the_network(vm: Vm) -> None:
    assert vm.show("waagent-network-setup.service", "ActiveState")["ActiveState"] == "active"
    setup = vm.show("waagent-network-setup.service", "ActiveEnterTimestampMonotonic")
    network_pre = vm.show("network-pre.target", "ActiveEnterTimestampMonotonic")
    assert (
        0
        < int(setup["ActiveEnterTimestampMonotonic"])
        <= int(network_pre["ActiveEnterTimestampMonotonic"])
    )
    ruleset = vm.run("nft", "list", "ruleset").stdout
    assert "table ip waagent" in ruleset
    assert f"ip daddr {WIRESERVER} tcp dport != 53" in ruleset


def test_nobody_cannot_reach_the_wireserver_while_wire_polls(vm: Vm) -> None:
    assert not reaches(vm, "nobody")
    assert reaches(vm, "root")
    wire_keeps_polling(vm)


def test_waagent_status_shows_the_firewall(vm: Vm) -> None:
    result = vm.run("waagent", "status", "--json")
    assert result.returncode == 0, result.stderr
    services = {s["name"]: s for s in json.loads(result.stdout)["services"]}
    properties = services["org.waagent.Network1"]["properties"]
    assert properties["FirewallState"] == "present"
    assert properties["Backend"] == "nftables"
    assert properties["Endpoint"] == WIRESERVER


def test_a_stale_classic_rule_set_is_replaced_when_the_endpoint_is_written(vm: Vm) -> None:
    vm.run("nft", "delete", "table", "ip", "waagent")
    loaded = vm.box.run(["nft", "-f", "-"], input=CLASSIC_NFT)
    assert loaded.returncode == 0, loaded.stderr
    assert not reaches(vm, "waagent-wire"), "the classic rules let root only through"
    # The endpoint file written again as extd writes it (a temporary file renamed into place):
    # the path unit runs the setup.
    lib = "/var/lib/waagent"
    vm.run(
        "sh", "-c", f"printf {WIRESERVER} > {lib}/.new && mv {lib}/.new {lib}/WireServerEndpoint"
    )
    wait_for(lambda: tables(vm) == ["waagent"], timeout=30, what="the classic table replaced")
    assert reaches(vm, "waagent-wire")
    assert not reaches(vm, "nobody")
    wire_keeps_polling(vm)


@pytest.mark.parametrize("verb", ["restart", "reload"])
def test_the_rules_come_back_after_nftables_flushes_the_rule_set(vm: Vm, verb: str) -> None:
    result = vm.run("systemctl", verb, "nftables.service")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: tables(vm) == ["waagent"], timeout=30, what=f"our table after {verb}")
    # done (a reload while the unit still runs would be merged into that run)
    vm.box.wait_unit("waagent-network-setup.service", "active")
    assert not reaches(vm, "nobody")
