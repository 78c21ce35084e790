"""The other services the provisioner talks to, as the logic sees them (bus.py implements them).

Tests give the logic small fakes of these; the integration tests use the real wire service and
stand-ins for the services waagent does not own (hostnamed, systemd) on a private bus.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..common.models.goal_state import Certificate


class Wire(Protocol):
    """org.waagent.Wire1: health reports, tenant certificates, instance metadata."""

    async def report_health(self, state: str, substatus: str, description: str) -> None: ...

    async def certificates(self) -> list[Certificate]: ...

    async def refresh(self) -> None:
        """Fetch the goal state now (a fresh wire has no certificates until its first fetch)."""
        ...

    async def instance_metadata(self) -> str: ...


class Units(Protocol):
    """org.freedesktop.systemd1; every method returns False when systemd is not on the bus."""

    async def try_restart(self, candidates: Sequence[str]) -> str | bool:
        """Try-reload-or-restart the first of `candidates` that exists; its name, or False."""
        ...

    async def stop(self, unit: str) -> bool: ...

    async def enabled(self, unit: str) -> bool | None:
        """Whether the unit is enabled; None when systemd is not on the bus."""
        ...
