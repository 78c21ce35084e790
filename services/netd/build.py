"""Putting netd's pieces together (the bus service, the boot-time setup, the tests)."""

from __future__ import annotations

from ..common.commands import CommandRunner
from ..common.config import AgentConfig
from ..common.root import Root
from .dhcp_routes import DhcpRoutes
from .firewall import Firewall
from .firewalld import Firewalld
from .iptables import Iptables
from .nftables import Nftables
from .rdma_address import RdmaAddress
from .service import NetworkService


def build_firewall(runner: CommandRunner) -> Firewall:
    # In order of preference (see firewall.py).
    return Firewall([Firewalld(runner), Nftables(runner), Iptables(runner)])


def build_service(config: AgentConfig, root: Root, runner: CommandRunner) -> NetworkService:
    return NetworkService(
        config,
        root,
        build_firewall(runner),
        routes=DhcpRoutes(root, runner),
        rdma=RdmaAddress(runner),
    )
