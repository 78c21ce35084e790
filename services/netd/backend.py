"""What every firewall backend offers the firewall (nftables, iptables, firewalld)."""

from __future__ import annotations

import shutil
from typing import Protocol

from ..common.cmdenv import BASE_ENV
from .rules import BackendName, Found, WireRules

# Each nft/iptables/firewall-cmd call is quick; firewall-cmd waits for firewalld over D-Bus.
COMMAND_TIMEOUT = 30.0


class Backend(Protocol):
    name: BackendName
    # The backend whose listing shows this one's rules too (firewalld's passthroughs are
    # iptables rules at runtime): there, only the classic rules are stale.
    shows_through: BackendName | None

    async def available(self) -> bool:
        """This tool can be used on this host (binary present, daemon running)."""
        ...

    async def inspect(self, rules: WireRules | None) -> Found:
        """Ours (complete for `rules`, or partly there) and the classic agent's, in this tool."""
        ...

    async def apply(self, rules: WireRules) -> None:
        """Put exactly our rules in place, removing any of ours and the classic agent's first."""
        ...

    async def remove(self, *, classic_only: bool = False) -> None:
        """Remove ours (unless `classic_only`) and the classic agent's."""
        ...


def installed(program: str) -> bool:
    return shutil.which(program, path=BASE_ENV["PATH"]) is not None
