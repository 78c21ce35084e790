"""Raw mode: captured documents served byte for byte from a directory.

File names (a missing file is a 404):

    versions.xml  GoalState.xml  HostingEnvironmentConfig.xml  SharedConfig.xml
    ExtensionsConfig.xml  Certificates.xml  RemoteAccess.xml  VmSettings.json
    ovf-env.xml  imds.json
    manifests/<file>   packages/<file>   artifacts/<file>

Manifests, packages and the InVMArtifactsProfile blob are looked up by the last segment of the
URL path (through the storage listener or HostGAPlugin's x-ms-artifact-location), so captured
URLs work whatever host they name. Documents are never rewritten: URLs inside them must point
where the agent can reach the fabric (168.63.129.16 in namespace placement).
"""

from __future__ import annotations

import threading
from pathlib import Path, PurePosixPath
from typing import Any

import defusedxml.ElementTree as SafeET
from cryptography import x509

from .cms import ContentCipher
from .source import Artifact, ArtifactKind

CONFIG_FILES = {
    "hostingEnvironmentConfig": "HostingEnvironmentConfig.xml",
    "sharedConfig": "SharedConfig.xml",
    "extensionsConfig": "ExtensionsConfig.xml",
    "fullConfig": "FullConfig.xml",
}
ARTIFACT_FOLDERS: tuple[tuple[str, ArtifactKind, str], ...] = (
    ("manifests", "manifest", "text/xml"),
    ("packages", "package", "application/octet-stream"),
    ("artifacts", "artifacts-profile", "application/json"),
)


class RawSource:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._container: tuple[str, str] | None = None
        self._container_read = False

    def _read(self, name: str) -> bytes | None:
        path = self.directory / name
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def versions(self) -> bytes | None:
        return self._read("versions.xml")

    def goal_state(self) -> bytes | None:
        return self._read("GoalState.xml")

    def config(self, kind: str, incarnation: str | None) -> bytes | None:
        name = CONFIG_FILES.get(kind)
        return None if name is None else self._read(name)

    def certificates(
        self, incarnation: str | None, transport: x509.Certificate, cipher: ContentCipher
    ) -> bytes | None:
        return self._read("Certificates.xml")

    def remote_access(
        self, incarnation: str | None, transport: x509.Certificate, cipher: ContentCipher
    ) -> bytes | None:
        return self._read("RemoteAccess.xml")

    def artifact(self, path: str) -> Artifact | None:
        name = PurePosixPath(path).name
        if not name or name in (".", ".."):
            return None
        for folder, kind, content_type in ARTIFACT_FOLDERS:
            data = self._read(f"{folder}/{name}")
            if data is not None:
                return Artifact(kind, name, None, data, content_type)
        return None

    def vm_settings(self) -> bytes | None:
        return self._read("VmSettings.json")

    def imds(self) -> bytes | None:
        return self._read("imds.json")

    def ovf_env(self) -> bytes | None:
        return self._read("ovf-env.xml")

    def _goal_state_field(self, path: str) -> str | None:
        data = self.goal_state()
        if data is None:
            return None
        try:
            found = SafeET.fromstring(data.removeprefix(b"\xef\xbb\xbf")).find(path)
        except Exception:  # a captured document we cannot read: HGAP checks are skipped
            return None
        return None if found is None or not found.text else found.text.strip()

    def container(self) -> tuple[str, str] | None:
        """From GoalState.xml, read once: HostGAPlugin checks headers only when both are there."""
        with self._lock:
            if not self._container_read:
                container_id = self._goal_state_field("Container/ContainerId")
                config_name = self._goal_state_field(
                    "Container/RoleInstanceList/RoleInstance/Configuration/ConfigName"
                )
                if container_id is not None and config_name is not None:
                    self._container = (container_id, config_name)
                self._container_read = True
            return self._container

    def incarnation(self) -> int | None:
        text = self._goal_state_field("Incarnation")
        return int(text) if text and text.isdigit() else None

    def tenant_certificates(self) -> dict[str, dict[str, str]]:
        return {}

    def describe(self) -> dict[str, Any]:
        return {"mode": "raw", "directory": str(self.directory), "incarnation": self.incarnation()}
