"""Bad input from the fabric: each is refused with a clear ProvisioningFailed reason, and the
sandbox tree is exactly as it was (only the provisioner's own record notes the failure)."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest

from waagent.common.errors import Failed
from waagent.common.kvp import GUEST, KvpPool
from waagent.common.root import Root
from waagent.provisioner.models import State

from . import samples
from .machine import Machine, config
from .tree import changes, snapshot

LONG_NAME = "a" * 33


def refused(machine: Machine, **kw: object) -> str:
    """Run; assert it failed, reported ProvisioningFailed and changed nothing. The reason."""
    before = snapshot(machine.root)
    provisioner = machine.provisioner(**kw)  # type: ignore[arg-type]
    with pytest.raises(Failed):
        asyncio.run(provisioner.provision())
    assert provisioner.status.state == State.FAILED
    assert changes(before, snapshot(machine.root)) == []
    state, substatus, reason = machine.wire.reports[-1]
    assert (state, substatus) == ("NotReady", "ProvisioningFailed")
    assert reason == provisioner.status.failure_reason
    assert ("NotReady", "Provisioning", "Starting") not in machine.wire.reports
    report = KvpPool(Root(machine.root), GUEST).read().get("PROVISIONING_REPORT")
    assert report is not None and report.startswith("result=error|"), report
    return reason


def with_user(name: str) -> bytes:
    return samples.ovf_env(
        user_name=name,
        ssh_public_keys=[
            samples.SshPublicKey(path=f"/home/{name}/.ssh/authorized_keys", value=samples.ssh_key())
        ],
    )


@pytest.mark.parametrize(
    "name",
    ["bad;rm -rf", "evil$(id)", "back`tick`", "two words", "-oops", "9digits", LONG_NAME],
    ids=[
        "semicolon",
        "command-substitution",
        "backtick",
        "space",
        "leading-dash",
        "leading-digit",
        "33-chars",
    ],
)
def test_a_bad_user_name_is_refused(machine: Machine, name: str) -> None:
    machine.insert_dvd(with_user(name))
    assert "invalid user name" in refused(machine)


def test_a_system_account_is_refused_without_allow_reset_sys_user(machine: Machine) -> None:
    machine.insert_dvd(with_user("daemon"))
    reason = refused(machine)
    assert "'daemon' is a system account" in reason
    assert "Provisioning.AllowResetSysUser=y" in reason


def test_a_system_account_is_provisioned_with_allow_reset_sys_user(machine: Machine) -> None:
    machine.insert_dvd(samples.ovf_env(user_name="sys", ssh_public_keys=[]))
    provisioner = machine.provisioner(config(**{"Provisioning.AllowResetSysUser": "y"}))
    assert asyncio.run(provisioner.provision()).state == State.PROVISIONED


@pytest.mark.parametrize(
    "path",
    [
        "$HOME/../../etc/cron.d/x",
        "/etc/cron.d/x",
        "/home/azureuser/../other/.ssh/authorized_keys",
        "/home/azureuser",
        ".ssh/authorized_keys",
    ],
    ids=[
        "dotdot-from-home",
        "absolute-elsewhere",
        "dotdot-to-a-sibling",
        "the-home-itself",
        "relative",
    ],
)
def test_a_key_path_outside_the_home_is_refused(machine: Machine, path: str) -> None:
    machine.insert_dvd(
        samples.ovf_env(ssh_public_keys=[samples.SshPublicKey(path=path, value=samples.ssh_key())])
    )
    reason = refused(machine)
    assert "key path" in reason and path in reason


def existing_user(machine: Machine) -> os.stat_result:
    subprocess.run(
        ["useradd", "--root", str(machine.root), "-m", "-d", "/home/azureuser", "azureuser"],
        check=True,
    )
    return os.stat(machine.path("/home/azureuser"))


def test_a_symlinked_directory_inside_the_home_pointing_out_is_refused(machine: Machine) -> None:
    existing_user(machine)
    machine.path("/etc/cron.d").mkdir()
    machine.path("/home/azureuser/.ssh").symlink_to("/etc/cron.d")
    reason = refused(machine)
    assert reason == "/home/azureuser/.ssh is a symlink; refusing to follow it"


def test_a_symlinked_authorized_keys_pointing_out_is_refused(machine: Machine) -> None:
    existing_user(machine)
    machine.path("/home/azureuser/.ssh").mkdir(mode=0o700)
    machine.path("/home/azureuser/.ssh/authorized_keys").symlink_to("../../../etc/shadow")
    assert "authorized_keys is a symlink" in refused(machine)


def test_an_authorized_keys_hard_linked_to_another_file_is_refused(machine: Machine) -> None:
    existing_user(machine)
    machine.path("/home/azureuser/.ssh").mkdir(mode=0o700)
    os.link(machine.path("/etc/shadow"), machine.path("/home/azureuser/.ssh/authorized_keys"))
    assert "has other hard links" in refused(machine)


@pytest.mark.parametrize(
    "value",
    [
        "not a key",
        "ssh-rsa !!!not-base64!!!",
        "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7",  # an ssh-rsa blob under another name
        "-----BEGIN PUBLIC KEY-----",
        "ssh-rsa",
    ],
    ids=["words", "bad-base64", "type-mismatch", "pem", "type-only"],
)
def test_a_key_value_that_is_not_an_ssh_key_is_refused(machine: Machine, value: str) -> None:
    machine.insert_dvd(
        samples.ovf_env(
            ssh_public_keys=[samples.SshPublicKey(path=samples.AUTHORIZED_KEYS, value=value)]
        )
    )
    assert f"the public key for {samples.AUTHORIZED_KEYS} is not an SSH public key" in refused(
        machine
    )


@pytest.mark.parametrize(
    "hostname",
    ["bad_host", "-leading", "trailing-", "two..dots", "sp ace", "x" * 64 + ".long", "semi;colon"],
)
def test_an_invalid_hostname_is_refused(machine: Machine, hostname: str) -> None:
    machine.insert_dvd(samples.ovf_env(hostname=hostname))
    assert "invalid hostname" in refused(machine)


def test_custom_data_that_is_not_base64_is_refused_when_decoding_is_on(machine: Machine) -> None:
    document = samples.replace_text(samples.ovf_env(custom_data="x"), "CustomData", "not*base64!")
    machine.insert_dvd(document)
    reason = refused(machine, cfg=config(**{"Provisioning.DecodeCustomData": "y"}))
    assert "custom data is not valid base64" in reason


def test_custom_data_that_is_not_base64_is_kept_as_is_when_decoding_is_off(
    machine: Machine,
) -> None:
    machine.insert_dvd(
        samples.replace_text(samples.ovf_env(custom_data="x"), "CustomData", "not*base64!")
    )
    assert asyncio.run(machine.provisioner().provision()).state == State.PROVISIONED
    assert machine.path("/var/lib/waagent/CustomData").read_text() == "not*base64!"


def test_an_xml_bomb_is_refused_without_expanding_it(machine: Machine) -> None:
    machine.insert_dvd(samples.XML_BOMB)
    assert "declares a DTD" in refused(machine)


def test_an_external_entity_is_refused(machine: Machine) -> None:
    document = samples.ovf_env().replace(
        b'<?xml version="1.0" encoding="utf-8"?>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/shadow">]>',
    )
    machine.insert_dvd(document.replace(b"<HostName>testvm", b"<HostName>&e;"))
    assert "declares a DTD" in refused(machine)


def test_a_document_that_is_not_xml_is_refused(machine: Machine) -> None:
    machine.insert_dvd(b"<Environment><unclosed>")
    assert "not well-formed XML" in refused(machine)


@pytest.mark.parametrize(
    "tag",
    [
        "HostName",
        "UserName",
        "ProvisionGuestAgent",
        "LinuxProvisioningConfigurationSet",
        "PlatformSettingsSection",
    ],
)
def test_a_missing_required_element_is_refused_with_its_name(machine: Machine, tag: str) -> None:
    machine.insert_dvd(samples.drop(samples.ovf_env(), tag))
    reason = refused(machine)
    assert (
        reason.startswith("Failed to validate OVF:")
        and tag in reason
        and reason.endswith("not found")
    )


def test_an_empty_provision_guest_agent_is_refused(machine: Machine) -> None:
    machine.insert_dvd(samples.replace_text(samples.ovf_env(), "ProvisionGuestAgent", ""))
    assert refused(machine) == "Failed to validate OVF: wa:ProvisionGuestAgent not found"


def test_missing_media_is_refused_naming_what_was_looked_for(bare_machine: Machine) -> None:
    (bare_machine.dev / "sda").touch()
    reason = refused(bare_machine)
    assert "no provisioning media: no DVD device in" in reason
    assert "seen: sda" in reason
    assert "IMDS: IMDS does not answer" in reason


def test_unreadable_media_is_refused_with_the_reader_s_reasons(bare_machine: Machine) -> None:
    (bare_machine.dev / "sr0").write_bytes(b"\0" * 65536)
    reason = refused(bare_machine)
    assert reason.startswith("provisioning media unreadable:")
    assert "is not a readable UDF/ISO9660 image" in reason
    assert "kernel mount of" in reason


def test_a_key_pair_without_its_certificate_is_refused(machine: Machine) -> None:
    machine.insert_dvd(
        samples.ovf_env(
            key_pairs=[
                samples.KeyPair(path="/home/azureuser/.ssh/id_rsa", fingerprint="ABCDEF0123")
            ]
        )
    )
    assert (
        refused(machine)
        == "no tenant certificate with thumbprint ABCDEF0123 for /home/azureuser/.ssh/id_rsa"
    )
