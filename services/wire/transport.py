"""The transport certificate (§3.1): how the fabric encrypts secrets to this VM.

Regenerated at every start, like the classic agent at every protocol detection: RSA 2048,
self-signed, CN=LinuxTransport, 730 days, SHA-256, and a SubjectKeyIdentifier, because the
WireServer names the CMS recipient by it. The private key is written 0600 from its first byte.
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass
from pathlib import PurePosixPath

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ..common.root import Root
from .files import TRANSPORT_CERT as CERT_FILE
from .files import TRANSPORT_KEY as KEY_FILE

VALIDITY = datetime.timedelta(days=730)


@dataclass(frozen=True)
class TransportCredentials:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def header_value(self) -> str:
        """x-ms-guest-agent-public-x509-cert: the base64 DER, i.e. the PEM body on one line."""
        return base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()


def generate(now: datetime.datetime | None = None) -> TransportCredentials:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "LinuxTransport")])
    now = now or datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return TransportCredentials(cert, key)


def save(creds: TransportCredentials, root: Root, directory: PurePosixPath) -> None:
    key_pem = creds.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    root.write_atomic(directory / KEY_FILE, key_pem, mode=0o600)
    root.write_atomic(
        directory / CERT_FILE,
        creds.certificate.public_bytes(serialization.Encoding.PEM),
        mode=0o644,
    )


def create(root: Root, directory: PurePosixPath) -> TransportCredentials:
    creds = generate()
    save(creds, root, directory)
    return creds
