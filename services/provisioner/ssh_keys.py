"""SSH public keys and key pairs (reference §6.4), checked completely before anything is written.

* A public key `Value` must be an SSH public key: a known type, base64 that decodes, and the
  type repeated inside the blob. A key given by `Fingerprint` is the public key of that tenant
  certificate, in OpenSSH form; its PEM public key is kept as `<Lib.Dir>/<THUMB>.pub` (0600).
* A key pair copies `<THUMB>.prv` to `Path` and writes the PEM public key to `Path.pub`.
* Every file goes through `HomeFiles`: inside the user's home, no symlink followed, owned by
  the user. authorized_keys is 0600 in a 0700 directory; a key already there (same type and
  blob) is not added again. Key pairs are 0600 (private) and 0644 (public): classic had the two
  modes inverted and left root as the owner, which is fixed here.
"""

from __future__ import annotations

import base64
import binascii
import logging
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from ..common.errors import InvalidArgs
from ..common.models.goal_state import Certificate
from ..common.root import Root
from .home_files import HomeFiles, normalize, parts_beneath
from .models import KeyPair, ProvisioningData, PublicKey

log = logging.getLogger(__name__)

KEY_TYPES = frozenset(
    {
        "ssh-rsa",
        "ssh-dss",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)


class SshKeyError(InvalidArgs):
    """A key the provisioner refuses; the message is the ProvisioningFailed reason."""


def parse_public_key(value: str, where: str) -> tuple[str, bytes, str]:
    """(type, blob, one-line key) of an OpenSSH public key line, or SshKeyError."""
    words = value.split()
    bad = f"the public key for {where} is not an SSH public key"
    if len(words) < 2 or words[0] not in KEY_TYPES:
        raise SshKeyError(bad)
    try:
        blob = base64.b64decode(words[1], validate=True)
    except (binascii.Error, ValueError):
        raise SshKeyError(bad) from None
    if len(blob) < 4:
        raise SshKeyError(bad)
    (length,) = struct.unpack(">I", blob[:4])
    if blob[4 : 4 + length].decode("ascii", "replace") != words[0]:
        raise SshKeyError(bad)
    return words[0], blob, " ".join(words)


def _thumb(fingerprint: str) -> str:
    return fingerprint.strip().upper()


@dataclass(frozen=True)
class AuthorizedKey:
    parts: tuple[str, ...]
    line: str
    identity: tuple[str, bytes]


@dataclass(frozen=True)
class PairFile:
    parts: tuple[str, ...]
    private_pem: bytes
    public_pem: bytes


@dataclass(frozen=True)
class KeyPlan:
    """Everything to write, worked out (and so validated) before any change."""

    authorized: tuple[AuthorizedKey, ...]
    pairs: tuple[PairFile, ...]
    # <THUMB> -> PEM public key, for the classic <Lib.Dir>/<THUMB>.pub
    certificate_public_keys: Mapping[str, bytes]


def _certificate(certs: Mapping[str, Certificate], fingerprint: str, where: str) -> Certificate:
    cert = certs.get(_thumb(fingerprint))
    if cert is None:
        raise SshKeyError(f"no tenant certificate with thumbprint {fingerprint} for {where}")
    return cert


def _from_certificate(cert: Certificate, where: str) -> tuple[str, bytes]:
    """(OpenSSH line, PEM public key) of a certificate's public key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization as ser

    try:
        public = x509.load_pem_x509_certificate(cert.certificate_pem.encode()).public_key()
        line = public.public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH).decode()
        pem = public.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, TypeError):
        raise SshKeyError(
            f"certificate {cert.thumbprint} for {where} has no SSH-usable key"
        ) from None
    return line, pem


def _pair(cert: Certificate, where: str) -> tuple[bytes, bytes]:
    """(private PEM, public PEM) of a certificate's key pair."""
    from cryptography.hazmat.primitives import serialization as ser

    if not cert.private_key_pem:
        raise SshKeyError(f"certificate {cert.thumbprint} for {where} has no private key")
    try:
        key = ser.load_pem_private_key(cert.private_key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise SshKeyError(f"the private key of {cert.thumbprint} for {where} is unusable") from None
    public = key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    return cert.private_key_pem.encode(), public


class SshKeys:
    def __init__(self, root: Root, home_dir: str, lib_dir: str) -> None:
        self.root = root
        self.home_dir = home_dir
        self.lib_dir = PurePosixPath(lib_dir)

    def _parts(self, path: str, home: PurePosixPath) -> tuple[str, ...]:
        if not path:
            raise SshKeyError("a key has no Path")
        return parts_beneath(normalize(path, self.home_dir), home, path)

    def fingerprints(self, data: ProvisioningData) -> set[str]:
        """Thumbprints of the tenant certificates the keys need (none: no certificates needed)."""
        found = {_thumb(k.fingerprint) for k in data.public_keys if k.fingerprint and not k.value}
        return found | {_thumb(p.fingerprint) for p in data.key_pairs}

    def plan(
        self, data: ProvisioningData, home: PurePosixPath, certs: Iterable[Certificate]
    ) -> KeyPlan:
        by_thumb = {_thumb(c.thumbprint): c for c in certs}
        authorized = [self._public_key(key, home, by_thumb) for key in data.public_keys]
        pub_pems = {
            _thumb(k.fingerprint): _from_certificate(
                _certificate(by_thumb, k.fingerprint, k.path), k.path
            )[1]
            for k in data.public_keys
            if k.fingerprint and not k.value
        }
        pairs = [self._key_pair(pair, home, by_thumb) for pair in data.key_pairs]
        return KeyPlan(tuple(authorized), tuple(pairs), pub_pems)

    def _public_key(
        self, key: PublicKey, home: PurePosixPath, certs: Mapping[str, Certificate]
    ) -> AuthorizedKey:
        parts = self._parts(key.path, home)
        if key.value:
            kind, blob, line = parse_public_key(key.value, key.path)
        elif key.fingerprint:
            text, _ = _from_certificate(_certificate(certs, key.fingerprint, key.path), key.path)
            kind, blob, line = parse_public_key(text, key.path)
        else:
            raise SshKeyError(
                f"the public key for {key.path} has neither a value nor a fingerprint"
            )
        return AuthorizedKey(parts, line, (kind, blob))

    def _key_pair(
        self, pair: KeyPair, home: PurePosixPath, certs: Mapping[str, Certificate]
    ) -> PairFile:
        parts = self._parts(pair.path, home)
        private, public = _pair(_certificate(certs, pair.fingerprint, pair.path), pair.path)
        return PairFile(parts, private, public)

    def check(self, plan: KeyPlan, files: HomeFiles) -> None:
        """Refuse symlinks and hard links on every path now (the home may already exist)."""
        for key in plan.authorized:
            files.check(key.parts)
        for pair in plan.pairs:
            files.check(pair.parts)
            files.check((*pair.parts[:-1], pair.parts[-1] + ".pub"))

    def deploy(self, plan: KeyPlan, files: HomeFiles) -> None:
        for thumb, pem in plan.certificate_public_keys.items():
            self.root.write_atomic(self.lib_dir / f"{thumb}.pub", pem, mode=0o600)
        by_file: dict[tuple[str, ...], list[AuthorizedKey]] = {}
        for key in plan.authorized:
            by_file.setdefault(key.parts, []).append(key)
        for parts, keys in by_file.items():
            self._authorize(files, parts, keys)
        for pair in plan.pairs:
            files.write(pair.parts, pair.private_pem, 0o600)
            files.write((*pair.parts[:-1], pair.parts[-1] + ".pub"), pair.public_pem, 0o644)
            log.info("key pair at %s", files.home.joinpath(*pair.parts))

    def _authorize(
        self, files: HomeFiles, parts: tuple[str, ...], keys: list[AuthorizedKey]
    ) -> None:
        existing = (files.read(parts) or b"").decode("utf-8", "replace")
        present = set()
        for line in existing.splitlines():
            try:
                kind, blob, _ = parse_public_key(line, "")
            except SshKeyError:
                continue
            present.add((kind, blob))
        lines = existing.splitlines()
        for key in keys:
            if key.identity not in present:
                lines.append(key.line)
                present.add(key.identity)
        files.write(parts, "".join(f"{line}\n" for line in lines).encode(), 0o600)
        log.info("%d key(s) authorized in %s", len(keys), files.home.joinpath(*parts))
