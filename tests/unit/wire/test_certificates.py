from __future__ import annotations

import stat
from pathlib import Path, PurePosixPath

import pytest

from tests.unit.wire.conftest import (
    certificates_document,
    cms_encrypt,
    make_tenant,
    openssl,
)
from waagent.common.root import Root
from waagent.wire import certificates
from waagent.wire.errors import MalformedDocument
from waagent.wire.transport import TransportCredentials


def decrypt(document: bytes, creds: TransportCredentials):  # type: ignore[no-untyped-def]
    return certificates.decrypt_document(document, creds, "openssl")


def test_the_certificates_document_yields_each_certificate_with_its_key(
    tmp_path: Path, transport_creds: TransportCredentials, transport_files: Path
) -> None:
    with_key = make_tenant(tmp_path, "with-key")
    without_key = make_tenant(tmp_path, "without-key")
    pfx = openssl(
        "pkcs12",
        "-export",
        "-passout",
        "pass:",
        "-inkey",
        str(with_key.key),
        "-in",
        str(with_key.cert),
        "-certfile",
        str(without_key.cert),
    )
    document = certificates_document(cms_encrypt(pfx, transport_files, cipher="-des3"))
    certs = {c.thumbprint: c for c in decrypt(document, transport_creds)}
    assert set(certs) == {with_key.sha1(), without_key.sha1()}
    assert certs[with_key.sha1()].private_key_pem is not None
    assert certs[without_key.sha1()].private_key_pem is None


def test_certificates_are_stored_0600_under_their_thumbprint(
    tmp_path: Path, transport_creds: TransportCredentials, transport_files: Path
) -> None:
    tenant = make_tenant(tmp_path, "t")
    pfx = openssl(
        "pkcs12", "-export", "-passout", "pass:", "-inkey", str(tenant.key), "-in", str(tenant.cert)
    )
    certs = decrypt(certificates_document(cms_encrypt(pfx, transport_files)), transport_creds)
    root = tmp_path / "root"
    (root / "state").mkdir(parents=True)
    certificates.store(certs, Root(root), PurePosixPath("/state"))
    thumb = tenant.sha1()
    for name in (f"{thumb}.crt", f"{thumb}.prv", "Certificates.pem"):
        assert stat.S_IMODE((root / "state" / name).stat().st_mode) == 0o600
    # The stored key is the tenant's: openssl agrees on the public key.
    assert openssl("pkey", "-in", str(root / "state" / f"{thumb}.prv"), "-pubout") == openssl(
        "x509", "-in", str(tenant.cert), "-noout", "-pubkey"
    )


def test_a_document_without_data_has_no_certificates(transport_creds: TransportCredentials) -> None:
    document = b"<CertificateFile><Version>2012-11-30</Version></CertificateFile>"
    assert decrypt(document, transport_creds) == []


def test_another_format_is_skipped(transport_creds: TransportCredentials) -> None:
    document = certificates_document(b"whatever", fmt="CertificatesNonPfxPackage")
    assert decrypt(document, transport_creds) == []


def test_certificates_encrypted_to_another_transport_certificate_fail_clearly(
    tmp_path: Path, transport_creds: TransportCredentials
) -> None:
    other = make_tenant(tmp_path, "someone-else")
    document = certificates_document(cms_encrypt(b"pfx", other.cert))
    with pytest.raises(MalformedDocument, match="encrypted to another certificate"):
        decrypt(document, transport_creds)


def test_several_keys_in_pem_are_each_matched_to_their_certificate(tmp_path: Path) -> None:
    a, b = make_tenant(tmp_path, "a"), make_tenant(tmp_path, "b")
    pem = b"".join(p.read_bytes() for p in (b.key, a.cert, a.key, b.cert))
    matched = {c.thumbprint: c for c in certificates.match(certificates.split_pem(pem))}
    assert set(matched) == {a.sha1(), b.sha1()}
    assert all(c.private_key_pem for c in matched.values())


def test_a_standard_pfx_has_one_key_bag(tmp_path: Path) -> None:
    t = make_tenant(tmp_path, "t")
    pfx = openssl(
        "pkcs12", "-export", "-passout", "pass:", "-inkey", str(t.key), "-in", str(t.cert)
    )
    assert certificates.count_key_bags(pfx) == 1
