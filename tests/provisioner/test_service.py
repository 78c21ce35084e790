"""org.waagent.Provisioner1 end to end: real bus, real polkitd, real wire, the fabric simulator.

The service is bus-activated with the simulated VM's /dev (the DVD image as sr0) and sysfs
(product_uuid); everything it changes is in the sandbox root, and the fabric records what wire
reported for it.
"""

from __future__ import annotations

import contextlib
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.callers import UNPRIVILEGED
from tests.harness.wait import wait_for
from waagent.common.names import PROVISIONER
from waagent.provisioner import password

from . import samples
from .standins import standins
from .system import OLD_HOST_KEY, passwd_entry, shadow_hash
from .vm import HOSTNAME, KEY_PAIR, Vm, simulated_vm

pytestmark = pytest.mark.integration

KILLED_RENAMING_HOSTNAME = Path(__file__).with_name("killed_renaming_hostname.py")


@pytest.fixture
def vm(tmp_path: Path) -> Iterator[Vm]:
    with simulated_vm(tmp_path) as simulated:
        yield simulated


def provisioned(vm: Vm) -> Vm:
    """Start the service the way a boot does (any call activates it), wait for the outcome."""
    assert vm.prop("State", user=UNPRIVILEGED) in ("Provisioning", "Provisioned")
    assert vm.wait_state("Provisioned", "Failed") == "Provisioned", vm.prop("FailureReason")
    return vm


def test_the_vm_is_provisioned_at_start_and_the_fabric_sees_provisioning_then_ready(vm: Vm) -> None:
    host_name = socket.gethostname()
    provisioned(vm)
    assert vm.health() == [("NotReady", "Provisioning"), ("Ready", "")]
    assert (vm.prop("ProvisionedUser"), vm.prop("Source"), vm.prop("FailureReason")) == (
        "azureuser",
        "ovf",
        "",
    )
    assert vm.prop("LastRun") > 0
    assert socket.gethostname() == host_name
    assert vm.path("/etc/hostname").read_text() == f"{HOSTNAME}\n"


def test_the_user_exists_with_the_hashed_password(vm: Vm) -> None:
    provisioned(vm)
    entry = passwd_entry(vm.root, "azureuser")
    assert entry is not None and entry[5] == "/home/azureuser"
    hashed = shadow_hash(vm.root, "azureuser")
    assert hashed is not None and hashed.startswith("$6$")
    salt = hashed.split("$")[2]
    assert len(salt) == 10
    rehashed = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", salt, samples.PASSWORD],
        capture_output=True,
        text=True,
        check=True,
    )
    assert rehashed.stdout.strip() == hashed
    assert password.verify(samples.PASSWORD, hashed)
    assert samples.PASSWORD.encode() not in vm.path("/var/lib/waagent/ovf-env.xml").read_bytes()


def test_authorized_keys_holds_exactly_the_keys_with_owner_and_modes(vm: Vm) -> None:
    provisioned(vm)
    entry = passwd_entry(vm.root, "azureuser")
    assert entry is not None
    uid = int(entry[2])
    (value_key, cert_key) = vm.fabric.scenario.provisioning.ssh_public_keys
    cert = next(iter(vm.fabric.tenant_certificates().values()))
    expected_cert_key = subprocess.run(
        ["ssh-keygen", "-i", "-m", "PKCS8", "-f", "/dev/stdin"],
        input=_public_pem(cert["certificate"]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    keys = vm.path(samples.AUTHORIZED_KEYS)
    assert keys.read_text() == f"{value_key.value}\n{expected_cert_key}\n"
    for path, mode in (
        (keys, 0o600),
        (keys.parent, 0o700),
        (vm.path(KEY_PAIR), 0o600),
        (vm.path(KEY_PAIR + ".pub"), 0o644),
    ):
        st = path.stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid) == (mode, uid), path
    assert vm.path(KEY_PAIR).read_text() == cert["key"]
    assert cert_key.certificate == "ssh"


def _public_pem(certificate_pem: str) -> str:
    return subprocess.run(
        ["openssl", "x509", "-pubkey", "-noout"],
        input=certificate_pem,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_sudoers_sshd_host_keys_and_the_marker_are_right(vm: Vm) -> None:
    provisioned(vm)
    sudoers = vm.path("/etc/sudoers.d/waagent")
    assert sudoers.read_text() == "azureuser ALL=(ALL) ALL\n"
    assert stat.S_IMODE(sudoers.stat().st_mode) == 0o440
    sshd_config = vm.path("/etc/ssh/sshd_config").read_text()
    assert sshd_config.endswith("PasswordAuthentication no\nClientAliveInterval 180\n")
    host_keys = sorted(p.name for p in vm.path("/etc/ssh").glob("ssh_host_*"))
    assert host_keys == ["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"]
    assert vm.path("/etc/ssh/ssh_host_ed25519_key").read_text() != OLD_HOST_KEY
    assert vm.path("/var/lib/waagent/provisioned").read_text().lower() == samples.VM_ID
    assert vm.path("/etc/shadow").read_text().startswith("root:*LOCK*:14600::::::\n")


def test_the_service_exits_when_idle_and_shows_the_same_state_when_activated_again(vm: Vm) -> None:
    provisioned(vm)
    first = vm.pid()
    vm.gone()
    assert vm.prop("State") == "Provisioned"
    assert vm.pid() != first
    assert vm.health() == [("NotReady", "Provisioning"), ("Ready", "")]


def test_a_killed_and_restarted_service_provisions_once(tmp_path: Path) -> None:
    started, release = tmp_path / "custom-data-started", tmp_path / "custom-data-release"
    script = f"#!/bin/sh\necho start >> {started}\nwhile [ ! -e {release} ]; do sleep 0.05; done\n"
    with simulated_vm(
        tmp_path / "vm", config={"Provisioning.ExecuteCustomData": "y"}, custom_data=script
    ) as vm:
        assert vm.prop("State") == "Provisioning"
        wait_for(started.exists, timeout=60, what="custom data to start")
        vm.kill()
        release.touch()
        provisioned(vm)
        passwd = vm.path("/etc/passwd").read_text().splitlines()
        assert sum(1 for line in passwd if line.startswith("azureuser:")) == 1
        assert vm.path("/etc/sudoers.d/waagent").read_text() == "azureuser ALL=(ALL) ALL\n"
        assert len(vm.path(samples.AUTHORIZED_KEYS).read_text().splitlines()) == 2
        assert vm.health() == [
            ("NotReady", "Provisioning"),
            ("NotReady", "Provisioning"),
            ("Ready", ""),
        ]


def test_a_kill_during_the_hostname_write_leaves_no_temporary_file_once_restarted(
    tmp_path: Path,
) -> None:
    with simulated_vm(tmp_path / "vm") as vm:
        roots = ("--dev-root", str(vm.dev), "--sysfs-root", str(vm.sysfs))
        vm.env.bus.add_service(
            PROVISIONER.name, vm.env.service_argv_script(KILLED_RENAMING_HOSTNAME, *roots)
        )
        with contextlib.suppress(AssertionError):  # the call may meet the service dying
            vm.prop("State")
        vm.gone()
        temporaries = list(vm.path("/etc").glob(".#hostname.*.tmp"))
        assert [p.read_text() for p in temporaries] == [f"{HOSTNAME}\n"]
        assert vm.path("/etc/hostname").read_text() == "debian\n"

        vm.env.make_activatable(PROVISIONER, *roots)
        provisioned(vm)
        assert list(vm.path("/etc").glob(".#*")) == []
        assert vm.path("/etc/hostname").read_text() == f"{HOSTNAME}\n"


def test_without_a_dvd_imds_is_the_source(tmp_path: Path) -> None:
    with simulated_vm(tmp_path, dvd=False) as vm:
        provisioned(vm)
        assert vm.prop("Source") == "imds"
        assert passwd_entry(vm.root, "azureuser") is not None
        assert shadow_hash(vm.root, "azureuser") in ("!", "*", "!*")  # IMDS has no password


def test_a_failed_run_reports_the_reason_and_provision_runs_again(tmp_path: Path) -> None:
    with simulated_vm(tmp_path, user_name="bad;name", ssh_public_keys=[], key_pairs=[]) as vm:
        assert vm.wait_state("Provisioned", "Failed", timeout=60) == "Failed"
        reason = vm.prop("FailureReason")
        assert "invalid user name 'bad;name'" in reason
        wait_for(
            lambda: ("NotReady", "ProvisioningFailed") in vm.health(),
            timeout=30,
            what="the failure report",
        )
        assert vm.fabric.records("health")[-1]["description"] == reason
        refused = vm.call("Provision", user=UNPRIVILEGED)
        assert "only root may call org.waagent.Provisioner1.Provision" in refused.error
        again = vm.call("Provision")
        assert not again.ok and "provisioning failed: invalid user name" in again.error


def test_hostnamed_and_systemd_on_the_bus_are_used(vm: Vm) -> None:
    with standins(vm.env.address) as (hostname1, systemd1):
        provisioned(vm)
    assert hostname1.calls == [("SetStaticHostname", HOSTNAME), ("SetHostname", HOSTNAME)]
    assert ("TryReloadOrRestartUnit", "ssh.service", "ignore-dependencies") in systemd1.calls
    assert ("GetUnitFileState", "cloud-init-local.service") in systemd1.calls
    assert vm.path("/etc/hostname").read_text() == "debian\n"


def test_anyone_may_plan_a_deprovision(vm: Vm) -> None:
    provisioned(vm)
    reply = vm.call("PlanDeprovision", "b", "true", user=UNPRIVILEGED)
    assert reply.ok, reply.error
    assert (
        reply.data[0][-1] == "WARNING! azureuser account and entire home directory will be deleted."
    )


@pytest.mark.parametrize(
    ("delete_user", "action"),
    [("false", "org.waagent.deprovision"), ("true", "org.waagent.deprovision-user")],
)
def test_deprovision_by_an_unprivileged_caller_is_refused_by_polkit(
    vm: Vm, delete_user: str, action: str
) -> None:
    provisioned(vm)
    reply = vm.call("Deprovision", "b", delete_user, user=UNPRIVILEGED)
    assert not reply.ok
    assert f"({action})" in reply.error and "needs authentication" in reply.error
    interactive = vm.call("Deprovision", "b", delete_user, user=UNPRIVILEGED, interactive=True)
    assert f"not authorized for {action}" in interactive.error
    assert vm.path("/var/lib/waagent/provisioned").exists()
    assert passwd_entry(vm.root, "azureuser") is not None


def test_deprovision_by_root_removes_what_the_classic_agent_removes(vm: Vm) -> None:
    provisioned(vm)
    vm.path("/root/.bash_history").write_text("history")
    reply = vm.call("Deprovision", "b", "false")
    assert reply.ok, reply.error
    assert vm.prop("State") == "NotProvisioned"
    assert list(vm.path("/var/lib/waagent").iterdir()) == []
    assert list(vm.path("/etc/ssh").glob("ssh_host_*")) == []
    assert list(vm.path("/var/lib/dhcp").iterdir()) == []
    for inner in ("/etc/resolv.conf", "/root/.bash_history", "/var/log/waagent.log"):
        assert not vm.path(inner).exists(), inner
    assert vm.path("/etc/hostname").read_text() == "localhost.localdomain\n"
    assert passwd_entry(vm.root, "azureuser") is not None
    vm.gone()
    assert vm.prop("State") == "NotProvisioned"  # not provisioned again in this boot


def test_deprovision_user_by_root_also_removes_the_user_and_home(vm: Vm) -> None:
    provisioned(vm)
    reply = vm.call("Deprovision", "b", "true")
    assert reply.ok, reply.error
    assert passwd_entry(vm.root, "azureuser") is None
    assert not vm.path("/home/azureuser").exists()
    assert vm.path("/etc/sudoers.d/waagent").read_text() == ""
