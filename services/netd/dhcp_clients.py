"""The DHCP clients netd can ask to send the current hostname again, over their bus APIs.

systemd-networkd: `ReconfigureLink` (found in a booted Debian 12, systemd 252): networkd sets
the DHCP client's host name (option 12) from gethostname() only when it configures a link, and
neither notices a hostname change nor puts the new name into a `RenewLink` (that REQUEST still
carries the old name). Reconfiguring keeps the link up (no carrier loss, same ifindex): the
client releases the lease and asks again with the new name, and gets the same address back.

NetworkManager: the applied connection with `ipv4.dhcp-hostname` set to the name, given back
with `Device.Reapply`, which restarts the DHCP client on the active device without taking it
down. Written from NetworkManager's documented D-Bus API; tested against a stand-in only.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from dbus_fast import Variant
from dbus_fast.aio import MessageBus

from ..common.bus.client import call, to_bus_daemon
from ..common.errors import WaagentError
from ..common.names import NETWORK_MANAGER, NETWORKD, BusName

log = logging.getLogger(__name__)

NM_DEVICE = "org.freedesktop.NetworkManager.Device"
NM_ACTIVATED = 100
NETWORKD_LINK = "org.freedesktop.network1.Link"
# networkd's AdministrativeState of the links it does not manage.
NETWORKD_UNMANAGED = ("unmanaged", "pending", "initialized", "")


class DhcpClient(Protocol):
    name: str

    async def manages(self, ifname: str, ifindex: int) -> bool:
        """Whether this client runs and manages the interface (it is never started for this)."""
        ...

    async def send_hostname(self, ifname: str, ifindex: int, hostname: str) -> None: ...


async def has_owner(bus: MessageBus, name: str) -> bool:
    reply = await bus.call(to_bus_daemon("NameHasOwner", "s", [name]))
    return bool(reply is not None and reply.body and reply.body[0])


async def _property(bus: MessageBus, service: BusName, path: str, interface: str, prop: str) -> Any:
    reply = await call(
        bus,
        service,
        "Get",
        "ss",
        [interface, prop],
        path=path,
        interface="org.freedesktop.DBus.Properties",
    )
    value = reply.body[0]
    return value.value if isinstance(value, Variant) else value


class Networkd:
    name = "systemd-networkd"

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    async def manages(self, ifname: str, ifindex: int) -> bool:
        if not await has_owner(self.bus, NETWORKD.name):
            return False
        try:
            reply = await call(self.bus, NETWORKD, "GetLinkByIndex", "i", [ifindex],
                               interface=f"{NETWORKD.name}.Manager")  # fmt: skip
            path = str(reply.body[1])
            state = await _property(self.bus, NETWORKD, path, NETWORKD_LINK, "AdministrativeState")
        except WaagentError as exc:  # a link networkd does not know
            log.debug("systemd-networkd: %s: %s", ifname, exc.message)
            return False
        return str(state) not in NETWORKD_UNMANAGED

    async def send_hostname(self, ifname: str, ifindex: int, hostname: str) -> None:
        # networkd takes the name from gethostname() itself, which is `hostname` (the caller
        # publishes the current name).
        await call(self.bus, NETWORKD, "ReconfigureLink", "i", [ifindex],
                   interface=f"{NETWORKD.name}.Manager")  # fmt: skip


class NetworkManager:
    name = "NetworkManager"

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    async def _device(self, ifname: str) -> str:
        reply = await call(self.bus, NETWORK_MANAGER, "GetDeviceByIpIface", "s", [ifname])
        return str(reply.body[0])

    async def manages(self, ifname: str, ifindex: int) -> bool:
        if not await has_owner(self.bus, NETWORK_MANAGER.name):
            return False
        try:
            device = await self._device(ifname)
            state = await _property(self.bus, NETWORK_MANAGER, device, NM_DEVICE, "State")
        except WaagentError as exc:  # a device NetworkManager does not know
            log.debug("NetworkManager: %s: %s", ifname, exc.message)
            return False
        return int(state) == NM_ACTIVATED

    async def send_hostname(self, ifname: str, ifindex: int, hostname: str) -> None:
        device = await self._device(ifname)
        reply = await call(self.bus, NETWORK_MANAGER, "GetAppliedConnection", "u", [0],
                           path=device, interface=NM_DEVICE)  # fmt: skip
        settings: dict[str, dict[str, Variant]] = reply.body[0]
        version_id = int(reply.body[1])
        settings.setdefault("ipv4", {})["dhcp-hostname"] = Variant("s", hostname)
        await call(self.bus, NETWORK_MANAGER, "Reapply", "a{sa{sv}}tu",
                   [settings, version_id, 0], path=device, interface=NM_DEVICE)  # fmt: skip
