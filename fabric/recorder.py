"""What the fabric saw: every report the agent made and every HTTP request, in order.

Records cross the admin API as JSON, so their fields are plain JSON values. Sequence numbers are
shared by both lists, so a test can tell which request produced which record.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RecordKind = Literal[
    "health",
    "provisioning-health",
    "status",
    "telemetry",
    "role-properties",
    "log-upload",
    "artifact",
    "healthservice",
    "extensions-goal-state",
    "dhcp",
]

# Request headers worth keeping: the protocol's own, never bodies or certificates in full.
SELECTED_HEADERS = (
    "content-type",
    "content-length",
    "user-agent",
    "if-none-match",
    "metadata",
    "x-ms-version",
    "x-ms-agent-name",
    "x-ms-cipher-name",
    "x-ms-containerid",
    "x-ms-host-config-name",
    "x-ms-artifact-location",
    "x-ms-artifact-manifest-location",
    "x-ms-verify-from-artifacts-blob",
    "x-ms-blob-type",
    "x-ms-blob-content-length",
    "x-ms-range",
    "x-ms-page-write",
    "x-ms-client-correlationid",
    "x-ms-client-name",
    "x-ms-client-version",
    "x-ms-vmagentlog-deploymentid",
    "x-ms-guest-agent-name",
)


MAX_REQUESTS = 100_000


def now() -> datetime:
    return datetime.now(UTC)


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    timestamp: datetime
    kind: str
    fields: dict[str, Any] = Field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]


class RequestRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    timestamp: datetime
    listener: str
    method: str
    path: str  # path and query, as sent
    endpoint: str | None  # the fault endpoint name, None for unknown paths
    headers: dict[str, str]
    status: int | None  # None when the connection was dropped
    fault: str | None = None


class Recorder:
    """Thread-safe, append-only lists (the server thread writes, tests read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._records: list[Record] = []
        # A long `serve` keeps the recent requests only; reports are all kept.
        self._requests: deque[RequestRecord] = deque(maxlen=MAX_REQUESTS)

    def record(self, kind: RecordKind, /, **fields: Any) -> Record:
        with self._lock:
            entry = Record(seq=next(self._seq), timestamp=now(), kind=kind, fields=fields)
            self._records.append(entry)
        return entry

    def request(self, **fields: Any) -> RequestRecord:
        with self._lock:
            entry = RequestRecord(seq=next(self._seq), timestamp=now(), **fields)
            self._requests.append(entry)
        return entry

    def records(self, kind: str | None = None) -> list[Record]:
        with self._lock:
            return [r for r in self._records if kind is None or r.kind == kind]

    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)


def selected_headers(headers: Any) -> dict[str, str]:
    return {name: headers[name] for name in SELECTED_HEADERS if name in headers}
