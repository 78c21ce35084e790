"""External commands: an argv list, a timeout, no shell, bounded output, a result object.

Every command the services run goes through a `Runner`, so each one has a timeout, runs in its own
process group (a timeout kills the whole tree), and its failure becomes a one-line error that
carries the command's own message. Tests swap in a runner that records calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .cmdenv import BASE_ENV
from .errors import Failed

log = logging.getLogger(__name__)


DEFAULT_MAX_OUTPUT = 1 << 20


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def message(self) -> str:
        """The command's own explanation: the last non-empty line of stderr, else of stdout."""
        for stream in (self.stderr, self.stdout):
            lines = [line.strip() for line in stream.splitlines() if line.strip()]
            if lines:
                return lines[-1]
        return f"exit status {self.returncode}"


class CommandFailed(Failed):
    """A command exited non-zero (or could not start): the message says which and why."""

    def __init__(self, result: Completed) -> None:
        self.result = result
        super().__init__(f"{result.argv[0]} failed: {result.message()}")


class CommandTimedOut(Failed):
    def __init__(self, argv: Sequence[str], timeout: float, partial: Completed) -> None:
        self.argv = tuple(argv)
        self.timeout = timeout
        self.result = partial
        super().__init__(f"{argv[0]} did not finish within {timeout:g} s and was killed")


class CommandRunner(Protocol):
    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        input: bytes | None = None,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> Completed: ...


async def _read_capped(stream: asyncio.StreamReader | None, limit: int) -> bytes:
    """Keep the first `limit` bytes and drain the rest, so a flood cannot exhaust memory."""
    if stream is None:
        return b""
    kept = bytearray()
    while chunk := await stream.read(65536):
        room = limit - len(kept)
        if room > 0:
            kept += chunk[:room]
    return bytes(kept)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class Runner:
    """Runs commands for real."""

    def __init__(self, *, max_output: int = DEFAULT_MAX_OUTPUT) -> None:
        self.max_output = max_output

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
        log.debug("running %s", " ".join(argv))
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=dict(env) if env is not None else dict(BASE_ENV),
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            result = Completed(argv, 127, "", f"cannot run {argv[0]}: {exc.strerror or exc}")
            if check:
                raise CommandFailed(result) from None
            return result
        if input is not None and proc.stdin is not None:
            proc.stdin.write(input)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await proc.stdin.drain()
            proc.stdin.close()
        readers = asyncio.gather(
            _read_capped(proc.stdout, self.max_output),
            _read_capped(proc.stderr, self.max_output),
        )
        try:
            async with asyncio.timeout(timeout):
                out, err = await readers
                returncode = await proc.wait()
        except TimeoutError:
            _kill_group(proc.pid)
            await proc.wait()
            readers.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await readers
            partial = Completed(argv, -signal.SIGKILL, "", "")
            raise CommandTimedOut(argv, timeout, partial) from None
        except asyncio.CancelledError:
            _kill_group(proc.pid)
            raise
        result = Completed(
            argv,
            returncode,
            out.decode("utf-8", errors="replace"),
            err.decode("utf-8", errors="replace"),
        )
        if check and not result.ok:
            raise CommandFailed(result)
        return result
