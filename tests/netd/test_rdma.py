"""RDMA end to end: waagent-rdma on a private bus, wire fetching SharedConfig from the fabric
simulator, netd bus-activated inside a network namespace whose veth interfaces stand for the
RDMA NICs, the host's KVP pool and dat.conf in the sandbox root."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.callers import UNPRIVILEGED
from tests.harness.environment import Environment
from tests.harness.fabric import fabric_for
from waagent.common.names import NETWORK
from waagent.fabric.kvp import ipoib_data, write_host_pool
from waagent.fabric.scenario import Identity, Scenario
from waagent.fabric.server import Fabric

from .netns import missing_for_netns

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing_for_netns() is not None, reason=missing_for_netns() or ""),
]

RDMA_MAC = "00155D33FF1A"  # as SharedConfig gives it
RDMA_IP = "172.16.1.2"
IB_MAC = "00155D33FF1B"
DAT_CONF = (
    'ofa-v2-mlx4_0-1 u2.0 nonthreadsafe default libdaploscm.so.2 dapl.2.0 "mlx4_0 1" ""\n'
    'ofa-v2-ib0 u2.0 nonthreadsafe default libdaplofa.so.2 dapl.2.0 "ib0 0" ""\n'
)
N = (NETWORK.name, NETWORK.path, NETWORK.interface)


def colons(mac: str) -> str:
    return ":".join(mac[i : i + 2] for i in range(0, 12, 2)).lower()


def ip(*argv: str) -> str:
    return subprocess.run(
        ["ip", *argv], check=True, capture_output=True, text=True, timeout=10
    ).stdout


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace with two veth pairs: rdma0 and ib0 carry the RDMA MACs."""
    name = f"wr-{os.getpid()}-{secrets.token_hex(2)}"
    ip("netns", "add", name)
    try:
        for ifname, mac in (("rdma0", RDMA_MAC), ("ib0", IB_MAC)):
            peer = f"{ifname}p"
            ip("-n", name, "link", "add", ifname, "address", colons(mac), "type", "veth",
               "peer", "name", peer)  # fmt: skip
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=10)


def addresses(namespace: str, ifname: str) -> list[str]:
    out = ip("-n", namespace, "-4", "-o", "addr", "show", "dev", ifname)
    return [line.split()[3] for line in out.splitlines()]


@dataclass
class RdmaVm:
    env: Environment
    fabric: Fabric
    namespace: str

    @property
    def root(self) -> Path:
        return self.env.sandbox.root

    def run(self) -> subprocess.CompletedProcess[str]:
        argv = self.env.service_argv("rdma")
        return subprocess.run(
            argv,
            env={**self.env.bus.env(), "PYTHONDONTWRITEBYTECODE": "1"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def rdma_vm(namespace: str, config: dict[str, str]) -> Iterator[RdmaVm]:
    identity = Identity(rdma_mac_address=RDMA_MAC, rdma_ipv4_address=RDMA_IP)
    with fabric_for(None, Scenario(identity=identity)) as fabric:
        env = Environment(polkit=False, config=config, endpoint=fabric.address)
        with env:
            netd = env.service_argv(NETWORK.program)
            ip_tool = shutil.which("ip") or "/usr/sbin/ip"
            env.bus.add_service(NETWORK.name, [ip_tool, "netns", "exec", namespace, *netd])
            yield RdmaVm(env, fabric, namespace)


@pytest.fixture
def vm(namespace: str) -> Iterator[RdmaVm]:
    yield from rdma_vm(namespace, {"OS.EnableRDMA": "y", "OS.CheckRdmaDriver": "y"})


def test_network_direct_gets_dat_conf_the_address_and_the_module_skipped(vm: RdmaVm) -> None:
    write_host_pool(vm.root, {"HostName": "host-17", "NdDriverVersion": "142.0"})
    dat_conf = vm.root / "etc/rdma/dat.conf"
    dat_conf.parent.mkdir(parents=True)
    dat_conf.write_text(DAT_CONF)
    result = vm.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert dat_conf.read_text() == DAT_CONF.replace('"ib0 0"', f'"{RDMA_IP} 0"')
    assert not (vm.root / "etc/dat.conf").exists()
    assert addresses(vm.namespace, "rdma0") == [f"{RDMA_IP}/16"]
    assert addresses(vm.namespace, "ib0") == []
    lines = result.stdout.splitlines()
    assert "dat.conf: done (/etc/rdma/dat.conf)" in lines
    assert f"address: done ({RDMA_IP} on rdma0 ({colons(RDMA_MAC)}))" in lines
    module = next(line for line in lines if line.startswith("module: "))
    assert module.startswith("module: skipped (hv_network_direct is not available: "), module
    assert "not found" in module


def test_sr_iov_gives_each_ipoib_pair_its_address_and_leaves_dat_conf(vm: RdmaVm) -> None:
    pairs = [(RDMA_MAC, "172.16.1.7"), (IB_MAC, "172.16.2.7")]
    write_host_pool(vm.root, {"IPoIB_Data": ipoib_data(pairs)})
    (vm.root / "etc/dat.conf").write_text(DAT_CONF)
    result = vm.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert addresses(vm.namespace, "rdma0") == ["172.16.1.7/16"]
    assert addresses(vm.namespace, "ib0") == ["172.16.2.7/16"]
    assert (vm.root / "etc/dat.conf").read_text() == DAT_CONF
    assert "network direct: skipped (no NdDriverVersion in KVP (SR-IOV))" in result.stdout
    assert vm.fabric.requests() == []  # IPoIB_Data is all it needs: SharedConfig is not asked for


def test_a_second_run_changes_nothing(vm: RdmaVm) -> None:
    write_host_pool(vm.root, {"NdDriverVersion": "142.0"})
    assert vm.run().returncode == 0
    assert vm.run().returncode == 0
    assert addresses(vm.namespace, "rdma0") == [f"{RDMA_IP}/16"]


def test_a_mac_no_interface_has_is_a_failed_step(namespace: str) -> None:
    ip("-n", namespace, "link", "del", "rdma0")
    for vm in rdma_vm(namespace, {"OS.EnableRDMA": "y"}):
        write_host_pool(vm.root, {"NdDriverVersion": "142.0"})
        result = vm.run()
        assert result.returncode == 1
        assert "no interface has the RDMA MAC address 00:15:5d:33:ff:1a" in result.stdout


def test_with_rdma_off_nothing_is_asked_or_changed(namespace: str) -> None:
    for vm in rdma_vm(namespace, {}):
        write_host_pool(vm.root, {"NdDriverVersion": "142.0"})
        result = vm.run()
        assert result.returncode == 0
        assert result.stdout.startswith("rdma: skipped")
        assert addresses(namespace, "rdma0") == []
        assert vm.fabric.requests() == []  # wire was not even asked for SharedConfig


def test_set_rdma_address_is_root_only(vm: RdmaVm) -> None:
    refused = vm.env.busctl.call(*N, "SetRdmaAddress", "ss", RDMA_MAC, RDMA_IP, user=UNPRIVILEGED)
    assert not refused.ok
    assert addresses(vm.namespace, "rdma0") == []
    bad = vm.env.busctl.call(*N, "SetRdmaAddress", "ss", "00155D33FF", RDMA_IP)
    assert "invalid MAC address '00155D33FF'" in bad.error
    done = vm.env.busctl.call(*N, "SetRdmaAddress", "ss", RDMA_MAC, RDMA_IP)
    assert done.ok, done.error
    assert addresses(vm.namespace, "rdma0") == [f"{RDMA_IP}/16"]
