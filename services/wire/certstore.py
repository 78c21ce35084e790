"""Wire's certificate files, read without `cryptography` (the resident process never loads it).

Generating the transport key and decrypting the Certificates document happen in a short-lived
helper process (`waagent.wire.secrets`); what they leave in wire's state directory is read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from ..common.cmdenv import BASE_ENV
from ..common.commands import CommandRunner
from ..common.models.goal_state import Certificate, CertificateSummary
from ..common.root import Root
from ..common.selfexec import module_command
from .errors import MalformedDocument
from .files import TRANSPORT_CERT

SECRETS_TIMEOUT = 60.0


@dataclass(frozen=True)
class SecretsHelper:
    """Runs the cryptography helper (`waagent.wire.secrets`) in its own short-lived process."""

    runner: CommandRunner
    root: Root
    directory: PurePosixPath
    openssl: str

    async def run(self, command: str, input: bytes | None = None) -> bytes:
        argv, env = module_command(
            "waagent.wire.secrets",
            command,
            "--root",
            str(self.root.path),
            "--state-dir",
            str(self.directory),
            "--openssl",
            self.openssl,
        )
        result = await self.runner.run(
            argv, timeout=SECRETS_TIMEOUT, input=input, check=False, env={**BASE_ENV, **env}
        )
        if not result.ok:
            raise MalformedDocument(f"{command}: {result.message()}")
        return result.stdout.encode()


def transport_header(root: Root, directory: PurePosixPath) -> str:
    """x-ms-guest-agent-public-x509-cert: the PEM body on one line, i.e. the base64 DER (§3.1)."""
    pem = root.read_text(directory / TRANSPORT_CERT)
    if not pem or "-----BEGIN CERTIFICATE-----" not in pem:
        raise MalformedDocument("no transport certificate")
    body = pem.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----", 1)[0]
    return "".join(body.split())


def load_stored(
    root: Root, directory: PurePosixPath, summaries: Sequence[CertificateSummary]
) -> list[Certificate]:
    """The certificates listed in `summaries`, read back from their files (0600, ours)."""
    result = []
    for item in summaries:
        cert_pem = root.read_text(directory / f"{item.thumbprint}.crt")
        if cert_pem is None:
            continue
        key_pem = (
            root.read_text(directory / f"{item.thumbprint}.prv") if item.has_private_key else None
        )
        result.append(
            Certificate(
                thumbprint=item.thumbprint, certificate_pem=cert_pem, private_key_pem=key_pem
            )
        )
    return result
