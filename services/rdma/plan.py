"""What the fabric says about RDMA (reference §10.11), read from its two sources.

Hyper-V KVP pool 0 (the host's): `NdDriverVersion` (the Network Direct driver the host expects;
absent on SR-IOV sizes) and `IPoIB_Data` (`NUMPAIRS:<n>|<mac>:<ip>|...`, SR-IOV). SharedConfig
(from wire's goal state): `Instance@rdmaMacAddress` and `Instance@rdmaIPv4Address`. SharedConfig
is parsed here with defusedxml (wire hands it out verbatim, for the classic file), only these
two attributes, and every value is checked before anything uses it.
"""

from __future__ import annotations

import logging
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import BaseModel, ConfigDict

from ..common.errors import InvalidArgs
from ..common.kvp import PoolContents
from ..netd.rdma_address import parse_ipv4, parse_mac

log = logging.getLogger(__name__)

ND_VERSION_KEY = "NdDriverVersion"
IPOIB_KEY = "IPoIB_Data"


class RdmaPair(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    mac: str  # 00:15:5d:33:ff:1a
    address: str  # dotted IPv4


class RdmaPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    nd_version: str = ""
    shared: RdmaPair | None = None  # SharedConfig's pair
    ipoib: tuple[RdmaPair, ...] = ()  # KVP IPoIB_Data's pairs

    @property
    def pairs(self) -> tuple[RdmaPair, ...]:
        """The addresses to give: IPoIB_Data's on SR-IOV when it has any, else SharedConfig's."""
        if not self.nd_version and self.ipoib:
            return self.ipoib
        return (self.shared,) if self.shared else ()


def pair(mac: str, address: str) -> RdmaPair:
    return RdmaPair(mac=parse_mac(mac), address=str(parse_ipv4(address)))


def parse_shared_config(xml: str) -> RdmaPair | None:
    """The first Instance with both RDMA attributes, or None (also for an empty document)."""
    if not xml.strip():
        return None
    try:
        root = fromstring(xml)
    except (ParseError, DefusedXmlException) as exc:
        raise InvalidArgs(f"SharedConfig is not readable XML: {exc}") from None
    for instance in root.iter("Instance"):
        mac, address = instance.get("rdmaMacAddress"), instance.get("rdmaIPv4Address")
        if mac and address:
            return pair(mac, address)
    return None


def parse_ipoib(text: str) -> tuple[RdmaPair, ...]:
    """`NUMPAIRS:2|00155D33FF1A:172.16.1.2|...`; a count that does not match is an error."""
    head, *items = text.strip().split("|")
    name, _, count = head.partition(":")
    if name != "NUMPAIRS" or not count.isdigit():
        raise InvalidArgs(f"{IPOIB_KEY} does not start with NUMPAIRS:<n>: {text[:60]!r}")
    pairs = []
    for item in items:
        mac, _, address = item.rpartition(":")
        pairs.append(pair(mac, address))
    if len(pairs) != int(count):
        raise InvalidArgs(f"{IPOIB_KEY} says {count} pairs and holds {len(pairs)}")
    return tuple(pairs)


def build_plan(pool: PoolContents, shared_config: str) -> RdmaPlan:
    ipoib = pool.get(IPOIB_KEY)
    return RdmaPlan(
        nd_version=(pool.get(ND_VERSION_KEY) or "").strip(),
        shared=parse_shared_config(shared_config),
        ipoib=parse_ipoib(ipoib) if ipoib else (),
    )
