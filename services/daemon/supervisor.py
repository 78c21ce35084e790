"""Keeping child processes running: start in order, restart with backoff, stop in reverse.

Each program starts once the one before it is ready (its `ready` probe says so, or it gave up
within `ready_timeout`). A child that fails (non-zero status, killed by a signal) is started again
after its backoff delay; one that exits with status 0 was stopped on purpose and stays stopped.
SIGTERM or SIGINT stop everything: in reverse order, SIGTERM, then SIGKILL after `grace`.

A `Start` step among the programs is a start the supervisor asks for but does not keep (the bus
daemon activates the service, which exits when idle): it runs in its place in the order. A
program's `before_stop` (the bus daemon's: the services it activated) runs before it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .backoff import Backoff

log = logging.getLogger(__name__)

READY_TIMEOUT = 120.0  # diskd may format the resource disk before it takes its name
STOP_GRACE = 10.0
POLL_INTERVAL = 0.05
EXEC_FAILED = 127


@dataclass(frozen=True)
class Program:
    """How to start one child, and how to tell that the process with a given pid serves."""

    label: str
    argv: Sequence[str]
    ready: Callable[[int], Awaitable[bool]]
    env: Mapping[str, str] | None = None
    # What to stop before this program, given the grace period (the bus: what it activated).
    before_stop: Callable[[float], Awaitable[None]] | None = None
    # Started by this instead of exec'ing `argv` (forked.py: the poller); `argv` is then shown.
    fork: Callable[[], Running] | None = None


class Running(Protocol):
    """What the supervisor uses of a child: asyncio's Process, or forked.ForkedProcess."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def send_signal(self, signum: int) -> None: ...


@dataclass(frozen=True)
class Start:
    """A start in the order that is not supervised: `start()` says whether it worked."""

    label: str
    start: Callable[[], Awaitable[bool]]


@dataclass
class Child:
    program: Program
    backoff: Backoff = field(default_factory=Backoff)
    proc: Running | None = None
    started_at: float = 0.0
    starts: int = 0
    keeper: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with status {returncode}"


class Supervisor:
    def __init__(
        self,
        programs: Sequence[Program | Start],
        *,
        ready_timeout: float = READY_TIMEOUT,
        grace: float = STOP_GRACE,
        backoff: Callable[[], Backoff] = Backoff,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.steps = list(programs)
        self.children = [Child(p, backoff()) for p in programs if isinstance(p, Program)]
        self.ready_timeout = ready_timeout
        self.grace = grace
        self.clock = clock
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> int:
        """Supervise until SIGTERM/SIGINT (or `stop()`); everything is stopped on return."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        for signum in signals:
            loop.add_signal_handler(signum, self.stop)
        startup = asyncio.ensure_future(self._start_in_order())
        try:
            await self._stopping.wait()
        finally:
            self._stopping.set()
            startup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await startup
            await self._stop_all()
            for signum in signals:
                loop.remove_signal_handler(signum)
        return 0

    # ---- starting ----

    async def _start_in_order(self) -> None:
        children = iter(self.children)
        for step in self.steps:
            if isinstance(step, Start):
                await self._start_once(step)
                continue
            child = next(children)
            child.keeper = asyncio.ensure_future(self._keep_running(child))
            await self._wait_ready(child)

    async def _start_once(self, step: Start) -> None:
        try:
            async with asyncio.timeout(self.ready_timeout):
                started = await step.start()
        except TimeoutError:
            started = False
        except Exception as exc:  # the bus went away, say: the next one is started all the same
            log.error("cannot start %s: %s", step.label, exc)
            started = False
        if started:
            log.info("%s is up (started on demand)", step.label)
        else:
            log.warning("%s did not start; starting the next one", step.label)

    async def _wait_ready(self, child: Child) -> None:
        deadline = self.clock() + self.ready_timeout
        label = child.program.label
        while self.clock() < deadline:
            assert child.keeper is not None
            if child.keeper.done():
                return  # exited with status 0, or we are stopping
            pid = child.pid
            if child.running and pid is not None and await child.program.ready(pid):
                log.info("%s is up (pid %d)", label, pid)
                return
            await asyncio.sleep(POLL_INTERVAL)
        log.warning("%s is not up after %g s; starting the next one", label, self.ready_timeout)

    async def _spawn(self, child: Child) -> bool:
        child.starts += 1
        child.started_at = self.clock()
        program = child.program
        try:
            if program.fork is not None:
                child.proc = program.fork()
                log.debug("started %s (pid %d), forked", program.label, child.proc.pid)
                return True
            child.proc = await asyncio.create_subprocess_exec(
                *program.argv,
                env=dict(program.env) if program.env is not None else None,
                stdin=asyncio.subprocess.DEVNULL,
                # Its own session: a Ctrl-C on the terminal reaches the supervisor only, which
                # then stops the children in order.
                start_new_session=True,
            )
        except OSError as exc:
            log.error("cannot start %s: %s", program.label, exc.strerror or exc)
            child.proc = None
            return False
        log.debug("started %s (pid %d): %s", program.label, child.proc.pid, " ".join(program.argv))
        return True

    async def _keep_running(self, child: Child) -> None:
        label = child.program.label
        while not self._stopping.is_set():
            if await self._spawn(child):
                assert child.proc is not None
                returncode = await child.proc.wait()
            else:
                returncode = EXEC_FAILED
            if self._stopping.is_set():
                return
            what = f"{label} (pid {child.pid})" if child.proc is not None else label
            if returncode == 0:
                log.warning("%s exited with status 0; it is not restarted", what)
                return
            delay = child.backoff.after_exit(self.clock() - child.started_at)
            log.error("%s %s; restarting in %g s", what, describe_exit(returncode), delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    # ---- stopping ----

    async def _stop_all(self) -> None:
        for child in reversed(self.children):
            await self._stop_child(child)
        for child in self.children:
            if child.keeper is not None:
                child.keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await child.keeper

    async def _stop_child(self, child: Child) -> None:
        proc = child.proc
        if proc is None or proc.returncode is not None:
            return
        label = child.program.label
        if child.program.before_stop is not None:
            await child.program.before_stop(self.grace)
        log.info("stopping %s (pid %d)", label, proc.pid)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), self.grace)
        except TimeoutError:
            log.warning(
                "%s (pid %d) ignored SIGTERM for %g s; killing it", label, proc.pid, self.grace
            )
            # Its whole process group: whatever it started goes with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
