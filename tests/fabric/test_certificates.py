"""Tenant certificates and protected settings decrypt with the real openssl (reference §3)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from waagent.fabric.scenario import CertificateSpec, Extension, RemoteUser, Scenario
from waagent.fabric.server import Fabric

from .helpers import H1, Agentish, Transport, openssl, parse

pytestmark = pytest.mark.usefixtures("needs_openssl")


@pytest.fixture
def scenario() -> Scenario:
    default = Scenario.default()
    return default.model_copy(
        update={
            "certificates": [
                CertificateSpec(name="tenant"),
                CertificateSpec(name="ssh", key_type="ec"),
            ],
            "remote_access": [RemoteUser(name="jit", password="Jit-Pässword-1")],
        }
    )


def decrypt_certificates(body: bytes, transport: Transport, tmp_path: Path) -> str:
    """What the classic agent does: wrap <Data> as S/MIME, openssl cms, then openssl pkcs12."""
    document = parse(body)
    assert document.findtext("Format") == "Pkcs7BlobWithPfxContents"
    data = (document.findtext("Data") or "").strip()  # as served: base64 in lines
    p7m = tmp_path / "Certificates.p7m"
    p7m.write_text(
        "MIME-Version:1.0\n"
        f'Content-Disposition: attachment; filename="{p7m}"\n'
        f'Content-Type: application/x-pkcs7-mime; name="{p7m}"\n'
        "Content-Transfer-Encoding: base64\n\n" + data + "\n"
    )
    pfx = tmp_path / "Certificates.pfx"
    cms = openssl("cms", "-decrypt", "-in", str(p7m), "-inkey", str(transport.key_path),
                  "-recip", str(transport.cert_path), "-out", str(pfx))  # fmt: skip
    assert cms.returncode == 0, cms.stderr.decode()
    pem = openssl("pkcs12", "-nodes", "-password", "pass:", "-in", str(pfx))
    assert pem.returncode == 0, pem.stderr.decode()
    return pem.stdout.decode()


def thumbprints(pem: str) -> set[str]:
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S)
    ders = [x509.load_pem_x509_certificate(b.encode()).public_bytes(Encoding.DER) for b in blocks]
    return {hashlib.sha1(der).hexdigest().upper() for der in ders}


@pytest.mark.parametrize("cipher", ["AES128_CBC", "DES_EDE3_CBC"])
def test_certificates_decrypt_with_the_transport_key_into_the_scenarios_certificates(
    agent: Agentish, fabric: Fabric, transport: Transport, tmp_path: Path, cipher: str
) -> None:
    response = agent.certificates(transport, cipher)
    assert response.status_code == 200, response.text
    pem = decrypt_certificates(response.content, transport, tmp_path)
    expected = fabric.tenant_certificates()
    assert thumbprints(pem) == set(expected)
    assert pem.count("PRIVATE KEY-----") == 2 * len(expected)  # every certificate has its key
    assert {entry["name"] for entry in expected.values()} == {"tenant", "ssh"}


def test_certificates_recipient_is_the_transport_subject_key_identifier(
    agent: Agentish, transport: Transport, tmp_path: Path
) -> None:
    data = "".join((parse(agent.certificates(transport).content).findtext("Data") or "").split())
    der = tmp_path / "certs.der"
    der.write_bytes(base64.b64decode(data))
    printed = openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", str(der)).stdout.decode()
    ski = transport.certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value.digest
    assert "d.subjectKeyIdentifier" in printed
    assert b"\x80\x14" + ski in der.read_bytes()  # rid [0] IMPLICIT SubjectKeyIdentifier
    assert "aes-128-cbc" in printed


def test_certificates_need_the_transport_certificate_header(agent: Agentish) -> None:
    response = agent.get(agent.urls()["Certificates"], H1)
    assert response.status_code == 400
    assert "x-ms-guest-agent-public-x509-cert" in response.text


def test_the_fabric_remembers_the_transport_certificate_the_agent_sent(
    agent: Agentish, fabric: Fabric, transport: Transport
) -> None:
    assert fabric.transport_certificate() is None
    agent.certificates(transport)
    assert fabric.transport_certificate() == transport.cert_path.read_text()


def test_protected_settings_decrypt_with_the_tenant_certificate_as_extensions_do(
    agent: Agentish, fabric: Fabric, tmp_path: Path
) -> None:
    runtime = agent.extensions_config().findtext("PluginSettings/Plugin/RuntimeSettings") or ""
    handler = json.loads(runtime)["runtimeSettings"][0]["handlerSettings"]
    tenant = fabric.tenant_certificates()[handler["protectedSettingsCertThumbprint"]]
    (tmp_path / "t.crt").write_text(tenant["certificate"])
    (tmp_path / "t.prv").write_text(tenant["key"])
    decrypted = openssl("smime", "-inform", "DER", "-decrypt", "-recip", str(tmp_path / "t.crt"),
                        "-inkey", str(tmp_path / "t.prv"),
                        stdin=base64.b64decode(handler["protectedSettings"]))  # fmt: skip
    assert decrypted.returncode == 0, decrypted.stderr.decode()
    assert json.loads(decrypted.stdout) == {"secret": "fabric-protected-value"}


def test_protected_settings_stay_the_same_within_an_incarnation(agent: Agentish) -> None:
    first = agent.document("ExtensionsConfig").content
    assert agent.document("ExtensionsConfig").content == first


def test_remote_access_passwords_decrypt_as_utf16_with_the_transport_key(
    agent: Agentish, transport: Transport, tmp_path: Path
) -> None:
    url = agent.goal_state().findtext("Container/RemoteAccessInfo")
    assert url
    headers = {
        **H1,
        "x-ms-guest-agent-public-x509-cert": transport.header,
        "x-ms-cipher-name": "AES128_CBC",
    }
    document = parse(agent.get(url, headers).content)
    user = document.find("Users/User")
    assert user is not None and user.findtext("Name") == "jit"
    decrypted = openssl("cms", "-decrypt", "-inform", "DER", "-inkey", str(transport.key_path),
                        stdin=base64.b64decode(user.findtext("Password") or ""))  # fmt: skip
    assert decrypted.returncode == 0, decrypted.stderr.decode()
    assert decrypted.stdout.decode("utf-16") == "Jit-Pässword-1"


def test_a_scenario_without_certificates_has_no_certificates_url() -> None:
    from tests.harness.fabric import fabric_for

    bare = Scenario(extensions=[Extension(name="A.B", version="1.0")])
    with fabric_for(None, bare) as running:
        agent = Agentish(running)
        assert "Certificates" not in agent.urls()
        agent.close()


def test_a_certificate_added_mid_run_is_served_without_a_new_incarnation(
    agent: Agentish, fabric: Fabric, transport: Transport, tmp_path: Path
) -> None:
    incarnation = agent.goal_state().findtext("Incarnation")
    assert fabric.add_certificate("rotated", key_size=2048) == ["tenant", "ssh", "rotated"]
    assert agent.goal_state().findtext("Incarnation") == incarnation
    pem = decrypt_certificates(agent.certificates(transport).content, transport, tmp_path)
    expected = fabric.tenant_certificates()
    assert thumbprints(pem) == set(expected) and len(expected) == 3
    with pytest.raises(ValueError, match="must be unique"):
        fabric.add_certificate("rotated")  # names stay unique
