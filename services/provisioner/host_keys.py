"""SSH host keys (reference §6.9): delete, regenerate, and prove one is there.

With Provisioning.RegenerateSshHostKeyPair=y every `ssh_host_*key*` file goes and new keys are
made: the one configured type, or for `auto` every type current OpenSSH makes (rsa, ecdsa,
ed25519), generated in parallel. In every case the host key of the type (rsa for auto) must give
a fingerprint, or provisioning fails: a VM nobody can verify by SSH is not provisioned.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import PurePosixPath

from ..common.commands import CommandRunner
from ..common.errors import Failed
from ..common.root import Root

log = logging.getLogger(__name__)

AUTO_TYPES = ("rsa", "ecdsa", "ed25519")
PATTERN = "ssh_host_*key*"
KEYGEN_TIMEOUT = 120.0


class HostKeys:
    def __init__(self, root: Root, runner: CommandRunner, ssh_dir: str, key_type: str) -> None:
        self.root = root
        self.runner = runner
        self.ssh_dir = PurePosixPath(ssh_dir)
        self.key_type = key_type

    def _key(self, kind: str) -> PurePosixPath:
        return self.ssh_dir / f"ssh_host_{kind}_key"

    def remove_all(self) -> list[str]:
        removed = []
        for path in self.root.glob(self.ssh_dir, PATTERN):
            os.unlink(path)
            removed.append(path.name)
        if removed:
            log.info("deleted SSH host keys: %s", ", ".join(removed))
        return removed

    async def regenerate(self, comment: str) -> list[str]:
        self.remove_all()
        self.root.makedirs(self.ssh_dir, 0o755)
        kinds = AUTO_TYPES if self.key_type == "auto" else (self.key_type,)
        await asyncio.gather(*(self._generate(kind, comment) for kind in kinds))
        log.info("generated SSH host keys: %s", ", ".join(kinds))
        return list(kinds)

    async def _generate(self, kind: str, comment: str) -> None:
        path = self.root.resolve(self._key(kind))
        await self.runner.run(
            ["ssh-keygen", "-q", "-N", "", "-t", kind, "-C", comment, "-f", str(path)],
            timeout=KEYGEN_TIMEOUT,
        )

    async def fingerprint(self) -> str:
        """The fingerprint of the host key (type rsa when the configured type is auto)."""
        kind = "rsa" if self.key_type == "auto" else self.key_type
        public = self.root.resolve(f"{self._key(kind)}.pub")
        result = await self.runner.run(
            ["ssh-keygen", "-lf", str(public)], timeout=KEYGEN_TIMEOUT, check=False
        )
        fields = result.stdout.split()
        if not result.ok or len(fields) < 2:
            raise Failed(f"Failed to generate ssh host key: {public.name}: {result.message()}")
        return fields[1].replace(":", "")
