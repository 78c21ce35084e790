"""Keys by value and by certificate fingerprint, key pairs: owner, modes, no duplicates."""

from __future__ import annotations

import asyncio
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from waagent.fabric.tenant import TenantCertificate
from waagent.provisioner.models import State
from waagent.provisioner.ssh_keys import SshKeyError, parse_public_key

from . import samples
from .machine import Machine
from .system import passwd_entry


def test_a_key_line_is_normalized_to_one_line() -> None:
    key = samples.ssh_key("a comment")
    kind, _, line = parse_public_key(f"  {key}\n", "x")
    assert (kind, line) == ("ssh-ed25519", key)


def test_a_truncated_blob_is_not_a_key() -> None:
    with pytest.raises(SshKeyError):
        parse_public_key("ssh-ed25519 AAAA", "x")


def provision(machine: Machine) -> None:
    assert asyncio.run(machine.provisioner().provision()).state == State.PROVISIONED


def provision_with_certificate(machine: Machine, **provisioning: Any) -> TenantCertificate:
    """Provision from a DVD whose keys name the tenant certificate wire hands over."""
    cert = samples.tenant()
    machine.wire.certs = [samples.certificate(cert)]
    machine.insert_dvd(samples.ovf_env(certificates=[cert], **provisioning))
    provision(machine)
    return cert


def test_a_key_given_by_fingerprint_is_the_certificate_s_key_in_openssh_form(
    machine: Machine,
) -> None:
    key = samples.SshPublicKey(path=samples.AUTHORIZED_KEYS, certificate="tenant")
    cert = provision_with_certificate(machine, ssh_public_keys=[key])
    line = machine.path(samples.AUTHORIZED_KEYS).read_text().strip()
    pub = machine.path(f"/var/lib/waagent/{cert.thumbprint}.pub")
    assert stat.S_IMODE(pub.stat().st_mode) == 0o600
    converted = subprocess.run(
        ["ssh-keygen", "-i", "-m", "PKCS8", "-f", str(pub)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert line == converted.stdout.strip()
    assert machine.path(f"/var/lib/waagent/{cert.thumbprint}.crt").exists()


def test_a_key_pair_is_deployed_owned_by_the_user_private_0600_public_0644(
    machine: Machine,
) -> None:
    pair = samples.KeyPair(path="/home/azureuser/.ssh/id_rsa", certificate="tenant")
    cert = provision_with_certificate(machine, key_pairs=[pair])
    entry = passwd_entry(machine.root, "azureuser")
    assert entry is not None
    private, public = (
        machine.path("/home/azureuser/.ssh/id_rsa"),
        machine.path("/home/azureuser/.ssh/id_rsa.pub"),
    )
    assert (stat.S_IMODE(private.stat().st_mode), stat.S_IMODE(public.stat().st_mode)) == (
        0o600,
        0o644,
    )
    assert private.stat().st_uid == public.stat().st_uid == int(entry[2])
    assert private.read_text() == samples.certificate(cert).private_key_pem
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(private)], capture_output=True, text=True, check=True
    )
    assert derived.stdout.split()[0] == "ssh-rsa"


def test_certificates_are_fetched_only_when_a_key_needs_one(machine: Machine) -> None:
    provision(machine)
    assert machine.wire.certificate_calls == 0


def test_keys_already_authorized_are_kept_and_not_repeated(machine: Machine) -> None:
    mine, theirs = samples.ssh_key("mine"), samples.ssh_key("theirs")
    subprocess.run(
        ["useradd", "--root", str(machine.root), "-m", "-d", "/home/azureuser", "azureuser"],
        check=True,
    )
    keys = machine.path(samples.AUTHORIZED_KEYS)
    keys.parent.mkdir()
    keys.write_text(f"{theirs}\n# a comment\n{mine.rsplit(' ', 1)[0]} renamed\n")
    machine.insert_dvd(
        samples.ovf_env(
            ssh_public_keys=[samples.SshPublicKey(path=samples.AUTHORIZED_KEYS, value=mine)]
        )
    )
    provision(machine)
    assert keys.read_text() == f"{theirs}\n# a comment\n{mine.rsplit(' ', 1)[0]} renamed\n"


def test_two_keys_for_the_same_file_are_both_written(machine: Machine) -> None:
    first, second = samples.ssh_key("one"), samples.ssh_key("two")
    machine.insert_dvd(
        samples.ovf_env(
            ssh_public_keys=[
                samples.SshPublicKey(path="$HOME/azureuser/.ssh/authorized_keys", value=first),
                samples.SshPublicKey(path=samples.AUTHORIZED_KEYS, value=second),
            ]
        )
    )
    provision(machine)
    assert machine.path(samples.AUTHORIZED_KEYS).read_text() == f"{first}\n{second}\n"


def test_a_deeper_key_path_gets_0700_directories_owned_by_the_user(machine: Machine) -> None:
    path = "/home/azureuser/a/b/keys"
    machine.insert_dvd(
        samples.ovf_env(ssh_public_keys=[samples.SshPublicKey(path=path, value=samples.ssh_key())])
    )
    provision(machine)
    entry = passwd_entry(machine.root, "azureuser")
    assert entry is not None
    for inner in ("/home/azureuser/a", "/home/azureuser/a/b"):
        st = machine.path(inner).stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o700, int(entry[2]))


def test_no_temporary_file_is_left_beside_a_key(machine: Machine) -> None:
    provision(machine)
    assert sorted(p.name for p in Path(machine.path("/home/azureuser/.ssh")).iterdir()) == [
        "authorized_keys"
    ]
