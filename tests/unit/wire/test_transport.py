from __future__ import annotations

import base64
import stat
from pathlib import Path, PurePosixPath

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from waagent.common.root import Root
from waagent.wire import transport


def test_the_transport_certificate_is_addressable_by_subject_key_identifier(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    creds = transport.create(Root(tmp_path), PurePosixPath("/state"))
    cert = creds.certificate
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    assert cert.subject.rfc4514_string() == "CN=LinuxTransport"
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days >= 730
    assert creds.key.key_size == 2048


def test_the_private_key_is_0600_and_the_header_is_the_base64_der(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    creds = transport.create(Root(tmp_path), PurePosixPath("/state"))
    key_file = tmp_path / "state" / "TransportPrivate.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    der = creds.certificate.public_bytes(serialization.Encoding.DER)
    assert base64.b64decode(creds.header_value) == der
    pem_body = (tmp_path / "state" / "TransportCert.pem").read_text().splitlines()[1:-1]
    assert "".join(pem_body) == creds.header_value
