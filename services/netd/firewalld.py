"""The firewall through firewalld, where it runs: our iptables rules as direct passthroughs,
permanent (firewalld puts them back at every reload and boot) and in the running firewall.

The classic agent added the same rules without our comment as permanent passthroughs (and, up to
2.7.0.6, an `-I` DNS rule); those are removed, in both configurations.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from ..common.commands import CommandRunner
from .backend import COMMAND_TIMEOUT
from .iptables import CHAIN, TABLE, Rule, is_classic, is_ours, judge, our_rules
from .rules import BackendName, Found, WireRules

# The permanent configuration first: what survives a reload is what counts.
SCOPES: tuple[tuple[str, ...], ...] = (("--permanent",), ())


def passthrough(rule: Sequence[str]) -> list[str]:
    return ["ipv4", "-t", TABLE, "-A", CHAIN, *rule]


class Firewalld:
    name = BackendName.FIREWALLD
    shows_through: BackendName | None = BackendName.IPTABLES

    def __init__(self, runner: CommandRunner, program: str = "firewall-cmd") -> None:
        self.runner = runner
        self.program = program

    async def available(self) -> bool:
        # Not installed: the runner's status 127, so not "running" either.
        result = await self.runner.run(
            [self.program, "--state"], timeout=COMMAND_TIMEOUT, check=False
        )
        return result.ok and result.stdout.strip() == "running"

    async def _present(self, scope: Sequence[str]) -> list[Rule]:
        result = await self.runner.run(
            [self.program, *scope, "--direct", "--get-all-passthroughs"], timeout=COMMAND_TIMEOUT
        )
        found = []
        for line in result.stdout.splitlines():
            words = tuple(shlex.split(line))
            if words[:1] == ("ipv4",) and TABLE in words and CHAIN in words:
                found.append(words[1:])
        return found

    async def inspect(self, rules: WireRules | None) -> Found:
        expected = [tuple(passthrough(rule)[1:]) for rule in our_rules(rules)] if rules else []
        seen = [judge(await self._present(scope), rules, expected) for scope in SCOPES]
        complete = all(found.complete for found in seen)
        return Found(
            complete=complete,
            # complete in one configuration only is partial too
            partial=any(found.partial or found.complete for found in seen) and not complete,
            classic=any(found.classic for found in seen),
        )

    async def _edit(self, scope: Sequence[str], verb: str, words: Sequence[str]) -> None:
        await self.runner.run(
            [self.program, *scope, "--direct", verb, *words], timeout=COMMAND_TIMEOUT
        )

    async def _replace(self, add: Sequence[Rule], *, keep_ours: bool = False) -> None:
        for scope in SCOPES:
            for words in await self._present(scope):
                if is_classic(words) or (is_ours(words) and not keep_ours):
                    await self._edit(scope, "--remove-passthrough", ["ipv4", *words])
            for rule in add:
                await self._edit(scope, "--add-passthrough", passthrough(rule))

    async def apply(self, rules: WireRules) -> None:
        await self._replace(our_rules(rules))

    async def remove(self, *, classic_only: bool = False) -> None:
        await self._replace([], keep_ours=classic_only)
