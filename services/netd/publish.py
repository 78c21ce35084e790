"""Publishing the hostname (reference §6.6): make the DHCP server receive the current name.

The primary interface is the one of the default route (the lowest metric), else the one the
WireServer is reached through (an Azure lease may carry classless routes only). The DHCP client
that manages it is asked over its bus API to send the name again without taking the link down
(dhcp_clients.py). Where ifupdown manages it instead, the classic bounce: `ifdown` and `ifup`,
which restart its DHCP client (that sends the name from its configuration) and put the
interface's configuration back. Never a bare `ip link set down/up`: the kernel drops the routes
of a link that goes down, and dhclient neither notices nor re-adds them, so the VM would lose
the WireServer and the name would not be sent. Anything else fails with the reason and the
link is left alone (the DHCP client sends the name at its next renewal where configured to).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from ..common.commands import CommandRunner
from ..common.errors import Failed
from ..common.models.base import FrozenModel
from .dhcp_clients import DhcpClient

log = logging.getLogger(__name__)

IP_TIMEOUT = 10.0
BOUNCE = "ifupdown"
IFUPDOWN_TIMEOUT = 120.0  # ifup waits for the DHCP client's lease
WIRESERVER = "168.63.129.16"


class Route(BaseModel):
    """One entry of `ip -j route` (which has many more fields)."""

    model_config = ConfigDict(strict=True, extra="ignore")
    dst: str
    dev: str = ""
    metric: int = 0


class Link(BaseModel):
    """One entry of `ip -j link`."""

    model_config = ConfigDict(strict=True, extra="ignore")
    ifindex: int
    ifname: str


ROUTES = TypeAdapter(tuple[Route, ...])
LINKS = TypeAdapter(tuple[Link, ...])


class Publication(FrozenModel):
    """The last publication: what was sent, through which client, when (UTC), or why not."""

    hostname: str = ""
    method: str = ""
    interface: str = ""
    at: str = ""
    error: str = ""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def route_dev(ip_json: str, dst: str = "default") -> str | None:
    """The interface of the route to `dst` with the lowest metric, from `ip -j route`."""
    try:
        routes = ROUTES.validate_json(ip_json or "[]")
    except ValidationError:
        raise Failed("ip -j route printed something that is not a route list") from None
    found = sorted((r for r in routes if r.dst == dst and r.dev), key=lambda r: r.metric)
    return found[0].dev if found else None


def ifindex_of(ip_json: str, ifname: str) -> int:
    """The index of `ifname`, from `ip -j link show dev <ifname>`."""
    try:
        links = LINKS.validate_json(ip_json or "[]")
    except ValidationError:
        raise Failed("ip -j link printed something that is not a link list") from None
    for link in links:
        if link.ifname == ifname:
            return link.ifindex
    raise Failed(f"interface {ifname} is gone")


class Publisher:
    def __init__(self, runner: CommandRunner, clients: Sequence[DhcpClient]) -> None:
        self.runner = runner
        self.clients = list(clients)

    async def primary_interface(self) -> tuple[str, int]:
        ip = ("ip", "-j", "route")
        result = await self.runner.run([*ip, "show", "default"], timeout=IP_TIMEOUT)
        name = route_dev(result.stdout)
        if name is None:
            get = [*ip, "get", WIRESERVER]
            result = await self.runner.run(get, timeout=IP_TIMEOUT, check=False)
            name = route_dev(result.stdout if result.ok else "", WIRESERVER)
        if name is None:
            raise Failed(
                f"no default route and no route to {WIRESERVER}: no interface to publish the "
                "hostname on"
            )
        # Through `ip` too (not if_nametoindex): the namespace the commands run in decides.
        link = await self.runner.run(
            ["ip", "-j", "link", "show", "dev", name], timeout=IP_TIMEOUT, check=False
        )
        return name, ifindex_of(link.stdout if link.ok else "", name)

    async def _ifupdown_manages(self, ifname: str) -> bool:
        # Without ifupdown the command is missing: not ok.
        state = await self.runner.run(
            ["ifquery", "--state", ifname], timeout=IP_TIMEOUT, check=False
        )
        return state.ok and state.stdout.strip().startswith(f"{ifname}=")

    async def _bounce(self, ifname: str) -> None:
        for verb in ("ifdown", "ifup"):
            await self.runner.run([verb, ifname], timeout=IFUPDOWN_TIMEOUT)

    async def publish(self, hostname: str) -> Publication:
        """Send `hostname` (the current one) to the DHCP server; Failed if it cannot be."""
        ifname, ifindex = await self.primary_interface()
        for client in self.clients:
            if await client.manages(ifname, ifindex):
                await client.send_hostname(ifname, ifindex, hostname)
                method = client.name
                break
        else:
            if not await self._ifupdown_manages(ifname):
                raise Failed(
                    f"no DHCP client waagent can ask manages {ifname} (systemd-networkd, "
                    "NetworkManager, ifupdown): the link is left alone"
                )
            await self._bounce(ifname)
            method = BOUNCE
        log.info("hostname %s published on %s (%s)", hostname, ifname, method)
        return Publication(hostname=hostname, method=method, interface=ifname, at=now())
