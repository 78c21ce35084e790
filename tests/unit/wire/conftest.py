"""Cryptographic inputs made by the real openssl, an implementation independent of ours."""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from waagent.wire.transport import TransportCredentials, generate


def openssl(*args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(
        ["openssl", *args], input=input, capture_output=True, check=True, timeout=60
    ).stdout


@dataclass
class Tenant:
    cert: Path
    key: Path

    def sha1(self) -> str:
        out = openssl("x509", "-in", str(self.cert), "-noout", "-fingerprint", "-sha1").decode()
        return out.split("=", 1)[1].strip().replace(":", "")


def make_tenant(directory: Path, name: str) -> Tenant:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    openssl(
        "req",
        "-x509",
        "-nodes",
        "-subj",
        f"/CN={name}",
        "-days",
        "2",
        "-newkey",
        "rsa:2048",
        "-keyout",
        str(key),
        "-out",
        str(cert),
    )
    return Tenant(cert, key)


@pytest.fixture(scope="session")
def transport_creds() -> TransportCredentials:
    return generate()


@pytest.fixture
def transport_files(tmp_path: Path, transport_creds: TransportCredentials) -> Path:
    from cryptography.hazmat.primitives import serialization

    pem = tmp_path / "transport.pem"
    pem.write_bytes(transport_creds.certificate.public_bytes(serialization.Encoding.PEM))
    return pem


def cms_encrypt(
    data: bytes, recipient_pem: Path, *, cipher: str = "-aes128", keyid: bool = True
) -> bytes:
    args = ["cms", "-encrypt", "-binary", cipher, "-outform", "DER"]
    if keyid:
        args.append("-keyid")
    return openssl(*args, str(recipient_pem), input=data)


def certificates_document(data: bytes, fmt: str = "Pkcs7BlobWithPfxContents") -> bytes:
    body = base64.encodebytes(data).decode()
    return (
        '<?xml version="1.0" encoding="utf-8"?><CertificateFile><Version>2012-11-30</Version>'
        f"<Incarnation>1</Incarnation><Format>{fmt}</Format><Data>{body}</Data></CertificateFile>"
    ).encode()


def load(cert: Path, key: Path) -> TransportCredentials:
    return TransportCredentials(
        x509.load_pem_x509_certificate(cert.read_bytes()),
        load_pem_private_key(key.read_bytes(), None),  # type: ignore[arg-type]
    )
