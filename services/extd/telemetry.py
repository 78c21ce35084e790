"""Telemetry: the agent's own operation events, and the extensions' event folders (§9.12, §10.12).

Operation events (GuestAgentExtensionEvents) are queued as operations finish. Extension events
are files `<Extension.LogDir>/<Handler>/events/*.json` (one event or a list); each processed file
is deleted, newest first, at most 360 events per handler per collection, invalid events dropped
and counted. Both go to wire's SendEvents, which adds the common fields and batches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..common.clients.wire import WireApi
from ..common.logs import redact
from ..common.models import events
from ..common.models.events import LOGS_PROVIDER, TelemetryBatch, TelemetryEvent
from ..common.root import read_regular_file
from .event_budget import PER_PERIOD, EventBudget

log = logging.getLogger(__name__)

MAX_FILE = 4 << 20
MAX_EVENTS_PER_HANDLER = PER_PERIOD
MAX_MESSAGE = 3072
MAX_EVENT = 6144
LEFTOVER_AGE = 60.0  # seconds before a file that is not *.json is deleted
REQUIRED = (
    "version",
    "timestamp",
    "taskname",
    "eventlevel",
    "message",
    "eventpid",
    "eventtid",
    "operationid",
)


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def operation_event(
    name: str, version: str, operation: str, success: bool, message: str, duration: float
) -> TelemetryEvent:
    return events.operation_event(name, version, operation, success, message, int(duration * 1000))


def _extension_event(raw: Any, handler: str, version: str, mtime: float) -> TelemetryEvent | None:
    if not isinstance(raw, dict):
        return None
    fields = {str(k).lower(): v for k, v in raw.items()}
    if any(key not in fields for key in REQUIRED):
        return None
    values = {key: redact(str(fields[key]).strip()) for key in REQUIRED}
    values["message"] = values["message"][:MAX_MESSAGE]
    if not values["message"] or sum(len(v) for v in values.values()) > MAX_EVENT:
        return None
    try:
        pid, tid = int(values["eventpid"]), int(values["eventtid"])
    except ValueError:
        return None
    return TelemetryEvent(
        provider_id=LOGS_PROVIDER,
        event_id=7,
        parameters={
            "EventName": f"{handler}-{version}",
            "CapabilityUsed": values["eventlevel"],
            "TaskName": values["taskname"],
            "Context1": values["message"],
            "Context2": values["timestamp"],
            "Context3": values["operationid"],
            "EventPid": pid,
            "EventTid": tid,
            "OpcodeName": _stamp(mtime),
        },
    )


def _read_file(path: Path) -> tuple[bytes, float] | None:
    """The file's bytes and mtime; None for links, non-files and files over 4 MiB."""
    try:
        data, info = read_regular_file(path, MAX_FILE, follow=False)
    except OSError:
        return None
    return data, info.st_mtime


def collect_events(
    events_dir: Path, handler: str, version: str, limit: int = MAX_EVENTS_PER_HANDLER
) -> tuple[list[TelemetryEvent], int]:
    """The events of one handler's folder (files deleted), and how many were dropped."""
    if not events_dir.is_dir():
        return [], 0
    events: list[TelemetryEvent] = []
    dropped = 0
    for path in sorted(events_dir.glob("*.json"), reverse=True):
        read = _read_file(path) if len(events) < limit else None
        path.unlink(missing_ok=True)
        if read is None:
            continue
        data, mtime = read
        try:
            document = json.loads(data)
        except ValueError:
            dropped += 1
            continue
        for raw in document if isinstance(document, list) else [document]:
            event = _extension_event(raw, handler, version, mtime)
            if event is None or len(events) >= limit:
                dropped += 1
            else:
                events.append(event)
    _remove_leftovers(events_dir)
    if dropped:
        log.warning(
            "%s: %d extension event(s) dropped (invalid or over the limit)", handler, dropped
        )
    return events, dropped


def _remove_leftovers(events_dir: Path) -> None:
    """Classic deletes every other file too (a folder left non-empty would wake extd again and
    again); a file younger than LEFTOVER_AGE may be an extension's temporary file mid-write."""
    now = time.time()
    with contextlib.suppress(OSError), os.scandir(events_dir) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if not stat.S_ISDIR(info.st_mode) and now - info.st_mtime > LEFTOVER_AGE:
                    os.unlink(entry.path)


class Telemetry:
    """Events waiting to be handed to wire."""

    def __init__(self) -> None:
        self.queue: list[TelemetryEvent] = []

    def operation(
        self, name: str, version: str, operation: str, success: bool, message: str, duration: float
    ) -> None:
        self.queue.append(operation_event(name, version, operation, success, message, duration))

    def collect(
        self, handlers: Iterable[tuple[str, str, Path]], budget: EventBudget | None = None
    ) -> None:
        """(handler, version, events folder) of each handler on the VM; at most the budget's
        remaining events per handler."""
        for handler, version, folder in handlers:
            limit = MAX_EVENTS_PER_HANDLER if budget is None else budget.remaining(handler)
            events, _ = collect_events(folder, handler, version, limit)
            if budget is not None:
                budget.spend(handler, len(events))
            self.queue.extend(events)

    async def flush(self, wire: WireApi) -> int:
        events, self.queue = self.queue, []
        if not events:
            return 0
        try:
            await wire.send_events(TelemetryBatch(events=tuple(events)))
        except asyncio.CancelledError:
            # extd is exiting (its periodic collection is cancelled): the last flush sends them.
            self.queue = events + self.queue
            raise
        except Exception as exc:  # telemetry must never stop extension processing
            log.warning("%d telemetry event(s) not sent: %s", len(events), exc)
            return 0
        return len(events)
