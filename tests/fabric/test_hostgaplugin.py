"""HostGAPlugin: versions, health, artifacts, vmSettings (FastTrack) and log upload (§4)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from waagent.fabric.scenario import Scenario
from waagent.fabric.server import Fabric

from .helpers import Agentish, parse


def test_versions_list_2015_09_01_and_health_is_ok(agent: Agentish) -> None:
    versions = agent.get(f"{agent.hgap}/versions")
    assert versions.status_code == 200
    assert "2015-09-01" in versions.json()
    assert agent.get(f"{agent.hgap}/health").status_code == 200


def test_artifacts_are_served_by_location_and_recorded_with_their_channel(
    agent: Agentish, fabric: Fabric
) -> None:
    manifest_url = agent.extensions_config().find("Plugins/Plugin").get("location")  # type: ignore[union-attr]
    headers = {**agent.hgap_headers(), "x-ms-artifact-location": manifest_url}
    response = agent.get(f"{agent.hgap}/extensionArtifact", headers)
    assert response.status_code == 200
    assert parse(response.content).tag == "PluginVersionManifest"
    (record,) = fabric.records("artifact")
    assert (record["kind"], record["name"], record["channel"]) == (
        "manifest",
        "Fabric.Samples.Hello",
        "hostgaplugin",
    )


def test_artifacts_need_the_current_container_id_and_config_name(agent: Agentish) -> None:
    manifest_url = agent.extensions_config().find("Plugins/Plugin").get("location")  # type: ignore[union-attr]
    for stale in ({"x-ms-containerid": "old"}, {"x-ms-host-config-name": "old.xml"}):
        headers = {**agent.hgap_headers(), "x-ms-artifact-location": manifest_url, **stale}
        response = agent.get(f"{agent.hgap}/extensionArtifact", headers)
        assert response.status_code == 400
        assert "InvalidContainerConfiguration" in response.text


def test_vm_settings_are_404_without_fast_track(agent: Agentish) -> None:
    assert agent.get(f"{agent.hgap}/vmSettings", agent.hgap_headers()).status_code == 404


@pytest.fixture
def fast_track() -> Scenario:
    return Scenario.default().model_copy(update={"fast_track": True})


def test_vm_settings_with_fast_track_carry_an_etag_and_answer_304_when_unchanged(
    fast_track: Scenario,
) -> None:
    from tests.harness.fabric import fabric_for

    with fabric_for(None, fast_track) as fabric:
        agent = Agentish(fabric)
        response = agent.get(f"{agent.hgap}/vmSettings", agent.hgap_headers())
        assert response.status_code == 200
        etag = response.headers["ETag"]
        document = response.json()
        assert document["extensionGoalStatesSource"] == "FastTrack"
        assert document["hostGAPluginVersion"] == fast_track.hgap_version
        assert document["statusUploadBlob"]["statusBlobType"] == "BlockBlob"
        (extension,) = document["extensionGoalStates"]
        assert extension["name"] == "Fabric.Samples.Hello"
        assert json.loads(extension["settings"][0]["publicSettings"]) == {
            "message": "hello from the fabric"
        }
        again = agent.get(
            f"{agent.hgap}/vmSettings", {**agent.hgap_headers(), "if-none-match": etag}
        )
        assert again.status_code == 304
        fabric.set_extension_settings("Fabric.Samples.Hello", public={"message": "changed"})
        changed = agent.get(
            f"{agent.hgap}/vmSettings", {**agent.hgap_headers(), "if-none-match": etag}
        )
        assert changed.status_code == 200 and changed.headers["ETag"] != etag
        agent.close()


def test_log_uploads_are_recorded_with_size_and_file_list(agent: Agentish, fabric: Fabric) -> None:
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("var/log/waagent.log", "hello")
    headers = {
        "x-ms-version": "2015-09-01",
        "x-ms-containerid": agent.hgap_headers()["x-ms-containerid"],
        "x-ms-vmagentlog-deploymentid": "deployment",
        "x-ms-client-name": "WALinuxAgent",
    }
    response = agent.http.put(
        f"{agent.hgap}/vmAgentLog", content=bundle.getvalue(), headers=headers
    )
    assert response.status_code == 200
    (record,) = fabric.records("log-upload")
    assert record["size"] == len(bundle.getvalue())
    assert record["files"] == ["var/log/waagent.log"]
    assert record["headers"]["x-ms-vmagentlog-deploymentid"] == "deployment"
