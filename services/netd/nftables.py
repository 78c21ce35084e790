"""The firewall in nftables: a table of our own, `ip waagent`, with one chain and one rule.

    table ip waagent {
      chain output {
        type filter hook output priority filter; policy accept;
        ip daddr <ep> tcp dport != 53 meta skuid != { 0, <wire uid> } ct state invalid,new
          counter drop comment "..."
      }
    }

A table of our own is replaced as a whole in one `nft -f -` transaction, together with the removal
of the classic agent's table (`ip walinuxagent`): at no moment are both or neither in place.
The check reads `nft -j list ruleset` and compares our rule's expressions with the expected ones.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..common.commands import CommandRunner
from ..common.errors import Failed
from .backend import COMMAND_TIMEOUT, installed
from .rules import CLASSIC_TABLE, COMMENT, DNS_PORT, TABLE, BackendName, Found, WireRules

CHAIN = "output"


class _Listing(BaseModel):
    """`nft -j list ruleset`: a list of one-key objects (metainfo, table, chain, rule, ...)."""

    model_config = ConfigDict(extra="ignore")
    nftables: list[dict[str, Any]]


def _drop(table: str) -> str:
    # `add` first: deleting a table that is not there would fail the whole transaction.
    return f"table ip {table}\ndelete table ip {table}\n"


def script(rules: WireRules) -> str:
    uids = ", ".join(str(uid) for uid in rules.uids)
    return (
        _drop(TABLE)
        + _drop(CLASSIC_TABLE)
        + f"table ip {TABLE} {{\n  chain {CHAIN} {{\n"
        + "    type filter hook output priority filter; policy accept;\n"
        + f"    ip daddr {rules.endpoint} tcp dport != {DNS_PORT} meta skuid != {{ {uids} }}"
        + f' ct state invalid,new counter drop comment "{COMMENT}"\n  }}\n}}\n'
    )


def expected_expressions(rules: WireRules) -> list[dict[str, Any]]:
    """Our rule as `nft -j` shows it (counter values left out, the uid set as a sorted list)."""

    def match(op: str, left: dict[str, Any], right: Any) -> dict[str, Any]:
        return {"match": {"op": op, "left": left, "right": right}}

    return [
        match("==", {"payload": {"protocol": "ip", "field": "daddr"}}, str(rules.endpoint)),
        match("!=", {"payload": {"protocol": "tcp", "field": "dport"}}, DNS_PORT),
        match("!=", {"meta": {"key": "skuid"}}, list(rules.uids)),
        match("in", {"ct": {"key": "state"}}, ["invalid", "new"]),
        {"counter": None},
        {"drop": None},
    ]


def _normalized(expr: Any) -> Any:
    """Counters without their values; a set (or a single value) of uids as a sorted list."""
    if not isinstance(expr, list):
        return None
    out: list[Any] = []
    for item in expr:
        if isinstance(item, dict) and "counter" in item:
            out.append({"counter": None})
            continue
        match = item.get("match") if isinstance(item, dict) else None
        if isinstance(match, dict) and match.get("left") == {"meta": {"key": "skuid"}}:
            right = match.get("right")
            values = right.get("set") if isinstance(right, dict) else [right]
            if isinstance(values, list) and all(isinstance(v, int) for v in values):
                out.append({"match": {**match, "right": sorted(values)}})
                continue
        out.append(item)
    return out


class Nftables:
    name = BackendName.NFTABLES
    shows_through: BackendName | None = None

    def __init__(self, runner: CommandRunner, program: str = "nft") -> None:
        self.runner = runner
        self.program = program

    async def available(self) -> bool:
        return installed(self.program)

    async def _listing(self) -> list[dict[str, Any]]:
        result = await self.runner.run(
            [self.program, "-j", "list", "ruleset"], timeout=COMMAND_TIMEOUT
        )
        try:
            return _Listing.model_validate(json.loads(result.stdout or '{"nftables": []}')).nftables
        except (ValueError, ValidationError) as exc:
            raise Failed(
                f"nft -j list ruleset gave output that is not nftables JSON: {exc}"
            ) from None

    async def inspect(self, rules: WireRules | None) -> Found:
        objects = await self._listing()

        def of(kind: str, table: str) -> list[dict[str, Any]]:
            found = [o[kind] for o in objects if isinstance(o.get(kind), dict)]
            return [
                o
                for o in found
                if o.get("family") == "ip" and o.get("table", o.get("name")) == table
            ]

        ours = bool(of("table", TABLE))
        chains = of("chain", TABLE)
        exprs = [_normalized(rule.get("expr")) for rule in of("rule", TABLE)]
        complete = (
            rules is not None
            and len(chains) == 1
            and chains[0].get("name") == CHAIN
            and chains[0].get("hook") == "output"
            and chains[0].get("policy", "accept") == "accept"
            and exprs == [expected_expressions(rules)]
        )
        return Found(
            complete=complete,
            partial=ours and not complete,
            classic=bool(of("table", CLASSIC_TABLE)),
        )

    async def _load(self, text: str) -> None:
        await self.runner.run(
            [self.program, "-f", "-"], input=text.encode(), timeout=COMMAND_TIMEOUT
        )

    async def apply(self, rules: WireRules) -> None:
        await self._load(script(rules))

    async def remove(self, *, classic_only: bool = False) -> None:
        await self._load(("" if classic_only else _drop(TABLE)) + _drop(CLASSIC_TABLE))
