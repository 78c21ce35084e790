"""The client of org.waagent.Provisioner1 that wire uses: handing over the JIT users, and asking
for the hostname to be published again after a change (Provisioning.MonitorHostName)."""

from __future__ import annotations

from dbus_fast.aio import MessageBus

from ..bus.client import call
from ..models.remote_access import RemoteAccessUpdate
from ..names import PROVISIONER

# The provisioner may be bus-activated first, and it only queues the work before it replies.
APPLY_TIMEOUT = 60.0
# Behind a provisioning run (one job at a time), then netd's publication.
KEEP_TIMEOUT = 300.0


class ProvisionerClient:
    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    async def apply_remote_access(self, update: RemoteAccessUpdate) -> None:
        await call(
            self.bus,
            PROVISIONER,
            "ApplyRemoteAccess",
            "s",
            [update.model_dump_json()],
            timeout=APPLY_TIMEOUT,
        )

    async def keep_hostname(self) -> None:
        await call(self.bus, PROVISIONER, "KeepHostname", timeout=KEEP_TIMEOUT)
