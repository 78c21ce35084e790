"""One provisioning run: the time of each step, the health reports it sends, its saved record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..common.clients.wire import WireApi as Wire
from ..common.errors import WaagentError
from .models import Record, Status, StepTime
from .state import StateStore

log = logging.getLogger(__name__)

StepListener = Callable[[str], None]


class Run:
    def __init__(
        self,
        wire: Wire,
        store: StateStore,
        status: Callable[[], Status],
        step_listeners: list[StepListener],
    ) -> None:
        self.wire = wire
        self.store = store
        self._status = status
        self._step_listeners = step_listeners
        self.steps: list[StepTime] = []
        self.started = time.monotonic()
        # How the run ended (shown once it is over); None until it does.
        self.outcome: Status | None = None
        # A health report on its way while the steps run.
        self._pending: asyncio.Future[bool] | None = None

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        for listener in self._step_listeners:
            listener(name)
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        self.steps.append(StepTime(name=name, seconds=round(seconds, 6)))
        log.info("step %s done in %.3f s", name, seconds)

    async def _send(self, state: str, substatus: str, description: str) -> bool:
        """Report health through wire; a failure is logged, never raised (as classic)."""
        try:
            await self.wire.report_health(state, substatus, description)
        except WaagentError as exc:
            log.warning("cannot report %s %s: %s", state, substatus, exc.message)
            return False
        return True

    def report_soon(self, state: str, substatus: str = "", description: str = "") -> None:
        """Report while the steps go on (wire may first fetch the goal state); the next report
        waits for this one, so the fabric sees them in order."""
        self._pending = asyncio.ensure_future(self._send(state, substatus, description))

    async def report(self, state: str, substatus: str = "", description: str = "") -> bool:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending
        return await self._send(state, substatus, description)

    def save(self, **changes: Any) -> Record:
        """The record, with the status as shown (or as given) and this run's step times."""
        changes.setdefault("status", self._status())
        record = self.store.load().model_copy(update={"steps": tuple(self.steps), **changes})
        self.store.save(record)
        return record
