"""Telemetry to the WireServer (§10.12): queued, sent in batches of 30 events or after 5 s."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from .. import AGENT_NAME, AGENT_VERSION
from ..common.models.events import TelemetryEvent
from ..common.models.goal_state import GoalStateSummary
from ..common.root import Root
from . import osinfo, reports
from .errors import FabricError
from .wireserver import WireServer

log = logging.getLogger(__name__)

FLUSH_DELAY = 5.0
FLUSH_COUNT = 30


class Telemetry:
    def __init__(
        self,
        root: Root,
        wireserver: Callable[[], WireServer],
        summary: Callable[[], GoalStateSummary | None],
    ) -> None:
        self.root = root
        self._wireserver = wireserver
        self._summary = summary
        self.queue: list[TelemetryEvent] = []
        self._flush: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Future[object]] = set()

    def send(self, events: Sequence[TelemetryEvent]) -> None:
        self.queue.extend(events)
        if len(self.queue) >= FLUSH_COUNT:
            self._spawn(self.flush())
        elif self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(
                FLUSH_DELAY, lambda: self._spawn(self.flush())
            )

    def _spawn(self, coro: Awaitable[object]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def common(self) -> dict[str, object]:
        """The fields wire adds to every event."""
        summary = self._summary()
        return {
            "GAVersion": f"{AGENT_NAME}-{AGENT_VERSION}",
            "ContainerId": summary.container_id if summary else "",
            "OpcodeName": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "EventTid": 0,
            "EventPid": os.getpid(),
            "TaskName": "wire",
            "OSVersion": osinfo.telemetry_os_version(self.root),
            "ExecutionMode": "IAAS",
            "RAM": osinfo.memory_mb(),
            "Processors": os.cpu_count() or 1,
            "KeywordName": json.dumps({"CpuArchitecture": os.uname().machine}),
            "TenantName": summary.deployment_name if summary else "",
            "RoleName": summary.role_name if summary else "",
            "RoleInstanceName": summary.role_instance_id if summary else "",
        }

    async def flush(self) -> int:
        """Send what is queued; the number of events sent (a failed batch is dropped)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        events, self.queue = self.queue, []
        sent = 0
        for document, count in reports.telemetry_batches(events, self.common()):
            try:
                await self._wireserver().send_telemetry(document)
                sent += count
            except FabricError as exc:
                log.warning("telemetry not sent (%d events dropped): %s", count, exc)
        return sent
