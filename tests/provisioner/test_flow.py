"""The whole provisioning run against a sandbox machine, with fakes only for the bus peers."""

from __future__ import annotations

import asyncio
import contextlib
import stat
import subprocess

import pytest

from waagent.common.errors import Failed
from waagent.provisioner import password
from waagent.provisioner.flow import Provisioner
from waagent.provisioner.models import State
from waagent.provisioner.state import BOOT_NOTE

from . import samples
from .fakes import FakeHostnamed
from .machine import Machine, config
from .system import passwd_entry, shadow_hash


def run(machine: Machine, **kw: object) -> State:
    provisioner = machine.provisioner(**kw)  # type: ignore[arg-type]
    with contextlib.suppress(Failed):
        asyncio.run(provisioner.provision())
    return provisioner.status.state


def test_a_fresh_vm_is_provisioned_from_the_dvd_and_reported_ready(machine: Machine) -> None:
    key = samples.ssh_key("me@laptop")
    machine.insert_dvd(
        samples.ovf_env(
            password=samples.PASSWORD,
            ssh_public_keys=[samples.SshPublicKey(path=samples.AUTHORIZED_KEYS, value=key)],
        )
    )
    provisioner = machine.provisioner()
    status = asyncio.run(provisioner.provision())
    assert status.state == State.PROVISIONED
    assert (status.user, status.source, status.failure_reason) == ("azureuser", "ovf", "")
    assert machine.wire.reports == [("NotReady", "Provisioning", "Starting"), ("Ready", "", "")]
    entry = passwd_entry(machine.root, "azureuser")
    assert entry is not None and entry[5] == "/home/azureuser"
    hashed = shadow_hash(machine.root, "azureuser")
    assert hashed is not None and hashed.startswith("$6$")
    assert password.verify(samples.PASSWORD, hashed)
    keys = machine.path(samples.AUTHORIZED_KEYS)
    assert keys.read_text() == key + "\n"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.parent.stat().st_mode) == 0o700
    assert keys.stat().st_uid == int(entry[2]) == keys.parent.stat().st_uid
    assert machine.path("/etc/sudoers.d/waagent").read_text() == "azureuser ALL=(ALL) ALL\n"
    assert machine.path("/etc/hostname").read_text() == "testvm\n"
    assert machine.path("/var/lib/waagent/provisioned").read_text() == samples.VM_ID.upper()


def test_the_saved_ovf_env_has_no_password_and_is_0600(machine: Machine) -> None:
    machine.insert_dvd(samples.ovf_env(password=samples.PASSWORD))
    assert run(machine) == State.PROVISIONED
    saved = machine.path("/var/lib/waagent/ovf-env.xml")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert samples.PASSWORD.encode() not in saved.read_bytes()
    assert b"<UserPassword>*</UserPassword>" in saved.read_bytes()


def test_a_second_run_changes_nothing_and_reports_nothing(machine: Machine) -> None:
    first = machine.provisioner()
    assert asyncio.run(first.provision()).state == State.PROVISIONED
    before = {p: p.read_bytes() for p in machine.root.rglob("*") if p.is_file()}
    reports = list(machine.wire.reports)
    second = machine.provisioner()
    assert asyncio.run(second.provision()) == first.status  # LastRun included
    after = {p: p.read_bytes() for p in machine.root.rglob("*") if p.is_file()}
    assert after == before
    assert machine.wire.reports == reports


def test_the_boot_note_keeps_a_restarted_service_from_running_again(machine: Machine) -> None:
    async def start() -> tuple[State, bool]:
        provisioner = machine.provisioner()
        provisioner.prepare()
        shown, ran = provisioner.status.state, provisioner.busy()
        await provisioner.wait()
        assert provisioner.status.state == State.PROVISIONED
        return shown, ran

    assert asyncio.run(start()) == (State.PROVISIONING, True)  # this boot had not run: it ran
    assert machine.path(str(BOOT_NOTE)).exists()
    assert asyncio.run(start()) == (State.PROVISIONED, False)  # shown, not run again
    assert len(machine.wire.reports) == 2


def settled_at_each_report(machine: Machine, provisioner: Provisioner) -> list[bool]:
    """Whether the unit had told systemd it started (sshd may start) at each health report."""
    seen: list[bool] = []
    report = machine.wire.report_health

    async def watched(state: str, substatus: str, description: str) -> None:
        seen.append(provisioner.settled.is_set())
        await report(state, substatus, description)

    machine.wire.report_health = watched  # type: ignore[method-assign]
    return seen


def test_the_unit_counts_as_started_once_the_local_work_is_done(machine: Machine) -> None:
    """READY=1 (the `settled` gate): after the user, keys and sshd settings, before the Ready
    report; at once when this boot ran already."""

    async def boot() -> tuple[bool, list[bool]]:
        provisioner = machine.provisioner()
        seen = settled_at_each_report(machine, provisioner)
        provisioner.prepare()
        at_start = provisioner.settled.is_set()
        await provisioner.wait()
        assert provisioner.settled.is_set()
        return at_start, seen

    # NotReady/Provisioning goes out before the steps; Ready after them.
    assert asyncio.run(boot()) == (False, [False, True])
    assert asyncio.run(boot()) == (True, [])  # this boot ran: nothing to wait for


def test_a_failed_run_lets_the_units_after_it_start_before_it_reports(machine: Machine) -> None:
    failing = machine.provisioner()
    seen = settled_at_each_report(machine, failing)
    wants = machine.path("/etc/systemd/system/cloud-init.target.wants")
    wants.mkdir(parents=True)
    (wants / "cloud-init-local.service").symlink_to("/lib/systemd/system/cloud-init-local.service")
    with contextlib.suppress(Failed):
        asyncio.run(failing.provision())
    assert failing.status.state == State.FAILED
    assert seen == [True]  # NotReady/ProvisioningFailed


def test_no_password_means_nopasswd_sudo(machine: Machine) -> None:
    assert run(machine) == State.PROVISIONED
    assert (
        machine.path("/etc/sudoers.d/waagent").read_text() == "azureuser ALL=(ALL) NOPASSWD: ALL\n"
    )
    assert stat.S_IMODE(machine.path("/etc/sudoers.d/waagent").stat().st_mode) == 0o440


def test_host_keys_are_regenerated(machine: Machine) -> None:
    old = machine.path("/etc/ssh/ssh_host_rsa_key").read_text()
    assert run(machine) == State.PROVISIONED
    keys = sorted(p.name for p in machine.path("/etc/ssh").glob("ssh_host_*"))
    assert keys == ["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"]
    assert machine.path("/etc/ssh/ssh_host_ed25519_key").read_text() != old
    assert "root@testvm" in machine.path("/etc/ssh/ssh_host_ed25519_key.pub").read_text()


def test_sshd_settings_are_edited_into_sshd_config_itself(machine: Machine) -> None:
    assert run(machine) == State.PROVISIONED
    text = machine.path("/etc/ssh/sshd_config").read_text()
    assert "PasswordAuthentication no\n" in text
    assert "KbdInteractiveAuthentication no\n" in text
    assert "ClientAliveInterval 180\n" in text
    assert list(machine.path("/etc/ssh/sshd_config.d").iterdir()) == []


def test_sshd_is_restarted_through_systemd_when_it_is_on_the_bus(machine: Machine) -> None:
    machine.units.present = True
    assert run(machine) == State.PROVISIONED
    assert machine.units.restarted == ["ssh.service"]


def test_the_hostname_goes_through_hostnamed_when_it_is_on_the_bus(machine: Machine) -> None:
    machine.hostnamed.present = True
    assert run(machine) == State.PROVISIONED
    assert machine.hostnamed.names == ["testvm"]
    assert machine.path("/etc/hostname").read_text() == "debian\n"  # hostnamed's job


class HostnamedAfterTheUser(FakeHostnamed):
    """A hostnamed that answers only once the account steps are past the user: a run that set
    the name before them (the classic order) would never finish."""

    def __init__(self) -> None:
        super().__init__(present=True)
        self.user_done = asyncio.Event()

    async def set_hostname(self, name: str) -> bool:
        await self.user_done.wait()
        return await super().set_hostname(name)


def test_the_account_steps_do_not_wait_for_the_hostname(machine: Machine) -> None:
    hostnamed = machine.hostnamed = HostnamedAfterTheUser()
    provisioner = machine.provisioner()
    # The step after the user and its password.
    provisioner.step_listeners.append(
        lambda name: hostnamed.user_done.set() if name == "sudoers" else None
    )

    async def provision() -> State:
        # A deadlock guard, not a figure: sequential steps would wait here forever.
        return (await asyncio.wait_for(provisioner.provision(), 60)).state

    assert asyncio.run(provision()) == State.PROVISIONED
    assert hostnamed.names == ["testvm"]
    assert passwd_entry(machine.root, "azureuser") is not None
    assert machine.wire.reports[-1] == ("Ready", "", "")


class BrokenHostnamed(FakeHostnamed):
    async def set_hostname(self, name: str) -> bool:
        raise Failed("hostnamed refused the name")


def test_a_hostname_that_cannot_be_set_fails_the_run_with_its_reason(machine: Machine) -> None:
    machine.hostnamed = BrokenHostnamed()
    provisioner = machine.provisioner()
    with pytest.raises(Failed):
        asyncio.run(provisioner.provision())
    assert provisioner.status.state == State.FAILED
    assert "hostnamed refused the name" in provisioner.status.failure_reason
    assert not machine.path("/var/lib/waagent/provisioned").exists()
    state, substatus, reason = machine.wire.reports[-1]
    assert (state, substatus) == ("NotReady", "ProvisioningFailed")
    assert "hostnamed refused the name" in reason


class SilentHostnamed(FakeHostnamed):
    """A hostnamed that never answers."""

    def __init__(self) -> None:
        super().__init__(present=True)
        self.asked = asyncio.Event()

    async def set_hostname(self, name: str) -> bool:
        self.asked.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_a_run_cancelled_while_hostnamed_is_silent_ends_without_a_failure(
    machine: Machine,
) -> None:
    hostnamed = machine.hostnamed = SilentHostnamed()
    provisioner = machine.provisioner()

    async def stop_mid_run() -> None:
        running = asyncio.ensure_future(provisioner.provision())
        await hostnamed.asked.wait()
        # What a stopping service does; a deadlock guard, not a figure.
        await asyncio.wait_for(provisioner.jobs.cancel(), 60)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    asyncio.run(stop_mid_run())
    assert provisioner.status.state != State.FAILED
    assert all(
        state != "NotReady" or sub != "ProvisioningFailed" for state, sub, _ in machine.wire.reports
    )
    assert not machine.path("/var/lib/waagent/provisioned").exists()


def test_the_hostname_is_published_through_dhclient(machine: Machine) -> None:
    assert run(machine) == State.PROVISIONED
    dhclient = machine.path("/etc/dhcp/dhclient.conf").read_text()
    # The image sends gethostname() already, which is the new name: left as it is.
    assert "send host-name = gethostname();" in dhclient
    assert machine.path("/var/lib/waagent/published_hostname").read_text() == "testvm"


def test_provision_guest_agent_false_writes_disable_agent(machine: Machine) -> None:
    machine.insert_dvd(samples.ovf_env(provision_guest_agent=False))
    assert run(machine) == State.PROVISIONED
    assert machine.path("/var/lib/waagent/disable_agent").read_bytes() == b""


def test_root_password_is_locked_when_configured(machine: Machine) -> None:
    assert run(machine, cfg=config(**{"Provisioning.DeleteRootPassword": "y"})) == State.PROVISIONED
    shadow = machine.path("/etc/shadow")
    assert shadow.read_text().splitlines()[0] == "root:*LOCK*:14600::::::"
    assert sum(1 for line in shadow.read_text().splitlines() if line.startswith("root:")) == 1
    assert stat.S_IMODE(shadow.stat().st_mode) == 0o640


def test_custom_data_is_saved_raw_by_default(machine: Machine) -> None:
    machine.insert_dvd(samples.ovf_env(custom_data="#cloud-config\n"))
    assert run(machine) == State.PROVISIONED
    saved = machine.path("/var/lib/waagent/CustomData")
    assert saved.read_text() == "I2Nsb3VkLWNvbmZpZwo="
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600


def test_custom_data_is_decoded_and_executed_once(machine: Machine) -> None:
    marker = machine.base / "ran"
    machine.insert_dvd(samples.ovf_env(custom_data=f"#!/bin/sh\necho run >> {marker}\n"))
    cfg = config(**{"Provisioning.ExecuteCustomData": "y"})
    assert run(machine, cfg=cfg) == State.PROVISIONED
    assert marker.read_text() == "run\n"
    machine.path(str(BOOT_NOTE)).unlink()
    machine.path("/var/lib/waagent/provisioned").unlink()
    assert run(machine, cfg=cfg) == State.PROVISIONED
    assert marker.read_text() == "run\n"


def test_imds_is_the_source_when_there_is_no_dvd(bare_machine: Machine) -> None:
    key = samples.ssh_key()
    bare_machine.wire.imds = (
        '{"compute": {"osProfile": {"adminUsername": "imdsuser", "computerName": "imdsvm",'
        ' "disablePasswordAuthentication": "true"},'
        f' "publicKeys": [{{"keyData": "{key}", "path": "/home/imdsuser/.ssh/authorized_keys"}}]}}}}'
    )
    provisioner = bare_machine.provisioner()
    status = asyncio.run(provisioner.provision())
    assert (status.state, status.source, status.user) == (State.PROVISIONED, "imds", "imdsuser")
    assert bare_machine.path("/home/imdsuser/.ssh/authorized_keys").read_text() == key + "\n"
    assert not bare_machine.path("/var/lib/waagent/ovf-env.xml").exists()


def test_disabled_provisioning_writes_the_marker_and_reports_ready_only(machine: Machine) -> None:
    assert run(machine, cfg=config(**{"Provisioning.Agent": "disabled"})) == State.PROVISIONED
    assert machine.wire.reports == [("Ready", "", "")]
    assert passwd_entry(machine.root, "azureuser") is None
    assert machine.path("/var/lib/waagent/provisioned").exists()


def test_waagent_refuses_to_provision_when_cloud_init_is_enabled(machine: Machine) -> None:
    wants = machine.path("/etc/systemd/system/cloud-init.target.wants")
    wants.mkdir(parents=True)
    (wants / "cloud-init-local.service").symlink_to("/lib/systemd/system/cloud-init-local.service")
    assert run(machine) == State.FAILED
    assert machine.wire.reports[-1][1] == "ProvisioningFailed"
    assert "cloud-init appears to be installed and enabled" in machine.wire.reports[-1][2]


def test_cloud_init_mode_waits_for_its_results_then_reports_ready(machine: Machine) -> None:
    machine.path("/var/lib/waagent/ovf-env.xml").write_bytes(samples.ovf_env())
    for suffix in ("", ".pub"):
        machine.path(f"/etc/ssh/ssh_host_rsa_key{suffix}").unlink()
    key = machine.path("/etc/ssh/ssh_host_rsa_key")
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "rsa", "-f", str(key)], check=True)
    cfg = config(**{"Provisioning.Agent": "cloud-init", "Provisioning.SshHostKeyPairType": "rsa"})
    assert run(machine, cfg=cfg) == State.PROVISIONED
    assert machine.wire.reports == [("NotReady", "Provisioning", "Starting"), ("Ready", "", "")]
    assert passwd_entry(machine.root, "azureuser") is None  # cloud-init's job


def test_cloud_init_mode_fails_when_cloud_init_never_writes_ovf_env(machine: Machine) -> None:
    assert run(machine, cfg=config(**{"Provisioning.Agent": "cloud-init"})) == State.FAILED
    assert "cloud-init did not provide ovf-env.xml" in machine.wire.reports[-1][2]


def test_a_failed_ready_report_is_repeated_by_the_next_start(machine: Machine) -> None:
    machine.wire.reachable = False
    assert run(machine) == State.PROVISIONED
    machine.wire.reachable = True
    assert run(machine) == State.PROVISIONED
    assert machine.wire.reports == [("Ready", "", "")]
    assert run(machine) == State.PROVISIONED
    assert machine.wire.reports == [("Ready", "", "")]


def test_a_new_instance_id_cleans_the_old_vms_state_and_reports_ready(machine: Machine) -> None:
    assert run(machine) == State.PROVISIONED
    for name in ("SharedConfig.xml", "GoalState.3.xml", "published_hostname"):
        machine.path(f"/var/lib/waagent/{name}").write_text("old")
    machine.path("/var/lib/waagent/provisioned").write_text("00000000-1111-2222-3333-444444444444")
    assert run(machine) == State.PROVISIONED
    for name in ("SharedConfig.xml", "GoalState.3.xml", "published_hostname"):
        assert not machine.path(f"/var/lib/waagent/{name}").exists()
    assert machine.path("/var/lib/waagent/provisioned").read_text() == samples.VM_ID.upper()
    assert machine.wire.reports[-1] == ("Ready", "", "")


@pytest.mark.parametrize("kind", ["rsa", "ecdsa", "ed25519"])
def test_each_configured_host_key_type_is_generated(machine: Machine, kind: str) -> None:
    assert (
        run(machine, cfg=config(**{"Provisioning.SshHostKeyPairType": kind})) == State.PROVISIONED
    )
    assert (
        machine.path(f"/etc/ssh/ssh_host_{kind}_key.pub")
        .read_text()
        .startswith({"rsa": "ssh-rsa", "ecdsa": "ecdsa-sha2", "ed25519": "ssh-ed25519"}[kind])
    )
