"""HealthService (§4.5): observations of the agent's view of the host, POSTed to the WireServer.

Several observations go in one POST (the protocol takes a list), where the classic agent sent
one POST per observation. Field lengths are the service's limits; longer text is cut, not
refused, so an observation is never lost to a long error message.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..common import telemetry_xml
from ..common.logs import redact
from .http import FabricHttp, RetryPolicy

# Observation names (§4.5).
HOST_PLUGIN_HEARTBEAT = "GuestAgentPluginHeartbeat"
HOST_PLUGIN_STATUS = "GuestAgentPluginStatus"
IMDS_HEARTBEAT = "InstanceMetadataHeartbeat"

MAX_NAME = telemetry_xml.MAX_OBSERVATION_NAME
MAX_TEXT = telemetry_xml.MAX_OBSERVATION_TEXT
# Reported again next minute: one attempt is enough.
POLICY = RetryPolicy(attempts=1, throttled_attempts=1, attempt_deadline=15.0)


class Observation(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    name: str = Field(alias="ObservationName")
    is_healthy: bool = Field(alias="IsHealthy")
    description: str = Field("", alias="Description")
    value: str = Field("", alias="Value")

    @field_validator("name")
    @classmethod
    def _short_name(cls, text: str) -> str:
        return text[:MAX_NAME]

    @field_validator("description", "value")
    @classmethod
    def _short_text(cls, text: str) -> str:
        return redact(text)[:MAX_TEXT]


def document(observations: Sequence[Observation]) -> bytes:
    return telemetry_xml.health_service_document(
        [o.model_dump(by_alias=True) for o in observations]
    )


async def report(http: FabricHttp, endpoint: str, observations: Sequence[Observation]) -> None:
    """One POST with all of them; raises FabricError when the service refuses or is away."""
    await http.request(
        "POST",
        f"http://{endpoint}/HealthService",
        what="HealthService",
        headers={"Content-Type": "application/json"},
        content=document(observations),
        policy=POLICY,
    )
