"""The client of org.waagent.Provisioner1 that wire uses: handing over the JIT users, and asking
whether provisioning is done (its State) before the first extensions hand-over, and for the
hostname to be published again after a change (Provisioning.MonitorHostName)."""

from __future__ import annotations

from dbus_fast.aio import MessageBus

from ..bus.client import call
from ..models.remote_access import RemoteAccessUpdate
from ..names import PROVISIONER

# The provisioner may be bus-activated first, and it only queues the work before it replies.
APPLY_TIMEOUT = 60.0
# Behind a provisioning run (one job at a time), then netd's publication.
KEEP_TIMEOUT = 300.0


PROPERTIES = "org.freedesktop.DBus.Properties"


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

    async def state(self) -> str:
        """The State property (Provisioning, Provisioned, Failed, NotProvisioned); the call
        bus-activates the provisioner, which has decided its state before it answers."""
        reply = await call(
            self.bus,
            PROVISIONER,
            "Get",
            "ss",
            [PROVISIONER.interface, "State"],
            interface=PROPERTIES,
            timeout=APPLY_TIMEOUT,
        )
        return str(reply.body[0].value)

    async def keep_hostname(self) -> None:
        await call(self.bus, PROVISIONER, "KeepHostname", timeout=KEEP_TIMEOUT)
