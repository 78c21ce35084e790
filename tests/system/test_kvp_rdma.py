"""Hyper-V KVP in the booted VM: the provisioning report is in the guest pool, and
waagent-rdma.service runs at boot under its sandbox (CAP_SYS_MODULE,
no network) and succeeds with nothing to do; once the host's KVP pool names the VM's NIC in
IPoIB_Data, a restart gives the address through netd, which systemd bus-activates."""

from __future__ import annotations

import json

import pytest

from tests.system.container import missing_tools
from tests.system.vm import provisioned_vm
from waagent.common.kvp import decode
from waagent.fabric.kvp import ipoib_data, write_host_pool

pytestmark = pytest.mark.system
if reason := missing_tools():
    pytestmark = [pytest.mark.system, pytest.mark.skip(reason=reason)]

CONFIG = {"OS.EnableRDMA": "y", "Extensions.GoalStatePeriod": "2", "Services.IdleTimeout": "5"}
ADDRESS = "172.16.9.9"


def test_rdma_runs_at_boot_and_gives_the_ipoib_address_through_netd() -> None:
    with provisioned_vm(CONFIG) as vm:
        # The provisioner's sandbox lets it write the KVP report for the host.
        pool = decode(vm.box.path("/var/lib/hyperv/.kvp_pool_1").read_bytes())
        assert (pool.get("PROVISIONING_REPORT") or "").startswith("result=success|")
        vm.box.wait_unit("waagent-rdma.service", "active", timeout=120)
        assert vm.show("waagent-rdma.service", "Result")["Result"] == "success"
        journal = vm.run("journalctl", "-u", "waagent-rdma.service", "-o", "cat").stdout
        assert "address: skipped (neither SharedConfig nor IPoIB_Data has an address)" in journal
        links = json.loads(vm.run("ip", "-j", "link", "show").stdout)
        nic = next(link for link in links if link.get("link_type") == "ether")
        mac = nic["address"].replace(":", "").upper()
        write_host_pool(vm.box.rootfs, {"IPoIB_Data": ipoib_data([(mac, ADDRESS)])})
        restart = vm.run("systemctl", "restart", "waagent-rdma.service")
        journal = vm.run("journalctl", "-u", "waagent-rdma.service", "-o", "cat").stdout
        assert restart.returncode == 0, restart.stderr + journal
        shown = vm.run("ip", "-4", "-o", "addr", "show", "dev", nic["ifname"]).stdout
        assert f"{ADDRESS}/16" in shown, shown + journal
        assert f"address: done ({ADDRESS} on {nic['ifname']}" in journal
