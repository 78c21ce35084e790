"""The extd daemon without the bus: goal states, manual operations, status uploads, idleness.

`process_goal_state()` only schedules: the work runs in its own task (a ProcessGoalState that
arrives meanwhile makes it run once more, with the newest goal state). One operation runs at a
time. After each step the aggregate status is computed from the records and the files and handed
to wire when it changed; while any extension is still transitioning it is recomputed every
`poll` seconds, so a status file is reported as soon as the extension writes it. The service is
busy (it does not exit when idle) while work is scheduled, an operation runs, an extension is
transitioning, or a handler reports a heartbeat that must be watched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ..common.classic_files import ClassicFiles
from ..common.clients.wire import WireApi
from ..common.errors import InvalidArgs, NotFound, NotSupported, WaagentError
from ..common.jobs import Jobs
from ..common.models.handover import Handover
from ..common.models.status import ExtensionsStatus
from .agent_disabled import AgentSwitch
from .aggregate_status import Entry, comparable
from .event_budget import EventBudget
from .event_watch import EventWatch
from .layout import Layouts
from .lifecycle import Lifecycle
from .plan import build_plan
from .processing import Processor
from .records import Records
from .report import Reporter
from .state import HandlerRecord
from .telemetry import Telemetry

log = logging.getLogger(__name__)

Listener = Callable[[list[Entry]], None]

UPLOAD_GRACE = 5.0  # seconds a status upload in flight may take when extd stops


@dataclass(frozen=True)
class WatchSettings:
    poll: float = 0.2  # while an extension is transitioning, right after a change
    slow_poll: float = 6.0  # once nothing changed for `fast_for` seconds
    fast_for: float = 60.0
    # Extension events: collected this often while extd runs (min(Debug.EtpCollectionPeriod, 60)).
    events: float = 60.0


class ExtensionsService:
    def __init__(
        self,
        *,
        wire: WireApi,
        layouts: Layouts,
        records: Records,
        reporter: Reporter,
        lifecycle: Lifecycle,
        processor: Processor,
        telemetry: Telemetry,
        classic_files: ClassicFiles,
        agent: AgentSwitch | None = None,
        budget: EventBudget | None = None,
        event_watch: EventWatch | None = None,
        watch: WatchSettings = WatchSettings(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.wire = wire
        self.layouts = layouts
        self.records = records
        self.reporter = reporter
        self.lifecycle = lifecycle
        self.processor = processor
        self.telemetry = telemetry
        self.classic_files = classic_files
        self.agent = agent
        self.budget = budget
        self.event_watch = event_watch or EventWatch(None)
        self.watch = watch
        self.clock = clock
        self.listeners: list[Listener] = []
        self.entries: list[Entry] = []
        # One operation at a time: a goal state, or an Enable/Disable/Uninstall by hand.
        self.jobs = Jobs[None]("extensions")
        self._pending = False
        self._accepted: Handover | None = None  # the last hand-over, not yet processed
        self._worker: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._uploaded = ""
        self._changed_at = clock()
        self._report = ExtensionsStatus()
        self._queued = ""
        self._next_upload: ExtensionsStatus | None = None
        self._next_final = False  # the queued report is the completed goal state's
        self._uploader: asyncio.Future[None] | None = None
        self._collector: asyncio.Task[None] | None = None

    # ---- state ----------------------------------------------------------------------------

    def busy(self) -> bool:
        working = self._worker is not None and not self._worker.done()
        uploading = self._uploader is not None and not self._uploader.done()
        return working or uploading or self.jobs.busy() or self._watching()

    def _watching(self) -> bool:
        return self._watcher is not None and not self._watcher.done()

    def transitioning(self) -> bool:
        return any(not e.terminal for e in self.entries) or self._heartbeats()

    def _heartbeats(self) -> bool:
        """An enabled handler that reports a heartbeat must be watched to report it."""
        for record in self.records.handlers.values():
            layout = self.layouts.of(record.name, record.version)
            if record.requested_state != "enabled" or layout.read_state() != "Enabled":
                continue
            manifest = self.reporter.manifest(layout)
            if manifest is not None and manifest.report_heartbeat:
                return True
        return False

    # ---- start ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Show what is on disk; resume a goal state an earlier extd did not finish."""
        left = await self.lifecycle.commands.recover()
        if left:
            log.info("an earlier extd was stopped while %d command(s) ran", len(left))
        self._compute()
        state = self.records.state
        if state.goal_state_id and not state.completed:
            log.info(
                "resuming goal state %s, which an earlier extd did not finish", state.goal_state_id
            )
            self.process_goal_state()
        elif self.transitioning():
            self._ensure_watcher()
        if state.completed and not state.reported:
            log.info(
                "the status of goal state %s did not reach wire: sending it", state.goal_state_id
            )
            await self.publish(force=True)
        # Not part of busy(): extd still exits when idle (and collects once more then).
        self._collector = asyncio.ensure_future(self._collect_periodically())

    async def shutdown(self) -> None:
        """Before extd exits (SIGTERM, idle): stop the work in flight, then hand over the
        extensions' telemetry written since the last run.

        The goal state being processed is cancelled here, while the bus is still open: the
        records on disk let the next extd resume it, and a step ending during the exit would
        otherwise announce its result on a closed connection. A status upload in flight gets
        a moment to reach wire."""
        work = [t for t in (self._collector, self._worker, self._watcher) if t is not None]
        for task in work:
            task.cancel()
        await self.jobs.cancel()  # the worker's wait does not cancel the job it waits for
        for task in work:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._uploader is not None and not self._uploader.done():
            await asyncio.wait([self._uploader], timeout=UPLOAD_GRACE)
            self._uploader.cancel()
        self.telemetry.collect(self._event_folders(), self.budget)
        await self.telemetry.flush(self.wire)

    # ---- extension events (§9.12) -----------------------------------------------------------

    async def collect_events(self) -> None:
        """Hand the extensions' events to wire; watch the folders of the handlers on disk."""
        folders = self._event_folders()
        self.telemetry.collect(folders, self.budget)
        await self.telemetry.flush(self.wire)
        on_disk = (f for name, version, f in folders if self.layouts.of(name, version).exists())
        await self.event_watch.sync(on_disk)

    async def _collect_periodically(self) -> None:
        """At start (systemd may have started extd for a new event file), then periodically."""
        while True:
            try:
                await self.collect_events()
            except Exception:
                log.exception("collecting extension events failed")
            await asyncio.sleep(self.watch.events)

    # ---- goal states ------------------------------------------------------------------------

    async def accept_goal_state(self, handover: Handover) -> None:
        """Take the goal state wire hands over: recorded on disk (so it is resumed after a
        crash), then scheduled. Wire's call returns once this did, which is its acknowledgement."""
        self.records.accept(handover.goal_state_id)
        self._accepted = handover  # processed as handed over: no call back to wire
        self.process_goal_state()

    def process_goal_state(self) -> None:
        """Schedule processing of the current goal state; returns at once."""
        self._pending = True
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._work())

    async def _work(self) -> None:
        done: str | None = None  # a request that came during processing of the same goal state
        while self._pending:
            self._pending = False
            try:
                done = await self._process_once(skip=done)
            except WaagentError as exc:
                log.error("cannot process the extensions goal state: %s", exc)
            except Exception:
                log.exception("processing the extensions goal state failed unexpectedly")
        self._ensure_watcher()

    async def _process_once(self, skip: str | None = None) -> str | None:
        """Process the current goal state (unless it is `skip`); return its id.

        A goal state wire handed over needs nothing more from wire; one extd resumes on its own
        costs one call (GetHandover) before the work starts."""
        handover, self._accepted = self._accepted, None
        if handover is None:
            handover = await self.wire.handover()
        if handover is None:
            log.info("wire has no extensions goal state yet")
            return None
        if handover.goal_state_id == skip:
            log.debug("goal state %s was just processed", skip)
            return skip
        disabled = self.agent is not None and self.agent.disabled()
        # A VM without an agent gets none of the files extensions read (as classic).
        thumbprints = frozenset[str]() if disabled else self._classic_files(handover)
        plan = build_plan(handover.extensions, certificates=thumbprints)
        log.info("processing goal state %s: %d handler(s)", plan.goal_state_id, len(plan.handlers))
        started = self.clock()

        async def run() -> None:
            await self.processor.process(plan, step_done=self.publish)
            self.lifecycle.commands.settle()

        await self.jobs.run(run)
        log.info("goal state %s processed in %.2f s", plan.goal_state_id, self.clock() - started)
        await self.publish(force=True)
        await self.collect_events()
        return plan.goal_state_id

    def _classic_files(self, handover: Handover) -> frozenset[str]:
        """The Lib.Dir files extensions read; the thumbprints of the certificates with a key."""
        self.classic_files.write_goal_state_files(handover.endpoint, handover.shared_config or None)
        self.classic_files.write_certificates(handover.certificates)
        return frozenset(c.thumbprint.upper() for c in handover.certificates if c.private_key_pem)

    def _event_folders(self) -> list[tuple[str, str, Path]]:
        folders = []
        for record in self.records.handlers.values():
            layout = self.layouts.of(record.name, record.version)
            folders.append((record.name, record.version, layout.events_dir))
        return folders

    # ---- status -----------------------------------------------------------------------------

    def current_report(self) -> ExtensionsStatus:
        self._compute()
        return self._report

    def _compute(self) -> None:
        report, entries = self.reporter.report(self.records.state)
        self.entries = entries
        self._report = report
        for listener in self.listeners:
            listener(entries)

    async def publish(self, *, force: bool = False) -> None:
        """Recompute the status; hand it to wire when it changed (or when `force`).

        Uploads run in one background task that always sends the newest report, so a slow
        upload never holds up the next operation and a burst of changes costs one upload.
        """
        self._compute()
        key = comparable(self._report)
        if key in (self._uploaded, self._queued) and not force:
            return
        if key != self._uploaded:
            self._changed_at = self.clock()
        self._queued = key
        self._next_upload = self._report
        state = self.records.state
        self._next_final = state.completed and not state.reported
        if self._uploader is None or self._uploader.done():
            self._uploader = asyncio.ensure_future(self._upload())

    async def _upload(self) -> None:
        while self._next_upload is not None:
            report, key, final = self._next_upload, self._queued, self._next_final
            self._next_upload = None
            try:
                await self.wire.upload_status(report)
            except WaagentError as exc:
                log.warning("status not handed to wire: %s", exc)
                self._queued = ""
                return
            self._uploaded = key
            if final:
                self.records.mark_reported()

    def _ensure_watcher(self) -> None:
        if self.transitioning() and not self._watching():
            self._watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while self.transitioning():
            fast = self.clock() - self._changed_at < self.watch.fast_for
            await asyncio.sleep(self.watch.poll if fast else self.watch.slow_poll)
            if self.jobs.busy():
                continue  # the running operation publishes after each step
            try:
                await self.publish()
            except Exception:
                log.exception("status watch failed")

    # ---- manual operations ------------------------------------------------------------------

    def _record(self, handler: str) -> HandlerRecord:
        """The handler an operation by hand acts on (refused when the agent is disabled)."""
        if self.agent is not None and self.agent.disabled():
            raise NotSupported(self.agent.refusal())
        record = self.records.get(handler)
        if record is None:
            raise NotFound(f"no extension handler {handler!r}")
        return record

    async def _manual(self, work: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            try:
                await work()
            finally:
                self.records.save()
                self.lifecycle.commands.settle()

        await self.jobs.run(run)
        await self.publish(force=True)
        self._ensure_watcher()

    async def enable(self, handler: str, extension: str | None = None) -> None:
        record = self._record(handler)
        self._check_extension(record, extension)
        await self._manual(lambda: self.lifecycle.enable_installed(record.name, extension))

    async def disable(self, handler: str, extension: str | None = None) -> None:
        record = self._record(handler)
        self._check_extension(record, extension)
        await self._manual(lambda: self.lifecycle.disable_installed(record.name, extension))

    async def uninstall(self, handler: str) -> None:
        record = self._record(handler)
        await self._manual(lambda: self.lifecycle.uninstall(record.name, record.multi_config))

    @staticmethod
    def _check_extension(record: HandlerRecord, extension: str | None) -> None:
        if extension is None and record.multi_config:
            raise InvalidArgs(f"{record.name} is multi-config: name one of its extensions")
        if extension is not None and record.extension(extension) is None:
            raise NotFound(f"{record.name} has no extension {extension!r}")
        if extension is not None and not record.multi_config:
            raise NotSupported(f"{record.name} is not multi-config")
