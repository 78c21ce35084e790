"""HealthService (`POST /HealthService` on the WireServer): the agent's observations, checked.

The body is `{"Api": "reporttargethealth", "Version": "1.0", "Source": ..., "Observations":
[{"ObservationName", "IsHealthy", "Description", "Value"}]}`; the service's field limits are
64 characters for a name and 128 for a description or value. A body outside that shape is
refused (400), so an agent that sends one fails its tests here before it fails on Azure.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from .reports import ReportError

Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(max_length=128)]


class _Observation(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    name: Name = Field(alias="ObservationName")
    healthy: bool = Field(alias="IsHealthy")
    description: Text = Field("", alias="Description")
    value: Text = Field("", alias="Value")


class _Report(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    api: Literal["reporttargethealth"] = Field(alias="Api")
    version: str = Field(alias="Version")
    source: str = Field(alias="Source")
    observations: list[_Observation] = Field(alias="Observations", min_length=1)


def report(body: bytes) -> dict[str, Any]:
    """The record fields: `source`, `version`, `observations` [{name, healthy, description,
    value}] in the order sent."""
    try:
        parsed = _Report.model_validate_json(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ReportError(f"HealthService report: {where}: {error['msg']}") from None
    return {
        "source": parsed.source,
        "version": parsed.version,
        "observations": [o.model_dump() for o in parsed.observations],
    }
