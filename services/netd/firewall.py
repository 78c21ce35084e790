"""The firewall across backends: the first one available does the work; every other tool present
is cleared of our rules and the classic agent's, so a stale rule elsewhere cannot block wire.

Preference: firewalld when it runs (it would otherwise own the rule set), then nftables, then
iptables (`security` table). A VM upgraded from the classic agent has its rules in iptables
(the classic agent preferred it) while ours go to nftables: the iptables pass removes them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..common.errors import NotSupported
from .backend import Backend
from .rules import BackendName, Found, WireRules

log = logging.getLogger(__name__)


def _shows(chosen: Backend, other: Backend) -> bool:
    return chosen.shows_through == other.name


@dataclass(frozen=True)
class Seen:
    backend: BackendName
    found: Found


class Firewall:
    def __init__(self, backends: Sequence[Backend]) -> None:
        self.backends = list(backends)

    async def _available(self) -> list[Backend]:
        return [backend for backend in self.backends if await backend.available()]

    async def _split(self) -> tuple[Backend, list[Backend]]:
        available = await self._available()
        if not available:
            names = ", ".join(str(b.name) for b in self.backends)
            raise NotSupported(f"no firewall tool found on this host (looked for {names})")
        return available[0], available[1:]

    async def inspect(self, rules: WireRules | None) -> Seen:
        chosen, others = await self._split()
        found = await chosen.inspect(rules)
        for other in others:
            elsewhere = await other.inspect(rules)
            # Ours in another tool is stale (left by a host that had other tools), unless that
            # tool shows the chosen one's rules.
            ours = not _shows(chosen, other) and (elsewhere.complete or elsewhere.partial)
            found = found.merged(Found(partial=ours, classic=elsewhere.classic))
        return Seen(chosen.name, found)

    async def apply(self, rules: WireRules) -> Seen:
        chosen, others = await self._split()
        before = await chosen.inspect(rules)
        if before.complete and not before.partial and not before.classic:
            log.debug("the WireServer firewall is already in place (%s)", chosen.name)
        else:
            if before.classic:
                log.info("replacing the classic agent's WireServer rules (%s)", chosen.name)
            await chosen.apply(rules)
            log.info(
                "WireServer firewall in place (%s): only uids %s may connect to %s",
                chosen.name,
                ", ".join(map(str, rules.uids)),
                rules.endpoint,
            )
        # The other tools after the chosen one: firewalld removes the classic passthroughs it
        # holds itself (its running ones are iptables rules, which an iptables pass first would
        # delete under it, and firewalld would then fail to remove them); and ours are in place
        # before the classic rules go, so there is no moment without a rule.
        for other in others:
            elsewhere = await other.inspect(rules)
            classic_only = _shows(chosen, other)
            if elsewhere.classic or (elsewhere.anything and not classic_only):
                log.info("removing the WireServer rules left in %s", other.name)
                await other.remove(classic_only=classic_only)
        return await self.inspect(rules)

    async def remove(self) -> Seen:
        chosen, others = await self._split()
        for backend in (chosen, *others):
            if (await backend.inspect(None)).anything:
                await backend.remove()
        return await self.inspect(None)
