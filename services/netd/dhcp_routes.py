"""DHCP routes (§10.10): what the lease asks for and the DHCP client did not install, netd adds.

From the active lease (common/dhcp_leases.py: networkd, dhclient, NetworkManager, dhcpcd): the
classless static routes (option 121, else 249) with dotted addresses (the classic agent passed
integers, a bug), the default route through the lease's router when there is none (and option 121
does not carry one), and a host route to the WireServer and to IMDS when neither a route of the
lease nor any other reaches them. Routes already present (by destination, in the main table) are
left as they are: the DHCP client and the admin come first; netd never removes a route.

The routing table is read and changed with `ip` (netlink), each call with a timeout. The result
is kept in /run/waagent/dhcp-routes.json for the bus properties and `waagent status`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..common.commands import CommandRunner
from ..common.dhcp_leases import Lease, LeaseRoute, newest, read_leases
from ..common.errors import WaagentError
from ..common.models.base import FrozenModel
from ..common.root import Root

if TYPE_CHECKING:
    from .service import NetworkService

log = logging.getLogger(__name__)

IP_TIMEOUT = 10.0
WIRESERVER, IMDS = "168.63.129.16", "169.254.169.254"
RECORD = "/run/waagent/dhcp-routes.json"
DEFAULT = "0.0.0.0/0"


class RoutesRecord(FrozenModel):
    """What the last apply found and did (empty lease: no lease was found)."""

    lease: str = ""
    wanted: tuple[str, ...] = ()  # "10.99.0.0/16 via 10.0.0.1", in the lease's order
    added: tuple[str, ...] = ()  # by netd, the last time
    failed: tuple[str, ...] = ()  # "<route>: <one line why>"


def _normalized(destination: str) -> str:
    if destination == "default":
        return DEFAULT
    return str(ipaddress.IPv4Network(destination, strict=False))


def wanted_routes(lease: Lease) -> list[LeaseRoute]:
    """The lease's routes, and the default through its router when they do not carry one."""
    routes = list(lease.routes)
    if lease.routers and all(route.destination != DEFAULT for route in routes):
        routes.append(LeaseRoute(destination=DEFAULT, gateway=lease.routers[0]))
    return routes


def _gateway(lease: Lease) -> str | None:
    if lease.routers:
        return lease.routers[0]
    return next((route.gateway for route in lease.routes), None)


class DhcpRoutes:
    def __init__(self, root: Root, runner: CommandRunner) -> None:
        self.root = root
        self.runner = runner

    async def _ip(self, *argv: str) -> tuple[bool, str]:
        result = await self.runner.run(["ip", *argv], timeout=IP_TIMEOUT, check=False)
        return result.ok, result.stdout if result.ok else result.message()

    async def present(self) -> set[str]:
        """Destinations of the main table's IPv4 routes."""
        ok, out = await self._ip("-4", "-json", "route", "show", "table", "main")
        if not ok:
            raise OSError(f"ip route show failed: {out}")
        entries: Any = json.loads(out or "[]")
        if not isinstance(entries, list):
            raise OSError("ip -json route show: not a list")
        found = set()
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("dst"), str):
                try:
                    found.add(_normalized(entry["dst"]))
                except ValueError:
                    continue
        return found

    async def reachable(self, address: str) -> bool:
        ok, _ = await self._ip("-4", "route", "get", address)
        return ok

    async def _add(self, route: LeaseRoute) -> str | None:
        """None when added (or there already); else the one-line reason."""
        ok, message = await self._ip("route", "add", route.destination, "via", route.gateway)
        if ok or "File exists" in message:
            return None
        return message

    async def apply(self, lease: Lease | None = None) -> RoutesRecord:
        lease = lease or newest(read_leases(self.root))
        if lease is None:
            log.info("no DHCP lease found: no routes to check")
            return self._save(RoutesRecord())
        wanted = wanted_routes(lease)
        present = await self.present()
        added: list[str] = []
        failed: list[str] = []

        async def add(route: LeaseRoute) -> None:
            reason = await self._add(route)
            if reason is None:
                added.append(str(route))
                present.add(route.destination)
            else:
                failed.append(f"{route}: {reason}")

        for route in wanted:
            if route.destination not in present:
                await add(route)
        gateway = _gateway(lease)
        for address in dict.fromkeys((WIRESERVER, IMDS, lease.endpoint or WIRESERVER)):
            if gateway is not None and not await self.reachable(address):
                await add(LeaseRoute(destination=f"{address}/32", gateway=gateway))
        record = RoutesRecord(
            lease=lease.path,
            wanted=tuple(str(route) for route in wanted),
            added=tuple(added),
            failed=tuple(failed),
        )
        for line in failed:
            log.warning("DHCP route not added: %s", line)
        log.info("DHCP routes of %s: %d wanted, added %s", lease.path, len(wanted), added or "none")
        return self._save(record)

    def _save(self, record: RoutesRecord) -> RoutesRecord:
        try:
            self.root.makedirs(str(Path(RECORD).parent), 0o755)
            self.root.write_atomic(RECORD, record.model_dump_json() + "\n", mode=0o644)
        except OSError as exc:
            log.warning("cannot write %s: %s", RECORD, exc.strerror or exc)
        return record

    def last(self) -> RoutesRecord:
        """What the last apply of this boot did (an empty record before any)."""
        text = self.root.read_text(RECORD)
        if not text:
            return RoutesRecord()
        try:
            return RoutesRecord.model_validate_json(text)
        except ValueError:
            log.warning("%s is unreadable; ignoring it", RECORD)
            return RoutesRecord()


async def apply_dhcp_routes(service: NetworkService) -> int:
    """`waagent-netd --apply-dhcp-routes`: 0 when every wanted route is there afterwards."""
    try:
        record = await service.apply_dhcp_routes()
    except WaagentError as exc:
        log.error("%s", exc.message)
        return 1
    return 1 if record.failed else 0
