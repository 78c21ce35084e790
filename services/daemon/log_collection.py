"""Periodic log collection without systemd (reference §10.13): what the timer does, in the daemon.

As classic: the first run `Debug.LogCollectorInitialDelay` seconds after the daemon starts, then
every `Logs.CollectPeriod` seconds, each run `waagent -collect-logs` (the same command the
systemd service runs) as a child at the lowest CPU priority. Without systemd there is no slice
to cap its memory; its bundle is built in a file, never in memory, and a run that hangs is
killed after RUN_TIMEOUT so the next period starts afresh. A failed run is logged and the next
period tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..common.root import Root

if TYPE_CHECKING:  # the resident daemon runs the schedule and imports no pydantic
    from ..common.config import AgentConfig

log = logging.getLogger(__name__)

RUN_TIMEOUT = 15 * 60.0  # as the systemd service's TimeoutStartSec


@dataclass(frozen=True)
class Schedule:
    delay: float
    period: float

    @classmethod
    def of(cls, config: AgentConfig) -> Schedule | None:
        """None when Logs.Collect=n."""
        if not config.logs_collect:
            return None
        return cls(config.debug_log_collector_initial_delay, config.logs_collect_period)


def collect_argv(root: Root, config_path: Path) -> list[str]:
    argv = ["nice", "-n", "19", sys.executable, "-m", "waagent.cli", "-collect-logs"]
    argv.append(f"-configuration-path:{config_path}")
    if not root.is_host:
        argv.append(f"-root:{root.path}")
    return argv


class PeriodicCollection:
    def __init__(
        self,
        schedule: Schedule,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        run_timeout: float = RUN_TIMEOUT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.schedule = schedule
        self.argv = list(argv)
        self.env = env
        self.run_timeout = run_timeout
        self.sleep = sleep
        self.ready = ready
        self.runs = 0

    async def run(self) -> None:
        """Until cancelled: wait for wire (which uploads), then the delay, collect, wait the
        period, collect, ... (classic counted the delay from its extension handler's start)."""
        if self.ready is not None:
            await self.ready()
        log.info(
            "collecting the logs %g s from now, then every %g s",
            self.schedule.delay,
            self.schedule.period,
        )
        await self.sleep(self.schedule.delay)
        while True:
            await self.collect_once()
            await self.sleep(self.schedule.period)

    async def collect_once(self) -> int | None:
        """One `waagent -collect-logs`; its exit status (None when it could not run in time)."""
        self.runs += 1
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                env=dict(self.env) if self.env is not None else None,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            log.error("cannot collect the logs: %s", exc.strerror or exc)
            return None
        try:
            async with asyncio.timeout(self.run_timeout):
                _, stderr = await proc.communicate()
        except TimeoutError:
            log.error("log collection did not end within %g s; killed", self.run_timeout)
            return None
        finally:
            if proc.returncode is None:  # timed out, or the daemon is stopping
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc.returncode == 0:
            log.info("log collection %d: the bundle was uploaded", self.runs)
        else:
            why = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            log.warning("log collection %d failed (%d): %s", self.runs, proc.returncode, why[0])
        return proc.returncode
