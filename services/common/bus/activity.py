"""Exit-after-idle: a service is idle when no call arrived for N seconds and nothing is running.

Bus activation brings it back on the next call, so resident memory is spent only while there is
work (hostnamed does the same with a 30 s timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator


class Activity:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = clock()
        self._running = 0
        self._busy_checks: list[Callable[[], bool]] = []
        self._changed = asyncio.Event()

    def touch(self) -> None:
        """A call arrived."""
        self._last = self._clock()
        self._changed.set()

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        """Mark work in progress (a method call, a job) for its duration."""
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            self.touch()

    def add_busy_check(self, check: Callable[[], bool]) -> None:
        """Logic that keeps the service busy on its own (a goal-state loop, a running job)."""
        self._busy_checks.append(check)

    @property
    def running(self) -> int:
        return self._running

    def busy(self) -> bool:
        return self._running > 0 or any(check() for check in self._busy_checks)

    async def wait_idle(self, timeout: float, poll: float = 5.0) -> None:
        """Return once the service has been idle for `timeout` seconds."""
        while True:
            if self.busy():
                self.touch()
            remaining = self._last + timeout - self._clock()
            if remaining <= 0 and not self.busy():
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                # Busy checks are polled; calls and finished work wake us at once.
                async with asyncio.timeout(max(0.01, min(remaining, poll))):
                    await self._changed.wait()

    async def drained(self) -> None:
        """Wait until no method call is running."""
        while self._running:
            self._changed.clear()
            await self._changed.wait()
