"""How long the supervisor waits before starting a service that failed again.

Exponential: 1 s, 2 s, 4 s ... capped at 60 s, so a service that cannot start does not spin,
and one that ran well for a while starts over from 1 s after its next failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FIRST_DELAY = 1.0
MAX_DELAY = 60.0
# A run at least this long counts as healthy: the next failure is treated as the first.
STABLE_AFTER = 60.0


@dataclass
class Backoff:
    first: float = FIRST_DELAY
    cap: float = MAX_DELAY
    stable_after: float = STABLE_AFTER
    _next: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._next = self.first

    def after_exit(self, uptime: float) -> float:
        """The delay before the next start, given how many seconds the last run lasted."""
        if uptime >= self.stable_after:
            self._next = self.first
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay
