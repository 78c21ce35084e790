"""requiredFeatures end to end (reference §9.1, §9.8 step 3): what the agent supports is decided
in one place (`common/features.py`); wire announces it in the status blob, and a goal state that
requires anything else fails with code 2001 and runs nothing, as classic. VersioningGovernance is
one such feature: wire never announces it, so extd never accepts it as required."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness.wait import wait_for
from waagent.fabric.scenario import Scenario

from .system import PROBE, System, probe_extension

pytestmark = pytest.mark.integration


@pytest.fixture
def env_config(env_config: dict[str, str]) -> dict[str, str]:
    # RSM as far as the configuration goes: it must not make VersioningGovernance supported.
    return {**env_config, "AutoUpdate.UpdateToLatestVersion": "y", "Debug.EnableGAVersioning": "y"}


@pytest.fixture(params=[False, True], ids=["wireserver", "fast-track"])
def scenario(scenario: Scenario, request: pytest.FixtureRequest) -> Scenario:
    return scenario.model_copy(
        update={
            "extensions": [probe_extension(seq_no=1)],
            "required_features": ["VersioningGovernance"],
            "fast_track": request.param,
        }
    )


def unsupported_events(system: System) -> list[dict[str, Any]]:
    events = [e for r in system.fabric.records("telemetry") for e in r["events"]]
    return [e for e in events if e["params"].get("Operation") == "GoalStateUnsupportedFeatures"]


def test_a_goal_state_requiring_versioning_governance_fails_and_runs_nothing(
    system: System,
) -> None:
    system.start()
    outcome = system.wait_goal_state("Failed")
    assert outcome["code"] == 2001
    assert (
        "Unsupported features found: VersioningGovernance"
        in (outcome["formattedMessage"]["message"])
    )
    assert system.operations(PROBE) == []
    assert [r for r in system.fabric.records("artifact") if r.fields["name"] == PROBE] == []
    document = system.documents()[-1]
    announced = [f["Key"] for f in document["supportedFeatures"]]
    assert "VersioningGovernance" not in announced
    assert "MultipleExtensionsPerHandler" in announced
    (event,) = wait_for(lambda: unsupported_events(system), what="GoalStateUnsupportedFeatures")
    assert event["params"]["OperationSuccess"] is False
    assert "VersioningGovernance" in event["params"]["Message"]
