"""Finding the WireServer (§2.1, §2.2): route table, DHCP leases (option 245), well-known address.

The route table is the kernel's (`/proc/net/route` of the namespace wire runs in); lease files are
files, read inside the service's root. Sending a DHCP request ourselves (§2.3) needs port 68 and
CAP_NET_BIND_SERVICE, which wire does not have: without a route or a lease it uses 168.63.129.16,
the address every Azure VM can reach.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..common.root import Root

log = logging.getLogger(__name__)

KNOWN_WIRESERVER = "168.63.129.16"
ROUTE_HEX = "10813FA8"
ROUTE_TABLE = Path("/proc/net/route")  # 168.63.129.16 as the kernel's little-endian route-table hex

# Lease files of every DHCP client family (§2.2); the newest valid lease wins.
ISC_LEASE_GLOBS = (
    ("/var/lib/dhcp", "dhclient*.leases"),
    ("/var/lib/dhclient", "dhclient*.lease"),
    ("/var/lib/dhclient", "dhclient*.leases"),
    ("/var/lib/NetworkManager", "dhclient-*.lease"),
)
NETWORKD_LEASE_DIR = "/run/systemd/netif/leases"

_OPTION_245 = re.compile(r"option\s+unknown-245\s+([0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2}){3})\s*;")
_EXPIRE = re.compile(r"expire\s+(?:\d+\s+)?(\d{4}/\d{1,2}/\d{1,2}\s+\d{1,2}:\d{2}:\d{2})")
_NETWORKD = re.compile(r"^OPTION_245=([0-9a-fA-F]{8})\s*$", re.MULTILINE)


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


def parse_isc_leases(text: str, now: datetime) -> str | None:
    """The last unexpired lease carrying option 245, as a dotted address."""
    found = None
    candidate: str | None = None
    expired = True
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("lease"):
            candidate, expired = None, True
        elif "expire" in stripped:
            if "never" in stripped:
                expired = False
            elif match := _EXPIRE.search(stripped):
                when = datetime.strptime(match.group(1), "%Y/%m/%d %H:%M:%S").replace(tzinfo=UTC)
                expired = when <= now
        elif match := _OPTION_245.search(stripped):
            candidate = ".".join(str(int(part, 16)) for part in match.group(1).split(":"))
        if "}" in stripped and candidate and not expired:
            found = candidate
    return found


def parse_networkd_lease(text: str) -> str | None:
    match = _NETWORKD.search(text)
    if not match:
        return None
    return str(ipaddress.IPv4Address(bytes.fromhex(match.group(1))))


def _lease_files(root: Root) -> list[tuple[Path, str]]:
    files = [
        (path, "isc")
        for directory, pattern in ISC_LEASE_GLOBS
        for path in root.glob(directory, pattern)
    ]
    files += [(path, "networkd") for path in root.glob(NETWORKD_LEASE_DIR, "*")]
    return files


def from_leases(root: Root, now: datetime | None = None) -> Discovery | None:
    """The endpoint from the most recently written lease file that has a valid option 245."""
    now = now or datetime.now(UTC)
    best: tuple[float, Discovery] | None = None
    for path, kind in _lease_files(root):
        try:
            text = path.read_text(errors="replace")
            mtime = path.stat().st_mtime
        except OSError:
            continue
        endpoint = parse_isc_leases(text, now) if kind == "isc" else parse_networkd_lease(text)
        if endpoint and (best is None or mtime >= best[0]):
            best = (mtime, Discovery(endpoint, f"lease {root.inner(path)}"))
    return best[1] if best else None


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
