"""The client of org.waagent.Network1 (netd) for the other programs: the RDMA address."""

from __future__ import annotations

from dbus_fast.aio import MessageBus

from ..bus.client import call
from ..names import NETWORK


class NetworkClient:
    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    async def set_rdma_address(self, mac: str, address: str) -> str:
        """The interface that got `address` (netd finds it by `mac`)."""
        reply = await call(self.bus, NETWORK, "SetRdmaAddress", "ss", [mac, address])
        return str(reply.body[0])
