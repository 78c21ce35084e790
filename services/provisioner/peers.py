"""Wire as the provisioner's logic sees it (bus.py implements it; systemd and hostnamed are
`common.clients.systemd.Units` and `common.clients.hostname.HostnameService`).

Tests give the logic small fakes of these; the integration tests use the real wire service and
stand-ins for the services waagent does not own (hostnamed, systemd) on a private bus.
"""

from __future__ import annotations

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
