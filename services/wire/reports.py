"""Documents the agent sends: the Health report (§2.6) and TelemetryData batches (§2.6, §10.12).

Built in `common.telemetry_xml` (stdlib only), which wire's resident poller shares.
"""

from __future__ import annotations

from ..common.telemetry_xml import (
    HEALTH_DESCRIPTION_LIMIT,
    TELEMETRY_BUFFER_LIMIT,
    event_xml,
    health_document,
    telemetry_batches,
)

__all__ = [
    "HEALTH_DESCRIPTION_LIMIT",
    "TELEMETRY_BUFFER_LIMIT",
    "event_xml",
    "health_document",
    "telemetry_batches",
]
