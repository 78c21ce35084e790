"""netd's telemetry: classic GuestAgentExtensionEvents handed to wire's SendEvents.

Operations (reference §10.12): `HostnamePublishing` when a publication fails (classic's message
"Error while publishing the hostname: ..."), `Firewall` for each setup of the WireServer rules
through the bus. An event that cannot be sent is logged, never a failure of the work itself.
"""

from __future__ import annotations

import logging

from ..common.clients.wire import WireApi
from ..common.errors import WaagentError
from ..common.models.events import TelemetryBatch, agent_event

log = logging.getLogger(__name__)

HOSTNAME_PUBLISHING = "HostnamePublishing"
FIREWALL = "Firewall"
MAX_MESSAGE = 3200


class Telemetry:
    """Events to wire; without wire (the boot-time setup, before the network) only logged."""

    def __init__(self, wire: WireApi | None) -> None:
        self.wire = wire

    async def send(self, operation: str, success: bool, message: str) -> None:
        if self.wire is None:
            log.debug("event %s not sent (no bus): %s", operation, message)
            return
        try:
            await self.wire.send_events(
                TelemetryBatch(events=(agent_event(operation, success, message[:MAX_MESSAGE]),))
            )
        except WaagentError as exc:
            log.warning("%s event not sent: %s", operation, exc.message)
