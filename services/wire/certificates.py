"""Tenant certificates (§3.2): the Certificates document, decrypted into PEM files.

The document's `<Data>` is CMS EnvelopedData (to our transport certificate) of a password-less
PKCS#12. Each certificate is written as `<THUMBPRINT>.crt` and each private key as
`<THUMBPRINT>.prv` of the certificate with the same public key, both 0600 from the first byte,
plus `Certificates.pem` with everything. Thumbprint = SHA-1 of the DER certificate, uppercase hex.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from ..common import cms, der
from ..common.cmdenv import BASE_ENV
from ..common.root import Root
from . import xmldoc
from .errors import MalformedDocument
from .transport import TransportCredentials

log = logging.getLogger(__name__)

PFX_FORMAT = "Pkcs7BlobWithPfxContents"
DATA_OID = "1.2.840.113549.1.7.1"
KEY_BAG_OIDS = frozenset({"1.2.840.113549.1.12.10.1.1", "1.2.840.113549.1.12.10.1.2"})


def thumbprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - the protocol's identifier


def _public_der(item: x509.Certificate | PrivateKeyTypes) -> bytes:
    return item.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True)
class Pkcs12Contents:
    certificates: list[x509.Certificate]
    keys: list[PrivateKeyTypes]


def count_key_bags(pfx: bytes) -> int:
    """Private keys in the unencrypted parts of a PFX (where key bags live)."""
    try:
        auth_safe = der.parse(pfx).children()[1]
        infos = der.parse(auth_safe.children()[1].children()[0].octets()).children()
        count = 0
        for info in infos:
            if info.children()[0].oid() != DATA_OID:
                continue
            bags = der.parse(info.children()[1].children()[0].octets()).children()
            count += sum(1 for bag in bags if bag.children()[0].oid() in KEY_BAG_OIDS)
    except (der.DerError, IndexError):
        return 1
    return count


def load_pkcs12(pfx: bytes) -> Pkcs12Contents:
    for password in (None, b""):
        try:
            loaded = pkcs12.load_pkcs12(pfx, password)
        except ValueError:
            continue
        certs = [c.certificate for c in ([loaded.cert] if loaded.cert else [])]
        certs += [c.certificate for c in loaded.additional_certs]
        return Pkcs12Contents(certs, [loaded.key] if loaded.key else [])
    raise MalformedDocument("the decrypted certificates are not a readable PKCS#12")


@dataclass(frozen=True)
class Decrypted:
    """A tenant certificate (and its key), as PEM. A plain value: this module runs in the short
    helper process, which loads neither pydantic nor asyncio (start-up time is the cost)."""

    thumbprint: str
    certificate_pem: str
    private_key_pem: str | None


def load_pkcs12_with_openssl(pfx: bytes, openssl: str) -> Pkcs12Contents:
    """The classic conversion, for a PFX holding several private keys (cryptography reads one)."""
    for extra in ([], ["-legacy"]):
        try:
            result = subprocess.run(
                [openssl, "pkcs12", "-nodes", "-password", "pass:", *extra],
                input=pfx,
                capture_output=True,
                timeout=30,
                check=False,
                env=dict(BASE_ENV),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MalformedDocument(f"openssl pkcs12 could not run: {exc}") from None
        if result.returncode == 0:
            return split_pem(result.stdout)
    raise MalformedDocument("openssl could not read the PKCS#12 with several keys")


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)


def split_pem(pem: bytes) -> Pkcs12Contents:
    """Every certificate and private key of a PEM bundle (§3.2 step 5)."""
    certs: list[x509.Certificate] = []
    keys: list[PrivateKeyTypes] = []
    for match in _PEM_BLOCK.finditer(pem):
        kind, block = match.group(1), match.group(0)
        if kind.endswith(b"CERTIFICATE"):
            certs.append(x509.load_pem_x509_certificate(block))
        elif kind.endswith(b"KEY"):
            keys.append(serialization.load_pem_private_key(block, None))
    return Pkcs12Contents(certs, keys)


def match(contents: Pkcs12Contents) -> list[Decrypted]:
    """Pair each key with the certificate of the same public key (§3.2 step 5)."""
    by_public = {_public_der(k): k for k in contents.keys}
    result = []
    for cert in contents.certificates:
        key = by_public.pop(_public_der(cert), None)
        key_pem = (
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
            if key is not None
            else None
        )
        result.append(
            Decrypted(
                thumbprint=thumbprint(cert),
                certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
                private_key_pem=key_pem,
            )
        )
    if by_public:
        log.warning("%d private key(s) without a matching certificate ignored", len(by_public))
    return result


def envelope_from_document(document: bytes) -> bytes | None:
    """The CMS bytes of a CertificateFile, or None when it carries no certificates."""
    root = xmldoc.parse(document, "Certificates")
    fmt = xmldoc.findtext(root, "Format")
    if fmt and fmt != PFX_FORMAT:
        log.warning("certificates in format %r are not supported; none used", fmt)
        return None
    data = xmldoc.findtext(root, "Data")
    if not data:
        return None
    try:
        return base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedDocument("Certificates <Data> is not base64") from None


def decrypt_document(document: bytes, creds: TransportCredentials, openssl: str) -> list[Decrypted]:
    envelope = envelope_from_document(document)
    if envelope is None:
        return []
    try:
        pfx = cms.decrypt(envelope, creds.certificate, creds.key)
    except cms.CmsError as exc:
        raise MalformedDocument(f"Certificates cannot be decrypted: {exc}") from None
    contents = load_pkcs12(pfx)
    if count_key_bags(pfx) > len(contents.keys):
        contents = load_pkcs12_with_openssl(pfx, openssl)
    return match(contents)


def summary(certs: Sequence[Decrypted]) -> list[dict[str, object]]:
    """The thumbprint summary (what CertificateSummary reads back)."""
    return [
        {"thumbprint": c.thumbprint, "has_private_key": c.private_key_pem is not None}
        for c in certs
    ]


def store(certs: Sequence[Decrypted], root: Root, directory: PurePosixPath) -> None:
    """<THUMB>.crt, <THUMB>.prv and Certificates.pem, all 0600 from the first byte."""
    bundle = []
    for cert in certs:
        root.write_atomic(directory / f"{cert.thumbprint}.crt", cert.certificate_pem, mode=0o600)
        bundle.append(cert.certificate_pem)
        if cert.private_key_pem:
            root.write_atomic(
                directory / f"{cert.thumbprint}.prv", cert.private_key_pem, mode=0o600
            )
            bundle.append(cert.private_key_pem)
    root.write_atomic(directory / "Certificates.pem", "".join(bundle), mode=0o600)
