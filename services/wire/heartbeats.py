"""The heartbeats the host expects (§10.3), run from wire's goal-state loop, not a timer.

Every minute: HostGAPlugin `GET /health` (after `/versions` while the plugin is not yet known to be
available) and the IMDS health check, both reported to HealthService in **one** POST
(`GuestAgentPluginHeartbeat`, `InstanceMetadataHeartbeat`, and `GuestAgentPluginStatus` when a
status went through the plugin since). The classic agent made three POSTs for these.
An observation turns unhealthy only after continuous failure: 5 min for the plugin, 3 min for
IMDS. Every 30 min: telemetry `HeartBeat` and, when any were counted, `HttpErrors`.

The loop calls `tick()` after each poll; a due round runs as a task, so a slow host never delays
the next poll. Each duty catches its own errors and warns at most once an hour.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from .. import AGENT_NAME, AGENT_VERSION
from ..common import telemetry_xml
from ..common.logs import redact
from ..common.models.events import TelemetryEvent, agent_event
from . import health_service
from .connection import Connection
from .errors import FabricError
from .health_service import Observation
from .http import IO_ERROR_CLASSES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periods:
    """Seconds. `scaled` keeps the ratios for tests: a check period of 1 s makes 5 s and 3 s."""

    check: float = 60.0
    host_plugin_unhealthy: float = 300.0
    imds_unhealthy: float = 180.0
    telemetry: float = 1800.0
    warning: float = 3600.0

    @classmethod
    def scaled(cls, check: float) -> Periods:
        factor = check / cls.check
        default = cls()
        return replace(default, **{f.name: getattr(default, f.name) * factor for f in fields(cls)})


class Failing:
    """How long something has failed without a success in between (classic ErrorState)."""

    def __init__(self) -> None:
        self.since: float | None = None

    def observe(self, ok: bool, now: float) -> None:
        if ok:
            self.since = None
        elif self.since is None:
            self.since = now

    def longer_than(self, threshold: float, now: float) -> bool:
        return self.since is not None and now - self.since >= threshold


class Heartbeats:
    def __init__(
        self,
        connection: Callable[[], Connection],
        send: Callable[[list[TelemetryEvent]], None],
        update_mode: Callable[[], str],
        *,
        periods: Periods | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connection, self._send, self._update_mode = connection, send, update_mode
        self.periods = periods or Periods()
        self._clock = clock
        self.heartbeat_id = str(uuid.uuid4()).upper()
        self.counter = 0
        self.goal_state_errors = 0
        self.host_plugin = Failing()
        self.imds = Failing()
        self._status: Observation | None = None  # GuestAgentPluginStatus, once per round
        # The first round one period after start: the agent has settled by then.
        start = clock()
        self._next_check = start + self.periods.check
        self._next_telemetry = start + self.periods.check
        self._reported: dict[str, float] = {}  # unhealthy telemetry: key -> when last sent
        self._warned: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    # ---- what the rest of wire tells it ---------------------------------------------------

    def goal_state_failed(self) -> None:
        self.goal_state_errors += 1

    def host_plugin_status(self, ok: bool, why: str) -> None:
        """A status upload through HostGAPlugin; the last one of a minute is reported."""
        self._status = Observation(
            name=health_service.HOST_PLUGIN_STATUS, is_healthy=ok, description=why
        )

    # ---- the schedule --------------------------------------------------------------------

    @property
    def next_check(self) -> float:
        return self._next_check

    @property
    def next_telemetry(self) -> float:
        return self._next_telemetry

    def resume(
        self,
        *,
        next_check: float,
        next_telemetry: float,
        host_plugin_since: float | None,
        imds_since: float | None,
    ) -> None:
        """Take over the schedule the resident poller kept (`poller_state.py`)."""
        self._next_check, self._next_telemetry = next_check, next_telemetry
        self.host_plugin.since, self.imds.since = host_plugin_since, imds_since

    def running(self) -> bool:
        return self._task is not None

    def due(self) -> bool:
        return self._clock() >= min(self._next_check, self._next_telemetry)

    def tick(self) -> None:
        """Called by the loop after each poll: start a round when one is due and none runs."""
        if self._task is None and self.due():
            self._task = asyncio.create_task(self.run_due())
            self._task.add_done_callback(self._finished)

    def stop(self) -> None:
        """The loop ends (wire exits): a round in flight is cancelled, not left pending."""
        if self._task is not None:
            self._task.cancel()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._task = None
        if not task.cancelled() and task.exception() is not None:
            self._warn("heartbeats", f"heartbeat round failed: {task.exception()!r}")

    async def run_due(self) -> None:
        now = self._clock()
        if now >= self._next_check:
            self._next_check = _next(self._next_check, self.periods.check, now)
            await self.check()
        if now >= self._next_telemetry:
            self._next_telemetry = _next(self._next_telemetry, self.periods.telemetry, now)
            self.send_telemetry()

    # ---- every minute ----------------------------------------------------------------------

    async def check(self) -> None:
        conn = self._connection()
        plugin_ok, imds_ok = await asyncio.gather(self._host_plugin(conn), self._imds(conn))
        now = self._clock()
        self.host_plugin.observe(plugin_ok[0], now)
        self.imds.observe(imds_ok[0], now)
        periods = self.periods
        observations = [
            Observation(
                name=health_service.HOST_PLUGIN_HEARTBEAT,
                is_healthy=not self.host_plugin.longer_than(periods.host_plugin_unhealthy, now),
                description=plugin_ok[1],
            ),
            Observation(
                name=health_service.IMDS_HEARTBEAT,
                is_healthy=not self.imds.longer_than(periods.imds_unhealthy, now),
                description=imds_ok[1],
            ),
        ]
        if self._status is not None:
            observations.append(self._status)
            self._status = None
        self._report_unhealthy(observations, now)
        try:
            await health_service.report(conn.wireserver.http, conn.address, observations)
        except FabricError as exc:
            self._warn("healthservice", f"HealthService report failed: {exc}")

    async def _host_plugin(self, conn: Connection) -> tuple[bool, str]:
        try:
            if not conn.hostplugin.available:
                await conn.hostplugin.ensure_available()
        except FabricError as exc:
            log.debug("HostGAPlugin versions: %s", exc)
        try:
            await conn.hostplugin.health()
        except FabricError as exc:
            self._warn("hostplugin", f"HostGAPlugin health check failed: {exc}")
            return False, str(exc)
        return True, ""

    async def _imds(self, conn: Connection) -> tuple[bool, str]:
        healthy, why = await conn.imds.health()
        if not healthy:
            self._warn("imds", f"IMDS health check failed: {why}")
        return healthy, why

    def _report_unhealthy(self, observations: list[Observation], now: float) -> None:
        """Telemetry for unhealthy observations and a plugin failing past its threshold: when
        it starts, then every telemetry period while it lasts (not every minute)."""
        extended = self.host_plugin.longer_than(self.periods.host_plugin_unhealthy, now)
        events = telemetry_xml.unhealthy_reports(
            [o.model_dump(by_alias=True) for o in observations],
            now - (self.host_plugin.since or now) if extended else None,
            self._reported,
            self.periods.telemetry,
            now,
        )
        if events:
            self._send([agent_event(operation, False, message) for operation, message in events])

    # ---- every 30 minutes ------------------------------------------------------------------

    def heartbeat_text(self) -> str:
        return (
            f"HeartbeatCounter: {self.counter};HeartbeatId: {self.heartbeat_id};"
            # AutoUpdate: 0 always: this agent never updates itself (docs/wire.md).
            f"UpdateGSErrors: {self.goal_state_errors};AutoUpdate: 0;"
            f"UpdateMode: {self._update_mode()};"
        )

    def send_telemetry(self) -> None:
        text = self.heartbeat_text()
        events = [agent_event("HeartBeat", True, text)]
        log.info("[HEARTBEAT] Agent %s-%s is running: %s", AGENT_NAME, AGENT_VERSION, text)
        self.counter += 1
        self.goal_state_errors = 0
        counts = self._connection().wireserver.http.io_errors.take()
        if any(counts.values()):
            summary = ";".join(f"{k}:{counts[k]}" for k in IO_ERROR_CLASSES)
            events.append(agent_event("HttpErrors", True, summary))
        self._send(events)

    # ---- errors ----------------------------------------------------------------------------

    def _warn(self, duty: str, text: str) -> None:
        """One warning an hour per duty; the rest at debug level."""
        now = self._clock()
        last = self._warned.get(duty)
        if last is None or now - last >= self.periods.warning:
            self._warned[duty] = now
            log.warning("%s", redact(text))
        else:
            log.debug("%s", redact(text))


def _next(due: float, period: float, now: float) -> float:
    """The next due time on the same grid, so rounds average one per period; after a long
    pause (a suspended VM), one round now and the grid restarts."""
    following = due + period
    return following if following > now else now + period
