"""Telemetry events the services hand to wire (`SendEvents`), which adds the common fields."""

from __future__ import annotations

from pydantic import Field

from ... import AGENT_NAME, AGENT_VERSION
from .base import FrozenModel

# Provider ids of the classic schemas (§10.12).
EVENTS_PROVIDER = "69B669B9-4AF8-4C50-BDC4-6006FA76E975"
LOGS_PROVIDER = "FFF0196F-EE4C-4EAF-9AA5-776F622DEB4F"


class TelemetryEvent(FrozenModel):
    """One event: GuestAgentExtensionEvents (id 1) by default, parameters by their classic name."""

    provider_id: str = EVENTS_PROVIDER
    event_id: int = 1
    parameters: dict[str, str | int | bool | float] = Field(default_factory=dict)


class TelemetryBatch(FrozenModel):
    events: tuple[TelemetryEvent, ...] = ()


def agent_event(operation: str, success: bool, message: str) -> TelemetryEvent:
    """A GuestAgentExtensionEvents event of the agent itself (HeartBeat, HostnamePublishing...)."""
    return TelemetryEvent(
        parameters={
            "Name": AGENT_NAME,
            "Version": AGENT_VERSION,
            "Operation": operation,
            "OperationSuccess": success,
            "Message": message,
            "Duration": 0,
            "ExtensionType": "",
            "IsInternal": False,
        }
    )
