"""netd's telemetry: classic GuestAgentExtensionEvents handed to wire's SendEvents.

Operations (reference §10.12): `HostnamePublishing` when a publication fails (classic's message
"Error while publishing the hostname: ..."), `Firewall` for each setup of the WireServer rules,
and `PersistFirewallRules` for each run of the boot and refresh units (`--setup-firewall`), which
are what keeps the rules across reboots here. An event that cannot be sent is logged, never a
failure of the work itself.

The units run without a bus connection of their own, at boot before the network (and so before
wire): `RunningWire` sends only to a wire that is already running, and never bus-activates it
(wire waits for the network, which waits for the boot unit).
"""

from __future__ import annotations

import asyncio
import logging

from ..common.bus.client import connect_system_bus
from ..common.clients.wire import WireApi, WireClient
from ..common.errors import WaagentError
from ..common.models.events import TelemetryBatch, agent_event
from ..common.names import WIRE
from .dhcp_clients import has_owner

log = logging.getLogger(__name__)

HOSTNAME_PUBLISHING = "HostnamePublishing"
FIREWALL = "Firewall"
PERSIST_FIREWALL_RULES = "PersistFirewallRules"
# Bounds what an early boot pays when the bus socket listens before dbus-daemon runs.
CONNECT_TIMEOUT = 2.0
MAX_MESSAGE = 3200


class RunningWire:
    """The events of a process without a bus connection, to wire only when it already runs."""

    async def send_events(self, batch: TelemetryBatch) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                bus = await connect_system_bus()
        except (OSError, TimeoutError) as exc:
            log.debug("no system bus for the events: %s", exc)
            return
        try:
            if await has_owner(bus, WIRE.name):
                await WireClient(bus).send_events(batch)
            else:
                log.debug("wire is not running: events not sent")
        finally:
            bus.disconnect()


class Telemetry:
    """Events to wire; without wire (the boot-time setup, before the network) only logged."""

    def __init__(self, wire: WireApi | RunningWire | None) -> None:
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
