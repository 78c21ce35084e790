"""cloud-init as the provisioning agent: is it enabled, and waiting for its results (§6.3).

When cloud-init provisions, the provisioner only waits for what cloud-init leaves behind (the
ovf-env.xml it saved, the SSH host key) and then reports Ready, as classic's cloud-init handler.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ..common.clients.systemd import Units
from ..common.errors import Failed, WaagentError
from ..common.root import Root
from .host_keys import HostKeys
from .state import StateStore

T = TypeVar("T")

CLOUD_INIT_UNIT = "cloud-init-local.service"
CLOUD_INIT_DISABLED = "/etc/cloud/cloud-init.disabled"
CLOUD_INIT_ENABLED_ERROR = (
    "cloud-init appears to be installed and enabled, this is not expected, cannot continue"
)


@dataclass(frozen=True)
class CloudInitWaits:
    """How long the cloud-init handler waits for cloud-init's results (classic: 1800 x 1 s)."""

    ovf_env: float = 1800.0
    host_key: float = 1800.0
    poll: float = 1.0


@dataclass(frozen=True)
class CloudInit:
    root: Root
    units: Units
    store: StateStore
    host_keys: HostKeys
    waits: CloudInitWaits

    async def enabled(self) -> bool:
        if self.root.exists(CLOUD_INIT_DISABLED):
            return False
        enabled = await self.units.enabled(CLOUD_INIT_UNIT)
        return self._wanted() if enabled is None else enabled

    def _wanted(self) -> bool:
        """Without systemd on the bus: an enablement symlink in the root (its target may lie
        outside a sandbox, so lexists, not exists)."""
        wants = self.root.glob("/etc/systemd/system", "*.wants")
        return any(os.path.lexists(directory / CLOUD_INIT_UNIT) for directory in wants)

    async def ovf_env(self) -> bytes:
        """The ovf-env.xml cloud-init saved, once it is there."""
        return await self._wait_for(self._saved_ovf, self.waits.ovf_env, "ovf-env.xml")

    async def host_key(self) -> None:
        """Return once the SSH host key exists."""
        await self._wait_for(self._host_key_ready, self.waits.host_key, "the SSH host key")

    async def _saved_ovf(self) -> bytes | None:
        return self.store.saved_ovf()

    async def _host_key_ready(self) -> bool:
        try:
            await self.host_keys.fingerprint()
        except WaagentError:
            return False
        return True

    async def _wait_for(
        self, probe: Callable[[], Awaitable[T | None]], timeout: float, what: str
    ) -> T:
        deadline = time.monotonic() + timeout
        while True:
            value = await probe()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise Failed(f"cloud-init did not provide {what} within {timeout:g} s")
            await asyncio.sleep(self.waits.poll)
