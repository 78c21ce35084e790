"""Where documents come from: generated from a scenario, or read from a raw directory.

Both sources answer the same questions; the listeners never know which one they talk to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from cryptography import x509

from .cms import ContentCipher

ConfigKind = Literal["hostingEnvironmentConfig", "sharedConfig", "extensionsConfig", "fullConfig"]
ArtifactKind = Literal["manifest", "package", "artifacts-profile"]


class Gone(Exception):
    """A document URL of an incarnation that is no longer current (HTTP 410)."""


class NotAvailable(ValueError):
    """A control operation this source cannot do (raw documents are fixed)."""


@dataclass(frozen=True)
class Artifact:
    kind: ArtifactKind
    name: str
    version: str | None
    data: bytes
    content_type: str


class Source(Protocol):
    def versions(self) -> bytes | None: ...

    def goal_state(self) -> bytes | None: ...

    def config(self, kind: str, incarnation: str | None) -> bytes | None: ...

    def certificates(
        self, incarnation: str | None, transport: x509.Certificate, cipher: ContentCipher
    ) -> bytes | None: ...

    def remote_access(
        self, incarnation: str | None, transport: x509.Certificate, cipher: ContentCipher
    ) -> bytes | None: ...

    def artifact(self, path: str) -> Artifact | None: ...

    def vm_settings(self) -> bytes | None: ...

    def imds(self) -> bytes | None: ...

    def ovf_env(self) -> bytes | None: ...

    def container(self) -> tuple[str, str] | None:
        """(container id, config name) that HostGAPlugin headers must carry, if known."""
        ...

    def incarnation(self) -> int | None: ...

    def tenant_certificates(self) -> dict[str, dict[str, str]]: ...

    def describe(self) -> dict[str, Any]: ...
