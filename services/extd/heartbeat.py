"""Heartbeat files of handlers that report one (`reportHeartbeat`, reference §9.10): a missing or
malformed file is -1, one not written for 10 minutes is `Unresponsive`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..common.root import read_regular_file
from .errors import Code

MAX_HEARTBEAT_BYTES = 128 * 1024
HEARTBEAT_STALE = 600.0


@dataclass(frozen=True)
class Heartbeat:
    status: str | None
    code: int
    message: str


def read_heartbeat(path: Path, now: float) -> Heartbeat:
    try:
        raw, info = read_regular_file(path, MAX_HEARTBEAT_BYTES)
        data = json.loads(raw)
    except FileNotFoundError:
        return Heartbeat(None, Code.UNKNOWN_FAILURE, "Failed to get heart beat file")
    except (OSError, ValueError) as exc:
        return Heartbeat(None, Code.UNKNOWN_FAILURE, f"Failed to get heart beat file: {exc}")
    if now - info.st_mtime > HEARTBEAT_STALE:
        return Heartbeat(
            "Unresponsive",
            Code.UNKNOWN_FAILURE,
            f"The heartbeat file was not updated for {now - info.st_mtime:.0f} seconds",
        )
    try:
        beat = data[0]["heartbeat"]
        message = beat.get("formattedMessage", {}).get("message", "")
        return Heartbeat(str(beat["status"]), int(beat.get("code", 0)), str(message))
    except (LookupError, TypeError, ValueError, AttributeError):
        return Heartbeat(None, Code.UNKNOWN_FAILURE, "The heartbeat file is malformed")
