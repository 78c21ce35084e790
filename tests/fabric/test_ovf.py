"""Provisioning media: ovf-env.xml per reference §6.1, in a real UDF image (issue 3, item 4)."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from pathlib import Path

import pycdlib
import pytest

from waagent.fabric.scenario import CertificateSpec, KeyPair, Provisioning, Scenario, SshPublicKey
from waagent.fabric.server import Fabric

from .helpers import parse

OVF = "{http://schemas.dmtf.org/ovf/environment/1}"
WA = "{http://schemas.microsoft.com/windowsazure}"


@pytest.fixture
def scenario() -> Scenario:
    provisioning = Provisioning(
        user_name="builder",
        password="S3cret&<pass>",
        ssh_public_keys=[
            SshPublicKey(
                path="/home/builder/.ssh/authorized_keys", value="ssh-ed25519 AAAAC3Nza builder"
            ),
            SshPublicKey(path="/home/builder/.ssh/authorized_keys", certificate="ssh"),
        ],
        key_pairs=[KeyPair(path="/home/builder/.ssh/id_rsa", certificate="ssh")],
        custom_data="#cloud-config\nruncmd: [echo hi]\n",
        disable_ssh_password_authentication=False,
        provision_guest_agent=False,
    )
    return Scenario.default().model_copy(
        update={
            "provisioning": provisioning,
            "certificates": [CertificateSpec(name="tenant"), CertificateSpec(name="ssh")],
        }
    )


def test_ovf_env_carries_the_scenario_in_the_azure_namespaces(fabric: Fabric) -> None:
    document = parse(fabric.ovf_env().encode())
    assert document.tag == f"{OVF}Environment"
    section = document.find(f"{WA}ProvisioningSection")
    assert section is not None and section.findtext(f"{WA}Version") == "1.0"
    linux = section.find(f"{WA}LinuxProvisioningConfigurationSet")
    assert linux is not None
    assert linux.findtext(f"{WA}HostName") == fabric.scenario.identity.hostname
    assert linux.findtext(f"{WA}UserName") == "builder"
    assert linux.findtext(f"{WA}UserPassword") == "S3cret&<pass>"
    assert linux.findtext(f"{WA}DisableSshPasswordAuthentication") == "false"
    assert (
        base64.b64decode(linux.findtext(f"{WA}CustomData") or "")
        == b"#cloud-config\nruncmd: [echo hi]\n"
    )
    keys = linux.findall(f"{WA}SSH/{WA}PublicKeys/{WA}PublicKey")
    assert keys[0].findtext(f"{WA}Value") == "ssh-ed25519 AAAAC3Nza builder"
    ssh_thumbprint = next(t for t, c in fabric.tenant_certificates().items() if c["name"] == "ssh")
    assert keys[1].findtext(f"{WA}Fingerprint") == ssh_thumbprint
    assert keys[1].find(f"{WA}Value") is None
    pair = linux.find(f"{WA}SSH/{WA}KeyPairs/{WA}KeyPair")
    assert pair is not None and pair.findtext(f"{WA}Fingerprint") == ssh_thumbprint
    platform = document.find(f"{WA}PlatformSettingsSection/{WA}PlatformSettings")
    assert platform is not None and platform.findtext(f"{WA}ProvisionGuestAgent") == "false"


def test_ovf_env_declares_namespaces_as_azure_writes_them(fabric: Fabric) -> None:
    text = fabric.ovf_env()
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    assert '<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:oe=' in text
    assert 'xmlns:wa="http://schemas.microsoft.com/windowsazure"' in text
    assert "<wa:ProvisioningSection>" in text
    assert (
        '<LinuxProvisioningConfigurationSet xmlns="http://schemas.microsoft.com/windowsazure"'
        in text
    )


def test_the_ovf_image_is_udf_and_ovf_env_reads_back(fabric: Fabric, tmp_path: Path) -> None:
    image = Path(fabric.write_ovf_image(tmp_path / "ovf.iso"))
    reader = pycdlib.PyCdlib()
    reader.open(str(image))
    try:
        assert reader.has_udf()
        content = io.BytesIO()
        reader.get_file_from_iso_fp(content, udf_path="/ovf-env.xml")
    finally:
        reader.close()
    assert content.getvalue().decode() == fabric.ovf_env()
    if shutil.which("blkid") is None:
        pytest.skip("blkid (util-linux) is not installed")
    probe = subprocess.run(
        ["blkid", "-p", "-o", "export", str(image)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "TYPE=udf" in probe.stdout.splitlines()


def test_7zip_extracts_ovf_env_from_the_image(fabric: Fabric, tmp_path: Path) -> None:
    seven = shutil.which("7zz") or shutil.which("7z")
    if seven is None:
        pytest.skip("no 7-Zip (Debian package 7zip) to read UDF without the kernel")
    image = fabric.write_ovf_image(tmp_path / "ovf.iso")
    subprocess.run(
        [seven, "x", "-tudf", f"-o{tmp_path / 'out'}", image],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert (tmp_path / "out" / "ovf-env.xml").read_text() == fabric.ovf_env()
