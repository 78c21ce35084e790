"""PKCS#12 (RFC 7292) without a password, holding several certificates and their keys.

`cryptography` serializes one key per PFX; Azure delivers every tenant certificate of the VM, each
with its private key, in one PFX. So the structure is built here: one SafeContents with a keyBag
and a certBag per certificate, paired by localKeyId, and an HMAC-SHA256 MAC keyed from the empty
password (what `openssl pkcs12 -password pass:` verifies).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from . import der

OID_DATA = "1.2.840.113549.1.7.1"
OID_KEY_BAG = "1.2.840.113549.1.12.10.1.1"
OID_CERT_BAG = "1.2.840.113549.1.12.10.1.3"
OID_X509_CERTIFICATE = "1.2.840.113549.1.9.22.1"
OID_FRIENDLY_NAME = "1.2.840.113549.1.9.20"
OID_LOCAL_KEY_ID = "1.2.840.113549.1.9.21"
OID_SHA256 = "2.16.840.1.101.3.4.2.1"
MAC_ITERATIONS = 2048


@dataclass(frozen=True)
class Entry:
    name: str
    certificate: x509.Certificate
    key: PrivateKeyTypes | None


def _attributes(name: str, key_id: bytes) -> bytes:
    return der.set_of(
        der.sequence(der.oid(OID_FRIENDLY_NAME), der.set_of(der.bmp_string(name))),
        der.sequence(der.oid(OID_LOCAL_KEY_ID), der.set_of(der.octet_string(key_id))),
    )


def _bags(entry: Entry) -> list[bytes]:
    cert_der = entry.certificate.public_bytes(serialization.Encoding.DER)
    key_id = hashlib.sha1(cert_der).digest()  # noqa: S324 - an identifier, as Windows uses
    attributes = _attributes(entry.name, key_id)
    cert_bag = der.sequence(
        der.oid(OID_X509_CERTIFICATE), der.explicit(0, der.octet_string(cert_der))
    )
    bags = [der.sequence(der.oid(OID_CERT_BAG), der.explicit(0, cert_bag), attributes)]
    if entry.key is not None:
        pkcs8 = entry.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        bags.insert(0, der.sequence(der.oid(OID_KEY_BAG), der.explicit(0, pkcs8), attributes))
    return bags


def _data_content_info(content: bytes) -> bytes:
    return der.sequence(der.oid(OID_DATA), der.explicit(0, der.octet_string(content)))


def _fill(data: bytes, block: int) -> bytes:
    """`data` repeated to the next multiple of `block` bytes (empty stays empty)."""
    if not data:
        return b""
    size = block * -(-len(data) // block)
    return (data * (size // len(data) + 1))[:size]


def pkcs12_kdf(password: bytes, salt: bytes, purpose: int, iterations: int, size: int) -> bytes:
    """RFC 7292 appendix B.2 key derivation with SHA-256 (purpose 3 = MAC key)."""
    v = 64  # SHA-256 block size
    state = bytearray(_fill(salt, v) + _fill(password, v))
    diversifier = bytes([purpose]) * v
    out = b""
    while len(out) < size:
        digest = hashlib.sha256(diversifier + bytes(state)).digest()
        for _ in range(iterations - 1):
            digest = hashlib.sha256(digest).digest()
        out += digest
        increment = int.from_bytes(_fill(digest, v)[:v], "big") + 1
        for start in range(0, len(state), v):
            chunk = int.from_bytes(state[start : start + v], "big")
            state[start : start + v] = ((chunk + increment) % (1 << (v * 8))).to_bytes(v, "big")
    return out[:size]


def build(entries: Sequence[Entry]) -> bytes:
    """DER PFX of `entries`, unencrypted bags, MAC under the empty password."""
    safe_contents = der.sequence(*(bag for entry in entries for bag in _bags(entry)))
    authenticated_safe = der.sequence(_data_content_info(safe_contents))
    salt = os.urandom(16)
    # The empty password as PKCS#12 BMPString: just the two-byte terminator.
    mac_key = pkcs12_kdf(b"\x00\x00", salt, 3, MAC_ITERATIONS, 32)
    mac = hmac.new(mac_key, authenticated_safe, hashlib.sha256).digest()
    mac_data = der.sequence(
        der.sequence(der.algorithm(OID_SHA256), der.octet_string(mac)),
        der.octet_string(salt),
        der.integer(MAC_ITERATIONS),
    )
    return der.sequence(der.integer(3), _data_content_info(authenticated_safe), mac_data)
