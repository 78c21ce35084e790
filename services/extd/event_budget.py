"""The classic volume limit of extension events: at most 360 per handler per
`Debug.EtpCollectionPeriod` (reference §9.12).

Classic collected every period and took at most 360 events per handler each time. extd collects
much sooner (when a file appears), so the 360 are a budget per period window instead; the window
is kept on disk (`<Lib.Dir>/extd.events.json`) because extd exits when idle between collections.
Events over the budget are dropped (and counted), as classic dropped them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import Field, ValidationError

from ..common.models.base import FrozenModel
from ..common.root import write_file_atomic

log = logging.getLogger(__name__)

FILE_NAME = "extd.events.json"
PER_PERIOD = 360


class Window(FrozenModel):
    started: float = 0.0
    taken: dict[str, int] = Field(default_factory=dict)


class EventBudget:
    def __init__(
        self,
        path: Path,
        period: float,
        *,
        per_period: int = PER_PERIOD,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.period = period
        self.per_period = per_period
        self.clock = clock
        self.window = self._load()

    def _load(self) -> Window:
        try:
            return Window.model_validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return Window()
        except (OSError, ValidationError):
            log.warning("%s is unreadable; a new event budget starts", self.path)
            return Window()

    def _current(self) -> Window:
        now = self.clock()
        if not self.window.started <= now < self.window.started + self.period:
            self.window = Window(started=now)
        return self.window

    def remaining(self, handler: str) -> int:
        return max(0, self.per_period - self._current().taken.get(handler, 0))

    def spend(self, handler: str, count: int) -> None:
        if count <= 0:
            return
        window = self._current()
        taken = {**window.taken, handler: window.taken.get(handler, 0) + count}
        self.window = window.model_copy(update={"taken": taken})
        try:
            write_file_atomic(self.path, self.window.model_dump_json(), mode=0o600)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.path, exc.strerror or exc)
