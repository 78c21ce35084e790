"""A log bundle (a zip, from the caller's descriptor) to the HostGAPlugin's /vmAgentLog."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable

from ..common.errors import InvalidArgs, WaagentError
from ..common.models.events import TelemetryEvent
from .errors import FabricError, InvalidContainer, ResourceGone
from .hostplugin import HostPlugin
from .telemetry import agent_event

log = logging.getLogger(__name__)

MAX_LOG_BUNDLE = 100 << 20  # the classic collector caps the uncompressed total at 150 MiB


def read_bounded(fd: int, limit: int) -> bytes:
    """All of a descriptor from its start (the caller keeps ownership), refusing more than limit."""
    chunks = []
    size = 0
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        size += len(chunk)
        offset += len(chunk)
        if size > limit:
            raise InvalidArgs(f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def upload_logs(
    hostplugin: HostPlugin,
    fd: int,
    refresh_container: Callable[[], Awaitable[object]],
    report: Callable[[TelemetryEvent], None],
) -> int:
    """Send the bundle and say so in telemetry (`LogCollection`, as classic); its size."""
    try:
        size = await _upload(hostplugin, fd, refresh_container)
    except WaagentError as exc:
        report(agent_event("LogCollection", False, f"Failed to upload logs: {exc.message}"))
        raise
    report(agent_event("LogCollection", True, f"Successfully uploaded logs ({size} bytes)"))
    return size


async def _upload(
    hostplugin: HostPlugin, fd: int, refresh_container: Callable[[], Awaitable[object]]
) -> int:
    """A stale container id refreshes the goal state, once."""
    data = read_bounded(fd, MAX_LOG_BUNDLE)
    if not data.startswith(b"PK"):
        raise InvalidArgs("the log bundle is not a zip archive")
    if not await hostplugin.ensure_available():
        raise FabricError("HostGAPlugin is not available for the log upload")
    for attempt in (1, 2):
        try:
            await hostplugin.put_log(data)
        except (ResourceGone, InvalidContainer):
            if attempt == 2:
                raise
            await refresh_container()
        else:
            break
    log.info("uploaded a log bundle of %d bytes", len(data))
    return len(data)
