"""Tenant certificates: generated per scenario, kept with their private keys for verification.

Azure puts the VM's secrets (certificates for SSH keys, for protected settings, for the workload)
in the Certificates document. The fabric generates them once per Fabric, lazily, because RSA key
generation costs tens of milliseconds and most tests never ask for certificates.
"""

from __future__ import annotations

import datetime
import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

from . import pfx
from .scenario import CertificateSpec

CURVES: dict[str, ec.EllipticCurve] = {
    "secp256r1": ec.SECP256R1(),
    "secp384r1": ec.SECP384R1(),
    "secp521r1": ec.SECP521R1(),
}


def thumbprint(cert: x509.Certificate) -> str:
    """SHA-1 of the DER certificate, uppercase hex: how Azure names certificates."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der).hexdigest().upper()  # noqa: S324 - the protocol's identifier


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: PrivateKeyTypes) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@dataclass(frozen=True)
class TenantCertificate:
    name: str
    certificate: x509.Certificate
    key: PrivateKeyTypes

    @cached_property
    def thumbprint(self) -> str:
        return thumbprint(self.certificate)


def generate(spec: CertificateSpec) -> TenantCertificate:
    key: PrivateKeyTypes
    if spec.key_type == "ec":
        key = ec.generate_private_key(CURVES[spec.curve])
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=spec.key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec.subject or spec.name)])
    now = datetime.datetime.now(datetime.UTC)
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=spec.valid_days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    return TenantCertificate(spec.name, cert, key)


class TenantCertificates:
    """The scenario's certificates, generated on first use (thread-safe)."""

    def __init__(self, specs: Sequence[CertificateSpec]) -> None:
        self._specs = list(specs)
        self._lock = threading.Lock()
        self._generated: dict[str, TenantCertificate] | None = None
        self._pfx: bytes | None = None

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self._specs]

    def all(self) -> dict[str, TenantCertificate]:
        with self._lock:
            if self._generated is None:
                self._generated = {spec.name: generate(spec) for spec in self._specs}
            return self._generated

    def add(self, spec: CertificateSpec) -> None:
        """One more certificate (the Certificates document carries it from now on)."""
        certificates = self.all()
        made = generate(spec)
        with self._lock:
            self._specs.append(spec)
            certificates[spec.name] = made
            self._pfx = None

    def get(self, name: str) -> TenantCertificate:
        try:
            return self.all()[name]
        except KeyError:
            raise KeyError(f"no tenant certificate named {name!r}") from None

    def pfx(self, without: frozenset[str] = frozenset()) -> bytes:
        """All certificates (but those named `without`) with their keys as one password-less
        PKCS#12 (built once for all of them)."""
        certificates = self.all()
        if without:
            kept = [c for c in certificates.values() if c.name not in without]
            return pfx.build([pfx.Entry(c.name, c.certificate, c.key) for c in kept])
        with self._lock:
            if self._pfx is None:
                self._pfx = pfx.build(
                    [pfx.Entry(c.name, c.certificate, c.key) for c in certificates.values()]
                )
            return self._pfx

    def export(self) -> dict[str, dict[str, str]]:
        """thumbprint -> {name, certificate PEM, key PEM}: what a test verifies against."""
        return {
            c.thumbprint: {
                "name": c.name,
                "certificate": certificate_pem(c.certificate),
                "key": key_pem(c.key),
            }
            for c in self.all().values()
        }
