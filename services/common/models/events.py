"""Telemetry events the services hand to wire (`SendEvents`), which adds the common fields."""

from __future__ import annotations

from pydantic import Field

from ... import AGENT_NAME, AGENT_VERSION
from ..telemetry_xml import EVENTS_PROVIDER, operation_parameters
from .base import FrozenModel

# Provider ids of the classic schemas (§10.12).
LOGS_PROVIDER = "FFF0196F-EE4C-4EAF-9AA5-776F622DEB4F"


class TelemetryEvent(FrozenModel):
    """One event: GuestAgentExtensionEvents (id 1) by default, parameters by their classic name."""

    provider_id: str = EVENTS_PROVIDER
    event_id: int = 1
    parameters: dict[str, str | int | bool | float] = Field(default_factory=dict)


class TelemetryBatch(FrozenModel):
    events: tuple[TelemetryEvent, ...] = ()


def operation_event(
    name: str, version: str, operation: str, success: bool, message: str, duration_ms: int = 0
) -> TelemetryEvent:
    """A GuestAgentExtensionEvents event of an operation of `name` (the agent or an extension),
    its message redacted (SAS tokens, registered secrets) and capped as classic."""
    return TelemetryEvent(
        parameters=operation_parameters(name, version, operation, success, message, duration_ms)
    )


def agent_event(
    operation: str, success: bool, message: str, duration_ms: int = 0
) -> TelemetryEvent:
    """An event of the agent itself (Provision, HeartBeat, VmSettings, ...)."""
    return operation_event(AGENT_NAME, AGENT_VERSION, operation, success, message, duration_ms)
