"""The RDMA IPv4 address on the interface with the RDMA MAC (reference §10.11).

The fabric gives the pair (SharedConfig `rdmaMacAddress`/`rdmaIPv4Address`, or KVP `IPoIB_Data`
for SR-IOV); the interface is found by its MAC in `ip -j link` (the kernel's view of the
namespace netd runs in) and gets the address with the classic /16 prefix, idempotently
(`ip addr replace`), and is brought up. Needs CAP_NET_ADMIN: netd's.
"""

from __future__ import annotations

import ipaddress
import logging
import re

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from ..common.commands import CommandRunner
from ..common.errors import Failed, InvalidArgs, NotFound

log = logging.getLogger(__name__)

PREFIX = 16  # the classic agent's netmask for the RDMA address
IP_TIMEOUT = 10.0
_MAC = re.compile(r"[0-9a-f]{2}(?::?[0-9a-f]{2}){5}")


class Link(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ifname: str
    address: str = ""


LINKS = TypeAdapter(list[Link])


def parse_mac(text: str) -> str:
    """`00155D33FF1A` or `00:15:5d:33:ff:1a` -> `00:15:5d:33:ff:1a`."""
    mac = text.strip().lower().replace("-", ":")
    if not _MAC.fullmatch(mac):
        raise InvalidArgs(f"invalid MAC address {text!r}")
    digits = mac.replace(":", "")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def parse_ipv4(text: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text.strip())
    except ValueError:
        raise InvalidArgs(f"invalid IPv4 address {text!r}") from None


def link_with(ip_json: str, mac: str) -> str | None:
    """The interface in `ip -j link show` output whose hardware address ends with `mac`."""
    try:
        links = LINKS.validate_json(ip_json or "[]")
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise Failed(f"ip -j link show printed no link list: {problem}") from None
    wanted = parse_mac(mac)
    # An IPoIB hardware address is 20 bytes; the fabric gives its last 6.
    return next((link.ifname for link in links if link.address.lower()[-17:] == wanted), None)


class RdmaAddress:
    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    async def interface_with(self, mac: str) -> str | None:
        listed = await self.runner.run(["ip", "-j", "link", "show"], timeout=IP_TIMEOUT)
        return link_with(listed.stdout, mac)

    async def assign(self, mac: str, address: str) -> str:
        """Give `address` to the interface with `mac`; its name, or NotFound."""
        ip = parse_ipv4(address)
        ifname = await self.interface_with(mac)
        if ifname is None:
            raise NotFound(f"no interface has the RDMA MAC address {parse_mac(mac)}")
        cidr = f"{ip}/{PREFIX}"
        replace = ["ip", "-4", "addr", "replace", cidr, "dev", ifname]
        await self.runner.run(replace, timeout=IP_TIMEOUT)
        await self.runner.run(["ip", "link", "set", "dev", ifname, "up"], timeout=IP_TIMEOUT)
        log.info("RDMA address %s on %s (%s)", cidr, ifname, parse_mac(mac))
        return ifname
