"""Fast Track (§2.9 step 2, §4.3): vmSettings from the HostGAPlugin, and whether it serves them.

`FastTrack.fetch` is one GET /vmSettings per goal-state poll, with the ETag it has (a 304 costs
no parse and no write). The plugin's support is remembered: "not supported" (404, or a plugin
older than 1.0.8.133) is not asked again for 6 hours; a plugin that served Fast Track and then
stops is "support stopped", which sends the caller back to ExtensionsConfig. The timestamp of the
last Fast Track goal state is kept in `fast_track.json` (written atomically; deleted when the
plugin serves `Fabric` vmSettings), so an ExtensionsConfig older than it is known to be outdated
even after a restart. Errors are counted for the hourly `VmSettingsSummary` event; the first 3 of
each hour are sent as `VmSettings` events.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from ..common.models.events import TelemetryEvent, agent_event
from ..common.models.extensions import ExtensionsGoalState
from . import vm_settings
from .errors import FabricError, HttpFailed, ResourceGone
from .hostplugin import HostPlugin
from .state import StateFiles

log = logging.getLogger(__name__)

FILE = "fast_track.json"
RECHECK_AFTER = 6 * 3600.0  # a plugin found "not supported" is not asked again before this
REPORT_PERIOD = 3600.0
ERRORS_PER_PERIOD = 3
TICKS_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


class Support(StrEnum):
    """Whether the HostGAPlugin serves vmSettings (the FastTrack property of Wire1)."""

    UNKNOWN = "unknown"
    SUPPORTED = "supported"
    NOT_SUPPORTED = "not-supported"
    STOPPED = "support-stopped"
    DISABLED = "disabled"  # Debug.EnableFastTrack=n


def ticks_to_datetime(ticks: int) -> datetime:
    return TICKS_EPOCH + timedelta(microseconds=ticks // 10)


def datetime_to_ticks(moment: datetime) -> int:
    return (moment - TICKS_EPOCH) // timedelta(microseconds=1) * 10


@dataclass(frozen=True)
class Fetched:
    """What one poll learnt. `goal_state` is the latest usable Fast Track goal state (also when
    the answer was 304); `new` says it changed with this poll; `raw` is the new document."""

    goal_state: ExtensionsGoalState | None = None
    new: bool = False
    raw: bytes = b""
    etag: str = ""
    support_stopped: bool = False


@dataclass
class Counters:
    requests: int = 0
    errors: int = 0
    server_errors: int = 0
    client_errors: int = 0
    timeouts: int = 0
    failed_requests: int = 0
    reported: int = 0  # VmSettings error events sent this period
    since: float = field(default=0.0)

    def summary(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "serverErrors": self.server_errors,
            "clientErrors": self.client_errors,
            "timeouts": self.timeouts,
            "failedRequests": self.failed_requests,
        }


class FastTrack:
    def __init__(
        self,
        files: StateFiles,
        hostplugin: Callable[[], HostPlugin],
        *,
        enabled: bool,
        report: Callable[[TelemetryEvent], None] = lambda event: None,
        announce: Callable[[str], None] = lambda support: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.files = files
        self._hostplugin = hostplugin
        self.enabled = enabled
        self.report = report
        self._announce = announce  # the FastTrack property of Wire1
        self.clock = clock  # monotonic seconds (tests move it)
        self.support = Support.UNKNOWN if enabled else Support.DISABLED
        self._not_supported_at: float | None = None
        self.etag = ""
        self.latest: ExtensionsGoalState | None = None
        self._bad_etag = ""  # a document already found invalid (saved to history once)
        self.counters = Counters(since=clock())
        announce(self.support.value)

    def resume(self, current: ExtensionsGoalState) -> None:
        """After a restart: the cached Fast Track goal state and its ETag (a 304 keeps it)."""
        if self.enabled and current.channel == "HostGAPlugin" and current.id.startswith("etag_"):
            self.latest, self.etag = current, current.id.removeprefix("etag_")

    # ---- fast_track.json ------------------------------------------------------------------

    def timestamp_ticks(self) -> int | None:
        """The created-on of the last Fast Track goal state (fast_track.json), in ticks."""
        data = self.files.read(FILE)
        if data is None:
            return None
        try:
            stamp = json.loads(data)["timestamp"]
            moment = datetime.fromisoformat(stamp)
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring unreadable %s", self.files.path(FILE))
            return None
        return datetime_to_ticks(moment if moment.tzinfo else moment.replace(tzinfo=UTC))

    def _remember(self, goal_state: ExtensionsGoalState) -> None:
        if goal_state.source == "FastTrack":
            stamp = ticks_to_datetime(goal_state.created_on_ticks).isoformat()
            self.files.write(FILE, json.dumps({"timestamp": stamp}), mode=0o644)
        else:
            self.files.root.remove(self.files.path(FILE))

    # ---- the poll -------------------------------------------------------------------------

    def _set_support(self, support: Support) -> None:
        if support != self.support:
            log.info("Fast Track (vmSettings): %s", support.value)
            self.support = support
            self._announce(support.value)

    def _not_supported(self, why: str) -> Fetched:
        stopped = self.support == Support.SUPPORTED
        self._not_supported_at = self.clock()
        self.etag, self.latest = "", None
        if stopped:
            log.warning("the HostGAPlugin stopped serving vmSettings (%s)", why)
        self._set_support(Support.STOPPED if stopped else Support.NOT_SUPPORTED)
        return Fetched(support_stopped=stopped)

    def asks(self) -> bool:
        """Whether this poll asks for vmSettings at all."""
        if not self.enabled:
            return False
        if self._not_supported_at is None:
            return True
        return self.clock() - self._not_supported_at >= RECHECK_AFTER

    async def fetch(
        self,
        incarnation: str,
        refresh_container: Callable[[], Awaitable[object]],
        *,
        force: bool = False,
    ) -> Fetched:
        """One GET /vmSettings (a second one after a 410 and a goal-state refresh)."""
        self._summarize()
        if not self.asks():
            return Fetched(goal_state=self.latest)
        for attempt in (1, 2):
            try:
                return await self._once(incarnation, force)
            except ResourceGone:
                if attempt == 2:
                    raise
                log.info("vmSettings: 410, fetching the goal state for fresh container headers")
                await refresh_container()
        raise AssertionError("unreachable")

    async def _once(self, incarnation: str, force: bool) -> Fetched:
        self.counters.requests += 1
        try:
            reply = await self._hostplugin().vm_settings(None if force else (self.etag or None))
        except HttpFailed as exc:
            self._error(exc, timeout="timed out" in str(exc) or "no complete" in str(exc))
            raise
        if reply.status == 304:
            self._set_support(Support.SUPPORTED)
            return Fetched(goal_state=self.latest)
        if reply.status == 404:
            return self._not_supported("404")
        if reply.status == 410:
            raise ResourceGone("vmSettings: 410 Gone (goal state changed)", 410)
        if reply.status != 200:
            label = " [Internal error in HostGAPlugin]" if reply.status == 502 else ""
            error = HttpFailed(f"vmSettings: HTTP {reply.status}{label}", reply.status)
            self._error(error)
            raise error
        etag = reply.headers.get("etag", "")
        if not etag:
            error = HttpFailed("vmSettings: a 200 answer without an ETag")
            self._error(error)
            raise error
        return self._parsed(reply.body, etag, incarnation)

    def _parsed(self, body: bytes, etag: str, incarnation: str) -> Fetched:
        try:
            document = vm_settings.load(body)
            if vm_settings.plugin_version(document.host_ga_plugin_version) < (
                vm_settings.MIN_HGAP_VERSION
            ):
                return self._not_supported(f"plugin version {document.host_ga_plugin_version}")
            goal_state = vm_settings.to_goal_state(document, etag, incarnation)
        except vm_settings.VmSettingsParseError as exc:
            self._error(exc)
            first = etag != self._bad_etag
            self._bad_etag = etag
            raise InvalidVmSettings(str(exc), etag, body if first else b"") from None
        self.etag = etag
        self._set_support(Support.SUPPORTED)
        self._remember(goal_state)
        if goal_state.source == "Fabric":
            log.info("vmSettings %s come from the Fabric: ignored (ExtensionsConfig rules)", etag)
            self.latest = None
            return Fetched(etag=etag)
        self.latest = goal_state
        return Fetched(goal_state=goal_state, new=True, raw=body, etag=etag)

    # ---- telemetry ------------------------------------------------------------------------

    def _error(self, exc: FabricError, *, timeout: bool = False) -> None:
        counters = self.counters
        counters.errors += 1
        status = getattr(exc, "status", None)
        if timeout:
            counters.timeouts += 1
        elif isinstance(status, int) and 400 <= status < 500:
            counters.client_errors += 1
        elif isinstance(status, int) and status >= 500:
            counters.server_errors += 1
        elif isinstance(exc, HttpFailed):
            counters.failed_requests += 1
        if counters.reported < ERRORS_PER_PERIOD:
            counters.reported += 1
            self.report(agent_event("VmSettings", False, str(exc)))

    def _summarize(self) -> None:
        """Once an hour: the counts of the hour as `VmSettingsSummary` (only if there were any)."""
        now = self.clock()
        if now - self.counters.since < REPORT_PERIOD:
            return
        if self.counters.requests:
            self.report(agent_event("VmSettingsSummary", True, json.dumps(self.counters.summary())))
        self.counters = Counters(since=now)


class InvalidVmSettings(vm_settings.VmSettingsParseError):
    """A document that breaks §4.3; `raw` is its text the first time this ETag was seen."""

    def __init__(self, message: str, etag: str, raw: bytes) -> None:
        super().__init__(message)
        self.etag = etag
        self.raw = raw
