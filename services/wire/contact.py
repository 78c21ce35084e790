"""How the fabric answers: the observable Wire1 properties and the current problem, if any.

Each distinct problem is logged once (no log flood while the fabric is away); its start is kept,
so the poller knows when to look for the endpoint again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..common.logs import redact
from .state import READY, Observable

log = logging.getLogger(__name__)


@dataclass
class Problem:
    text: str = ""
    since: float = 0.0
    failures: int = 0


class Contact:
    def __init__(self, properties_changed: Callable[[dict[str, object]], None]) -> None:
        self.observable = Observable()
        self.problem = Problem()
        self._properties_changed = properties_changed

    def set(self, **values: object) -> None:
        self.observable.update(**values)
        if self.observable.changes:
            self._properties_changed(self.observable.take_changes())

    def touched(self) -> None:
        # Not announced with PropertiesChanged: it moves on every poll, and a signal every few
        # seconds would cost every listener (and wire) for nothing. Read it when needed.
        self.observable.last_contact = int(time.time() * 1_000_000)

    def recovered(self) -> None:
        if self.problem.text:
            log.info("fabric reachable again after %d failed attempt(s)", self.problem.failures)
        self.problem = Problem()
        self.set(state=READY, last_error="")

    def failed(self, exc: Exception, state: str) -> None:
        text = redact(str(exc))  # LastError is readable by anyone
        if text != self.problem.text:
            log.warning("%s", text)
            self.problem = Problem(text, time.monotonic(), 0)
        self.problem.failures += 1
        self.set(state=state, last_error=text)
