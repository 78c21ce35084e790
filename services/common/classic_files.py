"""The classic files in `/var/lib/waagent` that extensions and other products read.

Wire runs unprivileged and keeps its own state in `/var/lib/waagent-wire`; it cannot (and must
not) write into `Lib.Dir`, where root executes extension code from. The root services that use
the goal state (extd on every new goal state, provisioner for SSH key pairs) put the classic
copies in place with this module: `<THUMBPRINT>.crt`/`.prv`, `SharedConfig.xml`,
`WireServerEndpoint`, `Protocol` and the `GoalState.1.xml` placeholder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import PurePosixPath

from .models.goal_state import Certificate
from .root import Root

log = logging.getLogger(__name__)

PLACEHOLDER = "<xml>empty placeholder file</xml>"


class ClassicFiles:
    def __init__(self, root: Root, lib_dir: str) -> None:
        self.root = root
        self.lib_dir = PurePosixPath(lib_dir)

    def path(self, name: str) -> PurePosixPath:
        return self.lib_dir / name

    def prepare(self) -> None:
        self.root.makedirs(self.lib_dir, 0o700)

    def write_certificates(self, certs: Iterable[Certificate]) -> list[str]:
        """`<THUMB>.crt` and `<THUMB>.prv`, 0600 from the first byte; unchanged files are kept."""
        self.prepare()
        written = []
        for cert in certs:
            self._write_if_changed(f"{cert.thumbprint}.crt", cert.certificate_pem)
            if cert.private_key_pem:
                self._write_if_changed(f"{cert.thumbprint}.prv", cert.private_key_pem)
            written.append(cert.thumbprint)
        return written

    def write_goal_state_files(self, endpoint: str, shared_config: str | None) -> None:
        self.prepare()
        self._write_if_changed("WireServerEndpoint", endpoint, mode=0o644)
        self._write_if_changed("Protocol", "WireProtocol", mode=0o644)
        self._write_if_changed("GoalState.1.xml", PLACEHOLDER, mode=0o644)
        if shared_config:
            self._write_if_changed("SharedConfig.xml", shared_config, mode=0o644)

    def endpoint(self) -> str:
        """The WireServer address last written (what extension commands are told)."""
        return (self.root.read_text(self.path("WireServerEndpoint")) or "").strip()

    def _write_if_changed(self, name: str, content: str, mode: int = 0o600) -> None:
        path = self.path(name)
        if self.root.read_text(path) == content:
            return
        self.root.write_atomic(path, content, mode=mode)
        log.debug("wrote %s", path)
