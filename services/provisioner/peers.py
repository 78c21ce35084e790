"""The other services the provisioner talks to, as the logic sees them (bus.py implements them;
wire's Protocol and client are `common/clients/wire.py`, named `Wire` here for the logic).

Tests give the logic small fakes of these; the integration tests use the real wire service and
stand-ins for the services waagent does not own (hostnamed, systemd) on a private bus.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..common.clients.wire import WireApi as Wire

__all__ = ["Units", "Wire"]


class Units(Protocol):
    """org.freedesktop.systemd1; every method returns False when systemd is not on the bus."""

    async def try_restart(self, candidates: Sequence[str]) -> str | bool:
        """Try-reload-or-restart the first of `candidates` that exists; its name, or False."""
        ...

    async def stop(self, unit: str) -> bool: ...

    async def enabled(self, unit: str) -> bool | None:
        """Whether the unit is enabled; None when systemd is not on the bus."""
        ...
