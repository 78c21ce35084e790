"""HealthService observations are checked against the service's shape and recorded one by one;
the agent's GAFamily carries an RSM version request when the test asks for one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness.fabric import fabric_process
from waagent.fabric.client import FabricClientError
from waagent.fabric.scenario import Scenario
from waagent.fabric.server import Fabric

from .helpers import Agentish

JSON = {"Content-Type": "application/json"}


def report(*observations: dict[str, Any], api: str = "reporttargethealth") -> bytes:
    body = {"Api": api, "Version": "1.0", "Source": "WALinuxAgent", "Observations": observations}
    return json.dumps(body).encode()


def observation(name: str, healthy: bool, description: str = "") -> dict[str, Any]:
    return {"ObservationName": name, "IsHealthy": healthy, "Description": description, "Value": ""}


def test_several_observations_in_one_post_are_recorded_by_name_and_health(
    agent: Agentish, fabric: Fabric
) -> None:
    body = report(
        observation("GuestAgentPluginHeartbeat", True),
        observation("InstanceMetadataHeartbeat", False, "IMDS: HTTP 500"),
    )
    assert agent.post("/HealthService", body, JSON).status_code == 200
    (record,) = fabric.records("healthservice")
    assert record["source"] == "WALinuxAgent"
    assert record["observations"] == [
        {"name": "GuestAgentPluginHeartbeat", "healthy": True, "description": "", "value": ""},
        {
            "name": "InstanceMetadataHeartbeat",
            "healthy": False,
            "description": "IMDS: HTTP 500",
            "value": "",
        },
    ]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (report(observation("x" * 65, True)), "ObservationName"),
        (report(observation("GuestAgentPluginHeartbeat", True, "d" * 129)), "Description"),
        (report(observation("GuestAgentPluginHeartbeat", True), api="other"), "Api"),
        (report(), "Observations"),
        (report({"ObservationName": "GuestAgentPluginHeartbeat", "IsHealthy": "yes"}), "IsHealthy"),
        (b"not json", "HealthService report"),
    ],
)
def test_a_report_outside_the_service_limits_is_refused_and_not_recorded(
    agent: Agentish, fabric: Fabric, body: bytes, why: str
) -> None:
    answer = agent.post("/HealthService", body, JSON)
    assert answer.status_code == 400
    assert why in answer.text
    assert fabric.records("healthservice") == []


def test_an_rsm_request_is_published_in_the_ga_family_of_both_channels(
    agent: Agentish, fabric: Fabric
) -> None:
    assert agent.extensions_config().find("GuestAgentExtension/GAFamilies/GAFamily/Version") is None
    incarnation = fabric.set_agent_family(
        version="9.9.9.10", is_version_from_rsm=True, is_vm_enabled_for_rsm_upgrades=True
    )
    assert incarnation == 2
    family = agent.extensions_config().find("GuestAgentExtension/GAFamilies/GAFamily")
    assert family is not None
    assert family.findtext("Name") == "Prod"
    assert family.findtext("Version") == "9.9.9.10"
    assert family.findtext("IsVersionFromRSM") == "True"
    assert family.findtext("IsVMEnabledForRSMUpgrades") == "True"
    assert family.find("FromVersion") is None


@pytest.mark.parametrize("scenario", [Scenario.default().model_copy(update={"fast_track": True})])
def test_vm_settings_carry_the_rsm_fields_too(agent: Agentish, fabric: Fabric) -> None:
    fabric.set_agent_family(version="3.0.0.0", is_vm_enabled_for_rsm_upgrades=True)
    answer = agent.get(f"{agent.hgap}/vmSettings", agent.hgap_headers())
    (family,) = answer.json()["gaFamilies"]
    assert family["version"] == "3.0.0.0"
    assert family["isVMEnabledForRSMUpgrades"] is True
    assert "isVersionFromRSM" not in family


def test_the_admin_api_sets_the_family_and_refuses_an_unknown_field(tmp_path: Path) -> None:
    with fabric_process(tmp_path / "fabric", tmp_path / "root") as served:
        assert served.client.set_agent_family(version="9.9.9.10") == 2
        with pytest.raises(FabricClientError, match="colour"):
            served.client.set_agent_family(colour="blue")
