"""The provisioner's telemetry (reference §6.3 steps 9-10, §10.12), sent through wire's SendEvents
as classic names it: `Provision` once per run that provisions (success with its duration, or the
failure), and `ProvisionGuestAgent` with the OVF's raw value once per provisioning. A run that
finds the VM provisioned already sends nothing, as classic. Sending never fails a run: a wire
that cannot take the events is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from ..common.clients.wire import WireApi as Wire
from ..common.errors import WaagentError
from ..common.models.events import TelemetryBatch, TelemetryEvent, agent_event

log = logging.getLogger(__name__)

PROVISION = "Provision"
PROVISION_GUEST_AGENT = "ProvisionGuestAgent"


def uptime() -> int:
    """Seconds since boot, as classic's "(<uptime>s)"."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME))


async def send(wire: Wire, events: Iterable[TelemetryEvent], what: str) -> None:
    batch = TelemetryBatch(events=tuple(events))
    if not batch.events:
        return
    try:
        await wire.send_events(batch)
    except WaagentError as exc:
        log.warning("%s events not sent: %s", what, exc.message)


async def provisioned(
    wire: Wire, provision_guest_agent: str, seconds: float, *, cloud_init: bool
) -> None:
    """A run that provisioned: `Provision` and `ProvisionGuestAgent` (the raw OVF value)."""
    how = "Provisioning with cloud-init succeeded" if cloud_init else "Provisioning succeeded"
    events = (
        agent_event(PROVISION, True, f"{how} ({uptime()}s)", int(seconds * 1000)),
        agent_event(PROVISION_GUEST_AGENT, True, provision_guest_agent),
    )
    await send(wire, events, PROVISION)


async def failed(wire: Wire, reason: str) -> None:
    message = f"Provisioning failed: {reason} ({uptime()}s)"
    await send(wire, (agent_event(PROVISION, False, message),), PROVISION)
