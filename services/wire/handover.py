"""Handing a new extensions goal state to extd, until extd acknowledges it.

extd's ProcessGoalState carries the hand-over (the goal state and all extd needs with it) and
returns once extd has recorded the goal state on disk; that reply is the acknowledgement. A call
that fails (extd killed in the middle, a restart under way, a timeout) is sent again with a
backoff until one succeeds or extd is not installed at all. Notifications that arrive meanwhile
are folded into the next call, which is built when it is sent: extd always gets the newest.
The remote access users the provisioner takes are handed over the same way (`remote_access.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..common.bus.client import ServiceUnavailable
from ..common.errors import WaagentError

log = logging.getLogger(__name__)

FIRST_RETRY = 1.0
LAST_RETRY = 60.0


class Handover:
    def __init__(
        self,
        send: Callable[[], Awaitable[None]],
        *,
        first_retry: float = FIRST_RETRY,
        last_retry: float = LAST_RETRY,
        failed: str = "extd could not take the goal state",
        absent: str = "extensions are not processed",
    ) -> None:
        self._send = send
        # What the log says when a call fails, and when the service is not installed.
        self._failed = failed
        self._absent = absent
        self._first_retry = first_retry
        self._last_retry = last_retry
        self._wanted = 0  # notifications so far
        self._acknowledged = 0  # the newest notification extd acknowledged
        self._task: asyncio.Task[None] | None = None
        self._missing_logged = False

    def notify(self) -> None:
        self._wanted += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def pending(self) -> bool:
        return self._acknowledged < self._wanted

    async def _run(self) -> None:
        delay = self._first_retry
        while self.pending():
            target = self._wanted
            try:
                await self._send()
            except ServiceUnavailable as exc:
                if exc.not_installed:
                    if not self._missing_logged:
                        log.info("%s: %s", self._absent, exc)
                        self._missing_logged = True
                    self._acknowledged = self._wanted
                    return
                log.warning("%s (%s); again in %g s", self._failed, exc, delay)
            except WaagentError as exc:
                log.warning("%s (%s); again in %g s", self._failed, exc, delay)
            else:
                self._acknowledged = target
                delay = self._first_retry
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._last_retry)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
