"""org.waagent.Network1: the D-Bus adapter of netd (the only module of the service using dbus_fast).

Every method is root only: they change who may reach the WireServer, an interface's routes or
address, or make the DHCP client ask again (the provisioner calls PublishHostname after it sets
or keeps the hostname).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

from dbus_fast.annotations import DBusSignature, DBusStr

from ..common.bus import ROOT_ONLY, bus_method
from ..common.bus.properties import Shown, StatusInterface
from ..common.names import NETWORK
from .rdma_address import parse_ipv4, parse_mac
from .rules import parse_endpoint
from .service import NetworkService

NoValue = Annotated[None, DBusSignature("")]


def _check_endpoint(self: NetworkInterface, endpoint: str) -> None:
    parse_endpoint(endpoint)


def _check_rdma(self: NetworkInterface, mac: str, address: str) -> None:
    parse_mac(mac)
    parse_ipv4(address)


class NetworkInterface(StatusInterface):
    NAME = NETWORK.interface
    # D-Bus property -> NetworkStatus field.
    SHOWN: ClassVar[Mapping[str, Shown]] = {
        "FirewallState": Shown("firewall_state", "s"),
        "Endpoint": Shown("endpoint", "s"),
        "Backend": Shown("backend", "s"),
        "LastError": Shown("last_error", "s"),
        "DhcpLease": Shown("dhcp_lease", "s"),
        "DhcpRoutes": Shown("dhcp_routes", "as"),
        "DhcpRoutesAdded": Shown("dhcp_routes_added", "as"),
        "DhcpRoutesFailed": Shown("dhcp_routes_failed", "as"),
        "PublishedHostname": Shown("published_hostname", "s"),
        "PublishMethod": Shown("publish_method", "s"),
        "PublishedAt": Shown("published_at", "s"),
        "PublishError": Shown("publish_error", "s"),
    }

    def __init__(self, service: NetworkService) -> None:
        super().__init__(lambda: service.status)
        self._service = service
        service.listeners.append(self.status_changed)

    @bus_method(auth=ROOT_ONLY, validate=_check_endpoint)
    async def SetupFirewall(self, endpoint: DBusStr) -> NoValue:
        await self._service.setup_firewall(parse_endpoint(endpoint))

    @bus_method(auth=ROOT_ONLY)
    async def RemoveFirewall(self) -> NoValue:
        await self._service.remove_firewall()

    @bus_method(auth=ROOT_ONLY)
    async def ApplyDhcpRoutes(self) -> NoValue:
        """Add the active DHCP lease's routes that are missing (§10.10)."""
        await self._service.apply_dhcp_routes()

    @bus_method(auth=ROOT_ONLY, validate=_check_rdma)
    async def SetRdmaAddress(self, mac: DBusStr, address: DBusStr) -> DBusStr:
        return await self._service.set_rdma_address(mac, address)

    @bus_method(auth=ROOT_ONLY)
    async def PublishHostname(self) -> NoValue:
        await self._service.publish_hostname()
