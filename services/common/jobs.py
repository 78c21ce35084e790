"""One job at a time, as udisks2 jobs: a long operation runs in its own task and has a result;
and the status those jobs change, which tells its listeners (the bus adapter) of every change.

A service's jobs queue behind each other (one lock), so two never change the same thing at once.
A job runs in its own task: a caller that gives up (its D-Bus call timed out, the client went
away) does not interrupt a half-made partition table; the work goes on and its outcome shows
in the service's status. A request that names a `kind` joins the job of that kind that is
queued or running instead of starting a second one (a second Activate waits for the first).
A job's failure reaches whoever awaits it and is logged here, never "Task exception was never
retrieved".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from .errors import WaagentError

log = logging.getLogger(__name__)

R = TypeVar("R")
S = TypeVar("S", bound=BaseModel)


class StatusHolder(Generic[S]):
    """Keeps `status` (a frozen model) and calls each listener with (old, new) when it changes."""

    def __init__(self, status: S) -> None:
        self.status = status
        self.listeners: list[Callable[[S, S], None]] = []

    def _update(self, **changes: Any) -> None:
        old = self.status
        new = old.model_copy(update=changes)
        if new == old:
            return
        self.status = new
        for listener in self.listeners:
            listener(old, new)


class Jobs(Generic[R]):
    """The jobs of one service; `what` names them in the log."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._lock = asyncio.Lock()
        self._jobs: set[asyncio.Task[R]] = set()
        self._by_kind: dict[str, asyncio.Task[R]] = {}

    def busy(self) -> bool:
        """A job is queued or running."""
        return any(not job.done() for job in self._jobs)

    def start(
        self, work: Callable[[], Awaitable[R]], *, kind: str | None = None
    ) -> asyncio.Task[R]:
        """Queue `work` as a job (or join the unfinished job of `kind`); the task ends with the
        job's result or error."""
        if kind is not None:
            joined = self._by_kind.get(kind)
            if joined is not None and not joined.done():
                return joined
        job = asyncio.ensure_future(self._locked(work))
        self._jobs.add(job)
        job.add_done_callback(self._ended)
        if kind is not None:
            self._by_kind[kind] = job
        return job

    async def run(self, work: Callable[[], Awaitable[R]], *, kind: str | None = None) -> R:
        """Start (or join) the job and wait for it; cancelling the wait leaves the job running."""
        return await asyncio.shield(self.start(work, kind=kind))

    async def wait(self) -> None:
        """Return once no job is queued or running."""
        while pending := [job for job in self._jobs if not job.done()]:
            await asyncio.wait(pending)

    async def cancel(self) -> None:
        """Cancel every queued or running job and wait until they are gone (a service that
        stops: the job's own cleanup runs, nothing of it outlives the service's bus)."""
        pending = [job for job in self._jobs if not job.done()]
        for job in pending:
            job.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _locked(self, work: Callable[[], Awaitable[R]]) -> R:
        async with self._lock:
            return await work()

    def _ended(self, job: asyncio.Task[R]) -> None:
        self._jobs.discard(job)
        if job.cancelled():
            return
        # Retrieved here, so an error nobody awaited is logged, not warned about at exit. Our
        # errors are the service's to show (its status says why); anything else is a bug.
        error = job.exception()
        if isinstance(error, WaagentError):
            log.debug("%s job failed: %s", self.what, error.message)
        elif error is not None:
            log.error("%s job failed unexpectedly", self.what, exc_info=error)
