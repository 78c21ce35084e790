"""The firewall in iptables (`security` table, chain OUTPUT), where nft is absent.

Our rules, in order, each with our comment (so they are told apart from an admin's):

    -d <ep>/32 -p tcp -m tcp --dport 53 -j ACCEPT
    -d <ep>/32 -p tcp -m owner --uid-owner <uid> -j ACCEPT      (one per allowed uid)
    -d <ep>/32 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP

The classic agent's rules have the same shapes without a comment and allow uid 0 only (agents up
to 2.2.25 also left an `INVALID,NEW -j ACCEPT`). A change is one `iptables-restore --noflush`
transaction: every rule of ours and every classic rule found by `-S` is deleted and ours added.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from ..common.commands import CommandRunner
from .backend import COMMAND_TIMEOUT, installed
from .rules import COMMENT, DNS_PORT, BackendName, Found, WireRules

TABLE = "security"
CHAIN = "OUTPUT"
Rule = tuple[str, ...]


def _tagged(rule: Sequence[str], target: str) -> Rule:
    return (*rule, "-m", "comment", "--comment", COMMENT, "-j", target)


def our_rules(rules: WireRules) -> list[Rule]:
    """Our rules as `iptables -S` prints them (what is compared and what is deleted)."""
    dest = ("-d", f"{rules.endpoint}/32", "-p", "tcp")
    return [
        _tagged((*dest, "-m", "tcp", "--dport", str(DNS_PORT)), "ACCEPT"),
        *(_tagged((*dest, "-m", "owner", "--uid-owner", str(uid)), "ACCEPT") for uid in rules.uids),
        _tagged((*dest, "-m", "conntrack", "--ctstate", "INVALID,NEW"), "DROP"),
    ]


def _plain(rule: Sequence[str]) -> Rule:
    """A rule's words as the classic agent gave them or `-S` prints them, in one spelling."""
    words = [w for w in rule if w not in ("-A", "-I", CHAIN, "-t", TABLE)]
    out: list[str] = []
    skip = False
    for i, word in enumerate(words):
        if skip:
            skip = False
            continue
        if word == "-m" and i + 1 < len(words) and words[i + 1] == "tcp":
            skip = True
            continue
        out.append("--dport" if word == "--destination-port" else word.removesuffix("/32"))
    return tuple(out)


def is_ours(rule: Sequence[str]) -> bool:
    return COMMENT in rule


def is_classic(rule: Sequence[str]) -> bool:
    """One of the classic agent's shapes, for any WireServer address."""
    words = _plain(rule)
    if len(words) < 6 or words[0] != "-d" or words[2:4] != ("-p", "tcp") or "--comment" in words:
        return False
    tail = words[4:]
    return tail in (
        ("--dport", str(DNS_PORT), "-j", "ACCEPT"),
        ("-m", "owner", "--uid-owner", "0", "-j", "ACCEPT"),
        ("-m", "conntrack", "--ctstate", "INVALID,NEW", "-j", "DROP"),
        ("-m", "conntrack", "--ctstate", "INVALID,NEW", "-j", "ACCEPT"),
    )


def judge(present: Sequence[Rule], rules: WireRules | None, expected: Sequence[Rule]) -> Found:
    """Found, from the rules of OUTPUT (ours compared with `expected`, in order)."""
    ours = [rule for rule in present if is_ours(rule)]
    complete = rules is not None and ours == list(expected)
    return Found(
        complete=complete,
        partial=bool(ours) and not complete,
        classic=any(is_classic(rule) for rule in present),
    )


def _restore_word(word: str) -> str:
    return f'"{word}"' if any(c.isspace() for c in word) else word


class Iptables:
    name = BackendName.IPTABLES
    shows_through: BackendName | None = None

    def __init__(self, runner: CommandRunner, program: str = "iptables") -> None:
        self.runner = runner
        self.program = program

    async def available(self) -> bool:
        return installed(self.program)

    async def _present(self) -> list[Rule]:
        result = await self.runner.run(
            [self.program, "-w", "-t", TABLE, "-S", CHAIN], timeout=COMMAND_TIMEOUT
        )
        rules = [tuple(shlex.split(line)) for line in result.stdout.splitlines()]
        return [rule[2:] for rule in rules if rule[:2] == ("-A", CHAIN)]

    async def inspect(self, rules: WireRules | None) -> Found:
        expected = our_rules(rules) if rules is not None else []
        return judge(await self._present(), rules, expected)

    async def _replace(self, add: Sequence[Rule], *, keep_ours: bool = False) -> None:
        present = await self._present()
        stale = [r for r in present if is_classic(r) or (is_ours(r) and not keep_ours)]
        if not stale and not add:
            return
        lines = [f"*{TABLE}"]
        lines += [" ".join(["-D", CHAIN, *map(_restore_word, rule)]) for rule in stale]
        lines += [" ".join(["-A", CHAIN, *map(_restore_word, rule)]) for rule in add]
        lines.append("COMMIT\n")
        await self.runner.run(
            [f"{self.program}-restore", "-w", "--noflush"],
            input="\n".join(lines).encode(),
            timeout=COMMAND_TIMEOUT,
        )

    async def apply(self, rules: WireRules) -> None:
        await self._replace(our_rules(rules))

    async def remove(self, *, classic_only: bool = False) -> None:
        await self._replace([], keep_ours=classic_only)
