"""Finding the WireServer (§2.1, §2.2): route table, DHCP leases (option 245), well-known address.

The route table is the kernel's (`/proc/net/route` of the namespace wire runs in); lease files are
files, read inside the service's root. Sending a DHCP request ourselves (§2.3) needs port 68 and
CAP_NET_BIND_SERVICE, which wire does not have: without a route or a lease it uses 168.63.129.16,
the address every Azure VM can reach.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..common.dhcp_leases import read_leases
from ..common.root import Root

log = logging.getLogger(__name__)

KNOWN_WIRESERVER = "168.63.129.16"
ROUTE_HEX = "10813FA8"
ROUTE_TABLE = Path("/proc/net/route")  # 168.63.129.16 as the kernel's little-endian route-table hex


@dataclass(frozen=True)
class Discovery:
    endpoint: str
    source: str  # "route", "lease <path>", "state file", "well-known address"


def route_to_wireserver(route_table: str) -> bool:
    """True when the route table holds a route whose destination is 168.63.129.16."""
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 1 and fields[1].upper() == ROUTE_HEX:
            return True
    return False


def from_leases(root: Root, now: datetime | None = None) -> Discovery | None:
    """The endpoint from the most recently written lease that has a valid option 245 (§2.2;
    the lease files of every DHCP client family, common/dhcp_leases.py)."""
    with_endpoint = [lease for lease in read_leases(root, now) if lease.endpoint]
    if not with_endpoint:
        return None
    lease = with_endpoint[-1]
    assert lease.endpoint is not None
    return Discovery(lease.endpoint, f"lease {lease.path}")


def discover(
    root: Root,
    *,
    method: str = "dhcp",
    route_table_path: Path = ROUTE_TABLE,
) -> Discovery:
    """§2.1: with `Protocol.EndpointDiscovery=dhcp` look at routes then leases; else well-known."""
    if method == "dhcp":
        try:
            if route_to_wireserver(route_table_path.read_text()):
                return Discovery(KNOWN_WIRESERVER, "route")
        except OSError as exc:
            log.debug("no route table (%s)", exc)
        if found := from_leases(root):
            return found
    return Discovery(KNOWN_WIRESERVER, "well-known address")
