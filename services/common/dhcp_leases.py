"""DHCP leases as the VM's DHCP client left them (reference §2.2, §10.10): one parser for all.

Wire reads option 245 (the WireServer endpoint) from them; netd reads the router and the
classless static routes (option 121, else Microsoft's 249) to put back what the client left out.
Formats, by client:

* ISC dhclient (Debian, RHEL, NetworkManager's dhclient plugin): `lease { ... }` blocks;
  `option unknown-245 a8:3f:81:10;`, `option rfc3442-classless-static-routes 32,168,...;` (or
  `unknown-121` in hex), `option ms-classless-static-routes` / `unknown-249`, `option routers`;
  the last unexpired block wins.
* systemd-networkd, and NetworkManager's internal client (same code, sd-dhcp): `KEY=VALUE` lines;
  `OPTION_245=a83f8110`, `CLASSLESS_ROUTES=168.63.129.16/32,10.0.0.1 ...`, `OPTION_249=<hex>`,
  `ROUTER=10.0.0.1`. No expiry is written: the file exists while the lease is held.
* dhcpcd: the DHCP reply itself, as received (`/var/lib/dhcpcd/*.lease`).

A file that does not parse is skipped with a debug line: the next lease or the well-known
address is always the answer, never an exception.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Literal

from .models.base import FrozenModel
from .root import Root

log = logging.getLogger(__name__)

LeaseFormat = Literal["isc", "networkd", "dhcpcd"]

# (directory, glob, format) of every DHCP client family; the newest valid lease wins.
LEASE_FILES: tuple[tuple[str, str, LeaseFormat], ...] = (
    ("/var/lib/dhcp", "dhclient*.leases", "isc"),
    ("/var/lib/dhclient", "dhclient*.lease", "isc"),
    ("/var/lib/dhclient", "dhclient*.leases", "isc"),
    ("/var/lib/NetworkManager", "dhclient-*.lease", "isc"),
    ("/var/lib/NetworkManager", "internal-*.lease", "networkd"),
    ("/run/systemd/netif/leases", "*", "networkd"),
    ("/var/lib/dhcpcd", "*.lease", "dhcpcd"),
)
LEASE_DIRECTORIES = tuple(sorted({directory for directory, _, _ in LEASE_FILES}))
MAX_LEASE_FILE = 1 << 20  # ISC files grow with every renewal, but not past this

ENDPOINT_OPTION, CLASSLESS_OPTION, MS_CLASSLESS_OPTION = 245, 121, 249


class LeaseRoute(FrozenModel):
    destination: str  # "168.63.129.16/32"
    gateway: str

    def __str__(self) -> str:
        return f"{self.destination} via {self.gateway}"


class Lease(FrozenModel):
    path: str  # inside the root
    format: LeaseFormat
    interface: str | None = None
    address: str | None = None
    routers: tuple[str, ...] = ()
    endpoint: str | None = None  # option 245
    routes: tuple[LeaseRoute, ...] = ()  # option 121, else 249
    mtime: float = 0.0


class LeaseError(ValueError):
    """A lease option that does not decode (the file is then skipped)."""


def _address(data: bytes) -> str:
    if len(data) != 4:
        raise LeaseError(f"{len(data)} bytes is not an IPv4 address")
    return str(ipaddress.IPv4Address(data))


def classless_routes(data: bytes) -> tuple[LeaseRoute, ...]:
    """Options 121 and 249 (RFC 3442): width, ceil(width/8) network octets, gateway (4).

    Addresses come out dotted (the classic agent passed them to `ip route` as integers, §10.10).
    """
    routes: list[LeaseRoute] = []
    at = 0
    while at < len(data):
        width = data[at]
        significant = (width + 7) // 8
        if width > 32 or at + 1 + significant + 4 > len(data):
            raise LeaseError("classless static routes do not decode")
        network = data[at + 1 : at + 1 + significant] + bytes(4 - significant)
        gateway = data[at + 1 + significant : at + 5 + significant]
        destination = ipaddress.IPv4Network((network, width), strict=False)
        routes.append(LeaseRoute(destination=str(destination), gateway=_address(gateway)))
        at += 5 + significant
    return tuple(routes)


# -- ISC dhclient -----------------------------------------------------------------------------

_ISC_OPTION = re.compile(r"^option\s+([\w-]+)\s+(.*?);\s*$")
_ISC_EXPIRE = re.compile(r"expire\s+(?:\d+\s+)?(\d{4}/\d{1,2}/\d{1,2}\s+\d{1,2}:\d{2}:\d{2})")
_HEX = re.compile(r"^[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2})*$")
_DECIMALS = re.compile(r"^\d{1,3}(?:\s*,\s*\d{1,3})*$")


def _isc_bytes(value: str) -> bytes:
    """`a8:3f:81:10` (an unknown option, hex) or `32,168,63,...` (a declared byte array)."""
    if _HEX.match(value) and ":" in value:
        return bytes(int(part, 16) for part in value.split(":"))
    if _DECIMALS.match(value):
        numbers = [int(part) for part in value.split(",")]
        if any(n > 255 for n in numbers):
            raise LeaseError(f"{value!r} is not a byte array")
        return bytes(numbers)
    if _HEX.match(value):  # a one-byte unknown option
        return bytes([int(value, 16)])
    raise LeaseError(f"{value!r} is neither hex bytes nor a byte array")


class _IscBlock:
    def __init__(self) -> None:
        self.expired = True
        self.fields: dict[str, str] = {}
        self.options: dict[str, str] = {}


def _isc_blocks(text: str, now: datetime) -> Iterator[_IscBlock]:
    """The unexpired `lease { }` blocks, in file order (§2.2's line rules)."""
    block: _IscBlock | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("lease"):
            block = _IscBlock()
        elif block is None:
            continue
        elif stripped.startswith("expire"):
            if "never" in stripped:
                block.expired = False
            elif match := _ISC_EXPIRE.search(stripped):
                when = datetime.strptime(match.group(1), "%Y/%m/%d %H:%M:%S").replace(tzinfo=UTC)
                block.expired = when <= now
        elif match := _ISC_OPTION.match(stripped):
            block.options[match.group(1)] = match.group(2).strip()
        elif " " in stripped:
            key, _, value = stripped.rstrip(";").partition(" ")
            block.fields[key] = value.strip().strip('"')
        if "}" in stripped:
            if not block.expired:
                yield block
            block = None


def _isc_routes(options: dict[str, str]) -> tuple[LeaseRoute, ...]:
    for names in (
        ("rfc3442-classless-static-routes", f"unknown-{CLASSLESS_OPTION}"),
        ("ms-classless-static-routes", f"unknown-{MS_CLASSLESS_OPTION}"),
    ):
        for name in names:
            if name in options:
                return classless_routes(_isc_bytes(options[name]))
    return ()


def _isc_lease(block: _IscBlock, path: str) -> Lease:
    options = block.options
    endpoint = options.get(f"unknown-{ENDPOINT_OPTION}")
    routers = options.get("routers", "")
    return Lease(
        path=path,
        format="isc",
        interface=block.fields.get("interface"),
        address=block.fields.get("fixed-address"),
        routers=tuple(str(ipaddress.IPv4Address(r.strip())) for r in routers.split(",") if r),
        endpoint=_address(_isc_bytes(endpoint)) if endpoint else None,
        routes=_isc_routes(options),
    )


def parse_isc(text: str, now: datetime, path: str = "") -> list[Lease]:
    """Every unexpired lease of an ISC file, in file order (the last is the current one)."""
    leases = []
    for block in _isc_blocks(text, now):
        try:
            leases.append(_isc_lease(block, path))
        except ValueError as exc:
            log.debug("%s: a lease does not parse (%s)", path, exc)
    return leases


# -- systemd-networkd (and NetworkManager's internal client) ----------------------------------


def _networkd_routes(value: str) -> tuple[LeaseRoute, ...]:
    routes = []
    for item in value.split():
        destination, _, gateway = item.partition(",")
        network = ipaddress.IPv4Network(destination, strict=False)
        routes.append(
            LeaseRoute(destination=str(network), gateway=str(ipaddress.IPv4Address(gateway)))
        )
    return tuple(routes)


def parse_networkd(text: str, path: str = "") -> Lease:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip()
    endpoint = values.get(f"OPTION_{ENDPOINT_OPTION}")
    if endpoint is not None and not re.fullmatch(r"[0-9a-fA-F]{8}", endpoint):
        raise LeaseError(f"OPTION_245={endpoint!r} is not 8 hex digits")
    routes = _networkd_routes(values.get("CLASSLESS_ROUTES", ""))
    if not routes and (ms := values.get(f"OPTION_{MS_CLASSLESS_OPTION}")):
        routes = classless_routes(bytes.fromhex(ms))
    routers = values.get("ROUTER", "").split()
    return Lease(
        path=path,
        format="networkd",
        address=str(ipaddress.IPv4Address(values["ADDRESS"])) if "ADDRESS" in values else None,
        routers=tuple(str(ipaddress.IPv4Address(r)) for r in routers),
        endpoint=_address(bytes.fromhex(endpoint)) if endpoint else None,
        routes=routes,
    )


# -- dhcpcd: the reply as received ------------------------------------------------------------

BOOTP_HEADER, MAGIC = 236, b"\x63\x82\x53\x63"


def _packet_options(data: bytes) -> dict[int, bytes]:
    if len(data) < BOOTP_HEADER + 4 or data[BOOTP_HEADER : BOOTP_HEADER + 4] != MAGIC:
        raise LeaseError("not a DHCP message")
    options: dict[int, bytes] = {}
    at = BOOTP_HEADER + 4
    while at < len(data) and data[at] != 255:
        if data[at] == 0:
            at += 1
            continue
        if at + 2 > len(data) or at + 2 + data[at + 1] > len(data):
            raise LeaseError(f"option {data[at]} runs past the end")
        options[data[at]] = options.get(data[at], b"") + data[at + 2 : at + 2 + data[at + 1]]
        at += 2 + data[at + 1]
    return options


def parse_dhcpcd(data: bytes, path: str = "") -> Lease:
    options = _packet_options(data)
    routers = options.get(3, b"")
    routes = options.get(CLASSLESS_OPTION) or options.get(MS_CLASSLESS_OPTION) or b""
    endpoint = options.get(ENDPOINT_OPTION)
    return Lease(
        path=path,
        format="dhcpcd",
        interface=Path(path).stem or None,
        address=_address(data[16:20]),
        routers=tuple(_address(routers[i : i + 4]) for i in range(0, len(routers) - 3, 4)),
        endpoint=_address(endpoint) if endpoint is not None else None,
        routes=classless_routes(routes),
    )


# -- the files --------------------------------------------------------------------------------


def _parse(path: Path, inner: PurePosixPath, kind: LeaseFormat, now: datetime) -> list[Lease]:
    if path.stat().st_size > MAX_LEASE_FILE:
        raise LeaseError(f"larger than {MAX_LEASE_FILE} bytes")
    if kind == "dhcpcd":
        return [parse_dhcpcd(path.read_bytes(), str(inner))]
    text = path.read_text(errors="replace")
    if kind == "isc":
        return parse_isc(text, now, str(inner))
    return [parse_networkd(text, str(inner))]


def read_leases(root: Root, now: datetime | None = None) -> list[Lease]:
    """Every current lease found in `root`, oldest file first (within a file, in file order)."""
    now = now or datetime.now(UTC)
    found: list[Lease] = []
    for directory, pattern, kind in LEASE_FILES:
        for path in root.glob(directory, pattern):
            inner = root.inner(path)
            try:
                mtime = path.stat().st_mtime
                leases = _parse(path, inner, kind, now)
            except (OSError, ValueError, KeyError) as exc:
                log.debug("%s: not a usable lease (%s)", inner, exc)
                continue
            found += [lease.model_copy(update={"mtime": mtime}) for lease in leases]
    found.sort(key=lambda lease: lease.mtime)  # stable: file order kept within a file
    return found


def newest(leases: Iterable[Lease]) -> Lease | None:
    """The lease the client holds now: the last one of the most recently written file."""
    last = None
    for lease in leases:
        last = lease
    return last
