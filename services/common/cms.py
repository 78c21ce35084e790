"""Decrypting CMS EnvelopedData (RFC 5652) addressed to our transport certificate.

Used by wire for the Certificates document (§3.2) and by the provisioner for JIT passwords
(§3.4), both with wire's transport key pair (`load_recipient`). The recipient may be named
by SubjectKeyIdentifier (what the WireServer does) or by issuer and serial number. Key transport
is RSA (PKCS#1 v1.5, or OAEP); content encryption AES-CBC or DES-EDE3-CBC.
"""

from __future__ import annotations

import hmac
from pathlib import PurePosixPath

from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP, PKCS1v15
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from . import der
from .root import Root

ENVELOPED_DATA = "1.2.840.113549.1.7.3"
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
RSAES_OAEP = "1.2.840.113549.1.1.7"
CONTENT_CIPHERS = {
    "1.2.840.113549.3.7": ("DES-EDE3-CBC", 24),
    "2.16.840.1.101.3.4.1.2": ("AES-128-CBC", 16),
    "2.16.840.1.101.3.4.1.22": ("AES-192-CBC", 24),
    "2.16.840.1.101.3.4.1.42": ("AES-256-CBC", 32),
}


class CmsError(ValueError):
    """The message cannot be decrypted with our key; the text says why, never what it holds."""


def load_recipient(cert_pem: bytes, key_pem: bytes) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """The transport certificate and its RSA key, from their PEM files' contents."""
    try:
        key = load_pem_private_key(key_pem, None)
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise CmsError("the transport key pair cannot be read") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CmsError("the transport key is not RSA")
    return cert, key


def read_recipient(
    root: Root, cert_path: PurePosixPath, key_path: PurePosixPath
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """The transport key pair from its files under `root` (wire's state directory)."""
    cert_pem, key_pem = root.read_bytes(cert_path), root.read_bytes(key_path)
    if cert_pem is None or key_pem is None:
        raise CmsError("no transport key pair")
    return load_recipient(cert_pem, key_pem)


def _subject_key_identifier(cert: x509.Certificate) -> bytes:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _addressed_to_us(rid: der.Tlv, cert: x509.Certificate) -> bool:
    if rid.tag_class == 0x80 and rid.number == 0:  # [0] SubjectKeyIdentifier
        return hmac.compare_digest(rid.value, _subject_key_identifier(cert))
    if rid.tag == der.SEQUENCE:  # IssuerAndSerialNumber
        issuer, serial = rid.children()[:2]
        return issuer.raw == cert.issuer.public_bytes() and serial.integer() == cert.serial_number
    return False


def _unwrap_key(recipient: der.Tlv, key: rsa.RSAPrivateKey) -> bytes:
    fields = recipient.children()
    if len(fields) < 4:
        raise CmsError("malformed recipient info")
    algorithm = fields[2].children()[0].oid()
    encrypted_key = fields[3].octets()
    try:
        if algorithm == RSA_ENCRYPTION:
            return key.decrypt(encrypted_key, PKCS1v15())
        if algorithm == RSAES_OAEP:
            return key.decrypt(
                # RSAES-OAEP's default parameters are SHA-1 (RFC 4055); they name no weakness here.
                encrypted_key,
                OAEP(mgf=MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),  # noqa: S303
            )
    except ValueError:
        raise CmsError("the content key does not decrypt with the transport key") from None
    raise CmsError(f"unsupported key transport algorithm {algorithm}")


def _decrypt_content(encrypted: der.Tlv, content_key: bytes) -> bytes:
    fields = encrypted.children()
    if len(fields) < 3:
        raise CmsError("no encrypted content")
    algorithm = fields[1].children()
    oid = algorithm[0].oid()
    if oid not in CONTENT_CIPHERS:
        raise CmsError(f"unsupported content encryption {oid}")
    name, key_size = CONTENT_CIPHERS[oid]
    if len(content_key) != key_size:
        raise CmsError("the content key does not decrypt with the transport key")
    iv = algorithm[1].octets()
    ciphertext = fields[2].octets()
    cipher_algorithm = (
        TripleDES(content_key) if name.startswith("DES") else algorithms.AES(content_key)
    )
    block = cipher_algorithm.block_size
    if len(ciphertext) % (block // 8) or len(iv) != block // 8:
        raise CmsError("truncated encrypted content")
    decryptor = Cipher(cipher_algorithm, modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(block).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise CmsError("the content does not decrypt with the transport key") from None


def _envelope(data: bytes, cert: x509.Certificate) -> tuple[list[der.Tlv], der.Tlv]:
    """The recipient infos addressed to `cert`, and the encrypted content."""
    content_type, wrapped = der.parse(data).children()[:2]
    if content_type.oid() != ENVELOPED_DATA:
        raise CmsError("not CMS EnvelopedData")
    envelope = wrapped.children()[0].children()
    position = 1
    if envelope[position].tag_class == 0x80:  # [0] originatorInfo
        position += 1
    recipients = envelope[position].children()
    ours = [r for r in recipients if _addressed_to_us(r.children()[1], cert)]
    return ours, envelope[position + 1]


def decrypt(data: bytes, cert: x509.Certificate, key: rsa.RSAPrivateKey) -> bytes:
    """The plaintext of a DER/BER EnvelopedData ContentInfo addressed to `cert`."""
    try:
        ours, encrypted_content = _envelope(data, cert)
        if ours:
            return _decrypt_content(encrypted_content, _unwrap_key(ours[0], key))
    except CmsError:
        raise
    except (ValueError, IndexError) as exc:  # DerError, or a structure of another shape
        raise CmsError(f"malformed CMS message: {exc}") from None
    raise CmsError("encrypted to another certificate (no recipient matches ours)")
