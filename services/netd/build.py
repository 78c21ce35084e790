"""Putting netd's pieces together (the bus service, the boot-time setup, the tests)."""

from __future__ import annotations

from dbus_fast.aio import MessageBus

from ..common.clients.wire import WireClient
from ..common.commands import CommandRunner
from ..common.config import AgentConfig
from ..common.root import Root
from .dhcp_clients import Networkd, NetworkManager
from .dhcp_routes import DhcpRoutes
from .firewall import Firewall
from .firewalld import Firewalld
from .iptables import Iptables
from .nftables import Nftables
from .publish import Publisher
from .rdma_address import RdmaAddress
from .service import NetworkService
from .telemetry import Telemetry


def build_firewall(runner: CommandRunner) -> Firewall:
    # In order of preference (see firewall.py).
    return Firewall([Firewalld(runner), Nftables(runner), Iptables(runner)])


def build_service(
    config: AgentConfig,
    root: Root,
    runner: CommandRunner,
    bus: MessageBus | None = None,
    telemetry: Telemetry | None = None,
) -> NetworkService:
    """Without a bus (the boot-time units): the firewall and the routes, no publishing; events
    only with `telemetry`."""
    firewall, routes = build_firewall(runner), DhcpRoutes(root, runner)
    if bus is None:
        return NetworkService(config, root, firewall, routes=routes, telemetry=telemetry)
    publisher = Publisher(runner, [Networkd(bus), NetworkManager(bus)])
    return NetworkService(
        config,
        root,
        firewall,
        routes=routes,
        rdma=RdmaAddress(runner),
        publisher=publisher,
        telemetry=Telemetry(WireClient(bus)),
    )
