"""CMS EnvelopedData (RFC 5652), built with `cryptography` primitives and our DER encoder.

Two uses, two recipient identifiers, as Azure does:
* the Certificates document is encrypted to the agent's transport certificate, recipient by
  SubjectKeyIdentifier (KeyTransRecipientInfo version 2), AES-128-CBC or DES-EDE3-CBC;
* protected settings are encrypted to a tenant certificate, recipient by issuerAndSerialNumber
  (version 0), which is what `openssl smime -decrypt -recip X.crt -inkey X.prv` expects.
Key transport is RSA PKCS#1 v1.5 in both cases.
"""

from __future__ import annotations

import os
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes

from . import der

OID_DATA = "1.2.840.113549.1.7.1"
OID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
OID_AES128_CBC = "2.16.840.1.101.3.4.1.2"
OID_DES_EDE3_CBC = "1.2.840.113549.3.7"


class ContentCipher(StrEnum):
    """Values of the `x-ms-cipher-name` header."""

    AES128_CBC = "AES128_CBC"
    DES_EDE3_CBC = "DES_EDE3_CBC"


class Recipient(StrEnum):
    SUBJECT_KEY_IDENTIFIER = "ski"
    ISSUER_AND_SERIAL = "issuer-serial"


class CmsError(ValueError):
    """The recipient certificate cannot receive CMS content (not RSA, no SKI, ...)."""


def _cipher(kind: ContentCipher, key: bytes) -> tuple[CipherAlgorithm, int, str]:
    if kind is ContentCipher.AES128_CBC:
        return algorithms.AES(key), 16, OID_AES128_CBC
    return TripleDES(key), 8, OID_DES_EDE3_CBC


def _recipient_identifier(cert: x509.Certificate, kind: Recipient) -> tuple[int, bytes]:
    if kind is Recipient.ISSUER_AND_SERIAL:
        issuer_and_serial = der.sequence(
            cert.issuer.public_bytes(), der.integer(cert.serial_number)
        )
        return 0, issuer_and_serial
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        # The agent's certificate should carry one; compute it the standard way (RFC 5280 1).
        ski = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    return 2, der.implicit_primitive(0, ski)


def envelope(
    plaintext: bytes,
    recipient: x509.Certificate,
    *,
    cipher: ContentCipher = ContentCipher.AES128_CBC,
    identify_by: Recipient = Recipient.SUBJECT_KEY_IDENTIFIER,
) -> bytes:
    """DER ContentInfo(EnvelopedData) of `plaintext` for the RSA key of `recipient`."""
    public_key = recipient.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise CmsError("CMS key transport needs an RSA recipient certificate")
    key = os.urandom(16 if cipher is ContentCipher.AES128_CBC else 24)
    algorithm, block, algorithm_oid = _cipher(cipher, key)
    iv = os.urandom(block)
    padder = padding.PKCS7(block * 8).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithm, modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padded) + encryptor.finalize()

    version, rid = _recipient_identifier(recipient, identify_by)
    recipient_info = der.sequence(
        der.integer(version),
        rid,
        der.algorithm(OID_RSA_ENCRYPTION),
        der.octet_string(public_key.encrypt(key, PKCS1v15())),
    )
    encrypted_content_info = der.sequence(
        der.oid(OID_DATA),
        der.algorithm(algorithm_oid, der.octet_string(iv)),
        der.implicit_primitive(0, encrypted),
    )
    # EnvelopedData is version 2 as soon as one recipient is identified by key identifier.
    enveloped = der.sequence(
        der.integer(version), der.set_of(recipient_info), encrypted_content_info
    )
    return der.sequence(der.oid(OID_ENVELOPED_DATA), der.explicit(0, enveloped))
