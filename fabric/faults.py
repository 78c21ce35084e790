"""Programmable faults: per endpoint, a sequence of steps consumed one request at a time.

A step is a status code (500, 503, 429, 410, 404, ...), "400-invalid-container", {"delay": s},
{"drip": s} (the headers at once, then the body one byte every s seconds), "drop", "truncate",
"malformed", "invalid" (a well-formed document that breaks the protocol's rules, for the
endpoints in INVALID_ENDPOINTS) or "ok". After the sequence, normal service resumes.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

ENDPOINTS = (
    "versions",
    "goalstate",
    "hostingenv",
    "sharedconfig",
    "extensionsconfig",
    "certificates",
    "remoteaccess",
    "health",
    "roleproperties",
    "telemetry",
    "provisioning-health",
    "healthservice",
    "hgap-versions",
    "hgap-health",
    "hgap-status",
    "hgap-artifact",
    "hgap-vmsettings",
    "hgap-vmagentlog",
    "imds",
    "storage-manifest",
    "storage-package",
    "storage-status",
    "storage-artifacts-profile",
)

StepKind = Literal[
    "status", "invalid-container", "delay", "drip", "drop", "truncate", "malformed", "invalid", "ok"
]
# Endpoints that can serve a well-formed but invalid document ("invalid").
INVALID_ENDPOINTS = ("hgap-vmsettings",)
TIMED_STEPS: tuple[StepKind, ...] = ("delay", "drip")
NAMED_STEPS: dict[str, StepKind] = {
    "400-invalid-container": "invalid-container",
    "drop": "drop",
    "truncate": "truncate",
    "malformed": "malformed",
    "invalid": "invalid",
    "ok": "ok",
}


class FaultError(ValueError):
    """A fault program that cannot be run (unknown endpoint or step)."""


@dataclass(frozen=True)
class Step:
    kind: StepKind
    status: int | None = None
    delay: float | None = None

    @classmethod
    def parse(cls, raw: Any) -> Step:
        if isinstance(raw, bool):
            raise FaultError(f"not a fault step: {raw!r}")
        if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()):
            code = int(raw)
            if not 100 <= code <= 599:
                raise FaultError(f"not an HTTP status: {code}")
            return cls("status", status=code)
        if isinstance(raw, str) and raw in NAMED_STEPS:
            return cls(NAMED_STEPS[raw])
        if isinstance(raw, dict) and len(raw) == 1 and next(iter(raw)) in TIMED_STEPS:
            [(kind, seconds)] = raw.items()
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise FaultError(f"{kind} must be a number of seconds, not {seconds!r}")
            return cls(kind, delay=float(seconds))
        raise FaultError(
            f"not a fault step: {raw!r} (a status code, {sorted(NAMED_STEPS)}, "
            "{'delay': s} or {'drip': s})"
        )

    def describe(self) -> str:
        if self.kind == "status":
            return str(self.status)
        if self.kind in TIMED_STEPS:
            return f"{self.kind} {self.delay:g}s"
        return self.kind


class FaultPlan:
    """Pending steps per endpoint (thread-safe: tests program, the server consumes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, deque[Step]] = {}

    def program(self, endpoint: str, steps: Iterable[Any]) -> None:
        """Replace the pending steps of `endpoint`; validated whole before anything changes."""
        if endpoint not in ENDPOINTS:
            raise FaultError(f"unknown fault endpoint {endpoint!r} (known: {', '.join(ENDPOINTS)})")
        parsed = deque(Step.parse(step) for step in steps)
        if endpoint not in INVALID_ENDPOINTS and any(s.kind == "invalid" for s in parsed):
            raise FaultError(
                f"{endpoint!r} has no invalid document (only {', '.join(INVALID_ENDPOINTS)})"
            )
        with self._lock:
            self._pending[endpoint] = parsed

    def take(self, endpoint: str) -> Step | None:
        with self._lock:
            pending = self._pending.get(endpoint)
            return pending.popleft() if pending else None

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def pending(self) -> dict[str, list[str]]:
        with self._lock:
            return {k: [s.describe() for s in v] for k, v in self._pending.items() if v}
