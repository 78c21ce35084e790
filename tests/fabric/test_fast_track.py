"""Fast Track (reference §2.8, §2.9, §4.3): goal states through vmSettings alone, WireServer
changes newer than the last vmSettings, equal timestamps, `Fabric` vmSettings, and the records
of which channel the agent read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.fabric import fabric_process
from waagent.fabric.scenario import Scenario, ScenarioError
from waagent.fabric.server import Fabric

from .helpers import H1, Agentish

HANDLER = "Fabric.Samples.Hello"


@pytest.fixture
def scenario() -> Scenario:
    return Scenario.default().model_copy(update={"fast_track": True})


def vm_settings(agent: Agentish, etag: str | None = None) -> httpx.Response:
    headers = agent.hgap_headers() | ({"if-none-match": etag} if etag else {})
    return agent.get(f"{agent.hgap}/vmSettings", headers)


def message(document: dict[str, Any]) -> str:
    (extension,) = document["extensionGoalStates"]
    return str(extension["settings"][0]["publicSettings"])


def wire_state(agent: Agentish) -> tuple[str, int, str]:
    """(incarnation, createdOnTicks, runtime settings) of the WireServer's goal state."""
    config = agent.extensions_config()
    metadata = config.find("InVMGoalStateMetaData")
    assert metadata is not None
    incarnation = agent.goal_state().findtext("Incarnation") or ""
    return (
        incarnation,
        int(metadata.get("createdOnTicks", "0")),
        config.findtext("PluginSettings/Plugin/RuntimeSettings") or "",
    )


def test_a_change_through_vm_settings_alone_keeps_the_incarnation(
    agent: Agentish, fabric: Fabric
) -> None:
    fabric.set_publishing(publish_through="vmsettings")
    incarnation, created_on, runtime = wire_state(agent)
    before = vm_settings(agent)
    etag, ticks = before.headers["ETag"], before.json()["extensionsLastModifiedTickCount"]

    assert fabric.set_extension_settings(HANDLER, public={"message": "fast"}) == int(incarnation)

    assert wire_state(agent) == (incarnation, created_on, runtime)
    after = vm_settings(agent, etag)
    assert after.status_code == 200 and after.headers["ETag"] != etag
    document = after.json()
    assert document["extensionsLastModifiedTickCount"] > ticks
    assert document["extensionGoalStatesSource"] == "FastTrack"
    assert "fast" in message(document) and "fast" not in runtime
    assert vm_settings(agent, after.headers["ETag"]).status_code == 304
    described = fabric.info()["vm_settings"]
    assert described["etag"] == after.headers["ETag"]


def test_a_wire_server_change_is_newer_than_the_last_vm_settings(
    agent: Agentish, fabric: Fabric
) -> None:
    fabric.set_publishing(publish_through="wireserver")
    before = vm_settings(agent)
    incarnation, _, _ = wire_state(agent)

    assert (
        fabric.set_extension_settings(HANDLER, public={"message": "slow"}) == int(incarnation) + 1
    )

    new_incarnation, created_on, runtime = wire_state(agent)
    assert new_incarnation == str(int(incarnation) + 1) and "slow" in runtime
    assert created_on > before.json()["extensionsLastModifiedTickCount"]
    assert vm_settings(agent, before.headers["ETag"]).status_code == 304


def test_by_default_both_channels_change_with_equal_timestamps(
    agent: Agentish, fabric: Fabric
) -> None:
    fabric.set_extension_settings(HANDLER, public={"message": "both"})
    _, created_on, runtime = wire_state(agent)
    document = vm_settings(agent).json()
    assert document["extensionsLastModifiedTickCount"] == created_on
    assert "both" in runtime and "both" in message(document)


def test_the_records_name_the_channel_and_status_of_each_read(
    agent: Agentish, fabric: Fabric
) -> None:
    first = vm_settings(agent)
    vm_settings(agent, first.headers["ETag"])
    agent.extensions_config()
    fabric.set_publishing(fast_track=False)
    assert vm_settings(agent).status_code == 404
    reads = [(r["channel"], r["status"], r["goal_state_id"]) for r in fabric.records()
             if r.kind == "extensions-goal-state"]  # fmt: skip
    etag_id = f"etag_{first.headers['ETag']}"
    incarnation = fabric.scenario.identity.incarnation
    assert reads == [
        ("HostGAPlugin", 200, etag_id),
        ("HostGAPlugin", 304, etag_id),
        ("WireServer", 200, f"incarnation_{incarnation}"),
        ("HostGAPlugin", 404, None),
    ]


def test_vm_settings_can_say_fabric_or_an_old_plugin_version(
    agent: Agentish, fabric: Fabric
) -> None:
    etag = vm_settings(agent).headers["ETag"]
    assert fabric.set_publishing(vm_settings_source="Fabric", hgap_version="1.0.8.100") == {
        "publish_through": "both",
        "vm_settings_source": "Fabric",
        "hgap_version": "1.0.8.100",
        "fast_track": True,
    }
    changed = vm_settings(agent, etag)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.json()["extensionGoalStatesSource"] == "Fabric"
    assert changed.json()["hostGAPluginVersion"] == "1.0.8.100"
    with pytest.raises(ScenarioError):
        fabric.set_publishing(publish_through="sideways")
    with pytest.raises(ValueError, match="unknown"):
        fabric.set_publishing(channel="vmsettings")


def test_vm_settings_alone_need_fast_track() -> None:
    with pytest.raises(ValueError, match="needs fast_track"):
        Scenario.default().model_validate(
            {**Scenario.default().model_dump(), "publish_through": "vmsettings"}
        )


@pytest.fixture
def served(tmp_path: Path, scenario: Scenario) -> Iterator[Any]:
    ahead = scenario.model_copy(update={"publish_through": "vmsettings"})
    with fabric_process(tmp_path / "fabric", tmp_path / "root", ahead) as running:
        yield running


def test_a_scenario_file_and_the_admin_api_select_the_channel(served: Any) -> None:
    client, info = served.client, served.info
    base = f"http://{served.address}"
    with httpx.Client(trust_env=False) as http:

        def incarnation() -> str:
            goal_state = http.get(f"{base}:{info['wire_port']}/machine/?comp=goalstate", headers=H1)
            return goal_state.text.split("<Incarnation>")[1].split("<")[0]

        before = incarnation()
        assert client.set_extension_settings(HANDLER, public={"message": "a"}) == int(before)
        assert incarnation() == before
        assert client.info()["publish_through"] == "vmsettings"
        published = client.set_publishing(publish_through="both", vm_settings_source="Fabric")
        assert published["publish_through"] == "both"
        assert client.set_extension_settings(HANDLER, public={"message": "b"}) == int(before) + 1
        assert incarnation() == str(int(before) + 1)


def test_an_invalid_document_is_well_formed_against_the_rules_under_its_own_etag(
    agent: Agentish, fabric: Fabric
) -> None:
    good = vm_settings(agent)
    fabric.program_faults("hgap-vmsettings", ["invalid"])
    bad = vm_settings(agent, good.headers["ETag"])
    assert bad.status_code == 200 and bad.headers["ETag"] not in ("", good.headers["ETag"])
    assert [e["state"] for e in bad.json()["extensionGoalStates"]] == ["sideways"]
    assert vm_settings(agent, good.headers["ETag"]).status_code == 304  # then served as before


def test_only_vm_settings_have_an_invalid_document(fabric: Fabric) -> None:
    from waagent.fabric.faults import FaultError

    with pytest.raises(FaultError, match="no invalid document"):
        fabric.program_faults("goalstate", ["invalid"])


def test_support_can_stop_and_the_plugin_can_be_too_old_mid_run(
    agent: Agentish, fabric: Fabric
) -> None:
    etag = vm_settings(agent).headers["ETag"]
    fabric.set_publishing(hgap_version="1.0.8.132")
    old = vm_settings(agent, etag)
    assert old.status_code == 200 and old.json()["hostGAPluginVersion"] == "1.0.8.132"
    fabric.set_publishing(fast_track=False)
    assert vm_settings(agent, old.headers["ETag"]).status_code == 404
    fabric.set_publishing(fast_track=True, hgap_version="1.0.8.179")
    assert vm_settings(agent, etag).status_code == 304  # the same document as at first
