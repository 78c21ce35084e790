"""Deprovision (§7.2): the plan's warnings, then every action against the sandbox root."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from waagent.common.errors import Busy
from waagent.common.kvp import GUEST, KvpPool
from waagent.common.root import Root
from waagent.provisioner.models import State
from waagent.provisioner.sshd_config import OLD_DROP_IN_HEADER

from . import samples
from .machine import Machine, config
from .system import passwd_entry

FULL = config(**{"Provisioning.DeleteRootPassword": "y"})
BASE_WARNINGS = [
    "WARNING! The waagent service will be stopped.",
    "WARNING! All SSH host key pairs will be deleted.",
    "WARNING! Cached DHCP leases will be deleted.",
    "WARNING! root password will be disabled. You will not be able to login as root.",
    "WARNING! /etc/resolv.conf will be deleted.",
]
LEFTOVERS = [
    "/root/.bash_history",
    "/var/log/waagent.log",
    "/var/lib/dhcp/dhclient.eth0.leases",
    "/var/lib/NetworkManager/dhclient-abc.lease",
    "/run/systemd/netif/leases/2",
    "/var/log/azure/Some.Extension/handler.log",
    "/var/lib/waagent-wire/TransportPrivate.pem",
    "/lib/systemd/system/waagent-network-setup.service",
    "/lib/systemd/system/walinuxagent.service.d/12-CPUQuota.conf",
    "/lib/systemd/system/azure-walinuxagent-logcollector.slice",
    "/var/lib/waagent/Some.Extension-1.0/config/0.settings",
]


def provisioned(machine: Machine) -> Machine:
    assert asyncio.run(machine.provisioner(FULL).provision()).state == State.PROVISIONED
    for inner in LEFTOVERS:
        machine.path(inner).parent.mkdir(parents=True, exist_ok=True)
        machine.path(inner).write_text("x")
    return machine


def deprovision(machine: Machine, *, delete_user: bool) -> list[str]:
    provisioner = machine.provisioner(FULL)
    warnings = provisioner.plan_deprovision(delete_user)
    asyncio.run(provisioner.deprovision(delete_user))
    assert provisioner.status.state == State.NOT_PROVISIONED
    return warnings


def test_the_plan_warns_in_the_classic_order_and_changes_nothing(machine: Machine) -> None:
    provisioned(machine)
    before = sorted(p for p in machine.root.rglob("*"))
    warnings = machine.provisioner(FULL).plan_deprovision(True)
    assert warnings == [
        *BASE_WARNINGS,
        "WARNING! azureuser account and entire home directory will be deleted.",
    ]
    assert sorted(p for p in machine.root.rglob("*")) == before


def test_deprovision_removes_every_listed_thing_and_keeps_the_user(machine: Machine) -> None:
    provisioned(machine)
    assert deprovision(machine, delete_user=False) == BASE_WARNINGS
    for inner in [*LEFTOVERS, "/etc/resolv.conf"]:
        assert not machine.path(inner).exists(), inner
    assert list(machine.path("/etc/ssh").glob("ssh_host_*")) == []
    assert machine.path("/var/lib/dhcp").is_dir()
    assert list(machine.path("/var/lib/waagent").iterdir()) == []
    assert list(machine.path("/var/log/azure").iterdir()) == []
    assert machine.path("/etc/hostname").read_text() == "localhost.localdomain\n"
    assert machine.path("/etc/shadow").read_text().startswith("root:*LOCK*:14600::::::\n")
    assert passwd_entry(machine.root, "azureuser") is not None
    assert machine.path("/home/azureuser").is_dir()


def test_deprovision_user_deletes_the_user_its_home_and_its_sudoers_line(machine: Machine) -> None:
    provisioned(machine)
    machine.path("/etc/sudoers.d/waagent").chmod(0o640)
    with machine.path("/etc/sudoers.d/waagent").open("a") as f:
        f.write("azureuser2 ALL=(ALL) ALL\n")
    deprovision(machine, delete_user=True)
    assert passwd_entry(machine.root, "azureuser") is None
    assert not machine.path("/home/azureuser").exists()
    assert machine.path("/etc/sudoers.d/waagent").read_text() == "azureuser2 ALL=(ALL) ALL\n"


def test_deprovision_removes_the_sshd_drop_in_of_earlier_versions(machine: Machine) -> None:
    provisioned(machine)
    old = machine.path("/etc/ssh/sshd_config.d/10-waagent.conf")
    old.write_text(f"{OLD_DROP_IN_HEADER}\nPasswordAuthentication no\n")
    deprovision(machine, delete_user=False)
    assert not old.exists()


def test_a_user_provisioned_from_imds_is_found_through_the_record(bare_machine: Machine) -> None:
    bare_machine.wire.imds = (
        '{"compute": {"osProfile": {"adminUsername": "imdsuser", "computerName": "vm"}}}'
    )
    assert asyncio.run(bare_machine.provisioner(FULL).provision()).state == State.PROVISIONED
    assert "WARNING! imdsuser account and entire home directory will be deleted." in deprovision(
        bare_machine, delete_user=True
    )
    assert passwd_entry(bare_machine.root, "imdsuser") is None


def test_without_a_record_of_the_user_none_is_deleted(machine: Machine) -> None:
    warnings = deprovision(machine, delete_user=True)
    assert warnings[-2:] == ["WARNING! ovf-env.xml is not found.", "WARNING! Skip delete user."]


def test_a_system_account_is_never_deleted(machine: Machine) -> None:
    machine.path("/var/lib/waagent/ovf-env.xml").write_bytes(samples.ovf_env(user_name="daemon"))
    warnings = deprovision(machine, delete_user=True)
    assert warnings[-1] == "WARNING! daemon is a system account and will not be deleted."
    assert passwd_entry(machine.root, "daemon") is not None


def test_a_resolv_conf_managed_by_systemd_resolved_is_kept(machine: Machine) -> None:
    machine.path("/etc/resolv.conf").unlink()
    machine.path("/etc/resolv.conf").symlink_to("../run/systemd/resolve/stub-resolv.conf")
    warnings = deprovision(machine, delete_user=False)
    assert "WARNING! /etc/resolv.conf will NOT be removed: systemd-resolved manages it." in warnings
    assert machine.path("/etc/resolv.conf").is_symlink()


def test_with_resolvconf_its_tail_and_original_go_instead(machine: Machine) -> None:
    machine.path("/etc/resolv.conf").unlink()
    machine.path("/etc/resolv.conf").symlink_to("/run/resolvconf/resolv.conf")
    for name in ("tail", "original"):
        machine.path(f"/etc/resolvconf/resolv.conf.d/{name}").parent.mkdir(
            parents=True, exist_ok=True
        )
        machine.path(f"/etc/resolvconf/resolv.conf.d/{name}").write_text("x")
    deprovision(machine, delete_user=False)
    assert machine.path("/etc/resolv.conf").is_symlink()
    assert list(machine.path("/etc/resolvconf/resolv.conf.d").iterdir()) == []


def test_the_agent_is_stopped_through_systemd_when_it_is_on_the_bus(machine: Machine) -> None:
    machine.units.present = True
    deprovision(machine, delete_user=False)
    assert machine.units.stopped == ["waagent-extd.service", "waagent-wire.service"]


def test_a_deprovisioned_vm_is_not_provisioned_again_in_the_same_boot(machine: Machine) -> None:
    provisioned(machine)
    deprovision(machine, delete_user=False)

    async def start() -> tuple[str, bool]:
        provisioner = machine.provisioner(FULL)
        provisioner.prepare()
        return provisioner.status.state, provisioner.busy()

    assert asyncio.run(start()) == (State.NOT_PROVISIONED, False)
    machine.boot_id = "the-next-boot"
    assert asyncio.run(start())[1] is True


def test_deprovision_waits_for_no_one_while_provisioning_runs(machine: Machine) -> None:
    async def both() -> None:
        provisioner = machine.provisioner(FULL)
        provisioner.prepare()
        with pytest.raises(Busy, match="provisioning or deprovisioning is running"):
            await provisioner.deprovision(False)
        await provisioner.wait()

    asyncio.run(both())


def test_leases_directories_are_emptied_not_removed(machine: Machine, tmp_path: Path) -> None:
    leases = machine.path("/var/lib/dhclient")
    (leases / "sub").mkdir(parents=True)
    (leases / "sub/lease").write_text("x")
    deprovision(machine, delete_user=False)
    assert leases.is_dir() and list(leases.iterdir()) == []


def test_deprovision_empties_the_guest_kvp_pool_in_place(machine: Machine) -> None:
    provisioned(machine)
    pool = machine.path("/var/lib/hyperv/.kvp_pool_1")
    inode = pool.stat().st_ino
    assert KvpPool(Root(machine.root), GUEST).read().get("PROVISIONING_REPORT") is not None
    deprovision(machine, delete_user=False)
    assert pool.read_bytes() == b""
    assert pool.stat().st_ino == inode  # the file hv_kvp_daemon holds open and locks
