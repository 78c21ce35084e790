"""The client of org.freedesktop.hostname1 (systemd-hostnamed): setting the hostname."""

from __future__ import annotations

from typing import Protocol

from dbus_fast.aio import MessageBus

from ..bus.client import ServiceUnavailable, call
from ..names import HOSTNAME


class HostnameService(Protocol):
    """org.freedesktop.hostname1: False when it is not on the bus."""

    async def set_hostname(self, name: str) -> bool: ...


class HostnameClient:
    """HostnameService through hostnamed: the static name (/etc/hostname), then the kernel's."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    async def set_hostname(self, name: str) -> bool:
        try:
            await call(self.bus, HOSTNAME, "SetStaticHostname", "sb", [name, False])
        except ServiceUnavailable:
            return False
        await call(self.bus, HOSTNAME, "SetHostname", "sb", [name, False])
        return True
