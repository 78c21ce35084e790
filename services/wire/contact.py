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
    def __init__(self, changed: Callable[[], None]) -> None:
        self.observable = Observable()
        self.problem = Problem()
        self._changed = changed  # the bus adapter emits what changed

    def set(self, **values: object) -> None:
        if self.observable.update(**values):
            self._changed()

    def touched(self) -> None:
        # Not announced (see LastContact in bus.py): set without telling the adapter.
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
