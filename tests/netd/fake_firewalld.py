"""firewall-cmd as firewalld answers it, for a host where firewalld cannot run (no test here
starts the daemon): the permanent and runtime direct passthroughs, kept in memory."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from waagent.common.commands import CommandFailed, Completed


class FakeFirewallCmd:
    def __init__(self, *, running: bool = True) -> None:
        self.running = running
        self.passthroughs: dict[str, list[tuple[str, ...]]] = {"permanent": [], "runtime": []}
        self.calls: list[tuple[str, ...]] = []

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        input: bytes | None = None,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> Completed:
        argv = tuple(argv)
        self.calls.append(argv)
        assert argv[0] == "firewall-cmd", argv
        words = list(argv[1:])
        if words == ["--state"]:
            return Completed(
                argv,
                0 if self.running else 252,
                "running\n" if self.running else "not running\n",
                "",
            )
        scope = "permanent" if words[:1] == ["--permanent"] else "runtime"
        words = words[1:] if scope == "permanent" else words
        assert words[0] == "--direct", argv
        verb, rule = words[1], tuple(words[2:])
        listed = self.passthroughs[scope]
        if verb == "--get-all-passthroughs":
            return Completed(argv, 0, "".join(shlex.join(r) + "\n" for r in listed), "")
        if verb == "--add-passthrough":
            if rule not in listed:
                listed.append(rule)
            return Completed(argv, 0, "success\n", "")
        if verb == "--remove-passthrough":
            if rule not in listed:
                result = Completed(argv, 0, "", "Warning: NOT_ENABLED\n")
                return result
            listed.remove(rule)
            return Completed(argv, 0, "success\n", "")
        result = Completed(argv, 2, "", f"unknown {verb}\n")
        if check:
            raise CommandFailed(result)
        return result
