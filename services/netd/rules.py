"""The one model of the WireServer firewall, which every backend renders in its own syntax.

Only root and the wire service's user may open new TCP connections to the WireServer; DNS
(tcp/53) stays open to everyone. The classic agent allowed root only, which would block wire
(it runs as `waagent-wire`), so its rules are found and replaced by every backend.
"""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Address

from pydantic import field_validator

from ..common.errors import InvalidArgs
from ..common.models.base import FrozenModel

DNS_PORT = 53
# Our rules are named, so they are told apart from an admin's: the nftables table, the
# iptables/firewalld comment.
TABLE = "waagent"
# One word: iptables -S, iptables-restore and firewall-cmd's listings need no quoting for it.
COMMENT = "waagent-wireserver-firewall"
CLASSIC_TABLE = "walinuxagent"


class FirewallState(StrEnum):
    """The `FirewallState` property."""

    PRESENT = "present"  # our rules, complete, and no classic rule left
    ABSENT = "absent"  # neither ours nor the classic agent's
    PARTIAL = "partial"  # some of ours missing or repeated, or classic rules still there
    ERROR = "error"  # the rules could not be read or written (LastError says why)


class BackendName(StrEnum):
    NFTABLES = "nftables"
    IPTABLES = "iptables"
    FIREWALLD = "firewalld"
    NONE = ""


class WireRules(FrozenModel):
    """What the firewall enforces: drop new TCP connections to `endpoint` (but DNS) from every
    uid other than `uids`."""

    endpoint: IPv4Address
    uids: tuple[int, ...]

    @field_validator("uids")
    @classmethod
    def _sorted_unique(cls, uids: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(set(uids)))


class Found(FrozenModel):
    """What one backend sees of the rules: ours (complete, partly, not at all) and the classic
    agent's."""

    complete: bool = False
    partial: bool = False
    classic: bool = False

    @property
    def anything(self) -> bool:
        return self.complete or self.partial or self.classic

    def merged(self, other: Found) -> Found:
        return Found(
            complete=self.complete or other.complete,
            partial=self.partial or other.partial,
            classic=self.classic or other.classic,
        )

    @property
    def state(self) -> FirewallState:
        if self.complete and not (self.partial or self.classic):
            return FirewallState.PRESENT
        if self.anything:
            return FirewallState.PARTIAL
        return FirewallState.ABSENT


def parse_endpoint(text: str) -> IPv4Address:
    """A WireServer address as the classic file and `-setup-firewall=` give it: dotted IPv4,
    a unicast address (the rule would otherwise match nothing or everything)."""
    try:
        address = IPv4Address(text.strip())
    except ValueError:
        raise InvalidArgs(
            f"invalid WireServer endpoint {text.strip()!r}: not an IPv4 address"
        ) from None
    if address.is_unspecified or address.is_multicast or address == IPv4Address("255.255.255.255"):
        raise InvalidArgs(f"invalid WireServer endpoint {address}: not a unicast address")
    return address
