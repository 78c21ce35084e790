"""Provisioning inputs for tests: ovf-env.xml documents (made by the fabric simulator's own
writer, then bent where a test needs bad input), DVD images, keys and tenant certificates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from waagent.common.models.goal_state import Certificate
from waagent.fabric import ovf as fabric_ovf
from waagent.fabric.keys import new_ssh_public_key
from waagent.fabric.scenario import CertificateSpec, Identity, KeyPair, Provisioning, SshPublicKey
from waagent.fabric.tenant import TenantCertificate, certificate_pem, generate, key_pem

VM_ID = "a3f5c2e1-7b4d-4c8e-9f10-2d6b8e4a1c57"
USER = "azureuser"
AUTHORIZED_KEYS = f"/home/{USER}/.ssh/authorized_keys"
PASSWORD = "S3cret-Pass!word"

# A billion-laughs document: entities that expand to gigabytes if anything expands them.
XML_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1"><x>&lol4;</x></Environment>
"""


def ssh_key(comment: str = "user@laptop") -> str:
    return new_ssh_public_key(comment)


def tenant(name: str = "tenant") -> TenantCertificate:
    return generate(CertificateSpec(name=name))


def certificate(cert: TenantCertificate) -> Certificate:
    """The tenant certificate as wire hands it over (GetCertificates)."""
    return Certificate(
        thumbprint=cert.thumbprint,
        certificate_pem=certificate_pem(cert.certificate),
        private_key_pem=key_pem(cert.key),
    )


def ovf_env(
    *,
    hostname: str = "testvm",
    certificates: list[TenantCertificate] | None = None,
    **provisioning: Any,
) -> bytes:
    """ovf-env.xml as Azure writes it; `provisioning` are fields of the fabric's Provisioning
    (user_name, password, ssh_public_keys, key_pairs, custom_data, ...)."""
    provisioning.setdefault("user_name", USER)
    provisioning.setdefault(
        "ssh_public_keys", [SshPublicKey(path=AUTHORIZED_KEYS, value=ssh_key())]
    )
    by_name = {c.name: c.thumbprint for c in certificates or []}
    return fabric_ovf.ovf_env(
        Identity(hostname=hostname, vm_id=VM_ID), Provisioning(**provisioning), by_name.__getitem__
    )


def drop(document: bytes, tag: str) -> bytes:
    """The document without the (first) element `tag`, as if Azure had left it out."""
    pattern = (
        rb"\s*<(?:wa:)?"
        + tag.encode()
        + rb"(?:\s[^>]*)?(?:/>|>.*?</(?:wa:)?"
        + tag.encode()
        + rb">)"
    )
    result, count = re.subn(pattern, b"", document, count=1, flags=re.DOTALL)
    assert count == 1, f"{tag} not in the document"
    return result


def replace_text(document: bytes, tag: str, text: str) -> bytes:
    pattern = rb"(<(?:wa:)?" + tag.encode() + rb">).*?(</)"
    result, count = re.subn(
        pattern, rb"\g<1>" + text.encode() + rb"\g<2>", document, count=1, flags=re.DOTALL
    )
    assert count == 1, f"{tag} not in the document"
    return result


def dvd(dev_root: Path, document: bytes, name: str = "sr0") -> Path:
    """A dev root holding the provisioning DVD (an image file named like the device)."""
    dev_root.mkdir(parents=True, exist_ok=True)
    return fabric_ovf.write_image(dev_root / name, document)


__all__ = ["KeyPair", "SshPublicKey"]
