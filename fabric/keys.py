"""Small key helpers for scenarios (SSH public keys for the default VM)."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def new_ssh_public_key(comment: str) -> str:
    """A fresh `ssh-ed25519 AAAA... comment` line (the private half is not kept)."""
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    blob = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{blob.decode()} {comment}"
