"""A command runner for unit tests: records every argv; runs, fakes or fails each by program."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from waagent.common.commands import CommandFailed, Completed, Runner


class RecordingRunner:
    """Runs commands for real unless told to fake them (`ok`) or fail them (`fail`: message)."""

    def __init__(self, *, ok: Sequence[str] = (), fail: Mapping[str, str] | None = None) -> None:
        self.ok = set(ok)
        self.fail = dict(fail or {})
        self.calls: list[tuple[str, ...]] = []
        self.real = Runner()

    def programs(self) -> list[str]:
        return [argv[0] for argv in self.calls]

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
        if argv[0] in self.fail:
            result = Completed(argv, 1, "", self.fail[argv[0]] + "\n")
            if check:
                raise CommandFailed(result)
            return result
        if argv[0] in self.ok:
            return Completed(argv, 0, "", "")
        return await self.real.run(
            argv, timeout=timeout, input=input, check=check, env=env, cwd=cwd
        )
