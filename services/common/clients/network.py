"""The client of org.waagent.Network1 (netd) for the other programs: publishing the hostname
(the provisioner), the RDMA address (waagent-rdma)."""

from __future__ import annotations

from typing import Protocol

from dbus_fast.aio import MessageBus

from ..bus.client import call, start_service
from ..names import NETWORK

# netd may be bus-activated first; ifdown/ifup or a DHCP exchange takes a few seconds at most.
PUBLISH_TIMEOUT = 60.0


class NetworkApi(Protocol):
    async def start(self) -> None:
        """Have netd activated now, so a later call does not wait for its start."""
        ...

    async def publish_hostname(self) -> None:
        """Make the DHCP server receive the current hostname (netd's PublishHostname)."""
        ...


class NetworkClient:
    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    async def set_rdma_address(self, mac: str, address: str) -> str:
        """The interface that got `address` (netd finds it by `mac`)."""
        reply = await call(self.bus, NETWORK, "SetRdmaAddress", "ss", [mac, address])
        return str(reply.body[0])

    async def start(self) -> None:
        await start_service(self.bus, NETWORK.name, timeout=PUBLISH_TIMEOUT)

    async def publish_hostname(self) -> None:
        await call(self.bus, NETWORK, "PublishHostname", timeout=PUBLISH_TIMEOUT)
