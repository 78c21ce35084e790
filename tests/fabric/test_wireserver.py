"""WireServer: versions, goal state and every document, in the shapes of reference §2.6/§9.1."""

from __future__ import annotations

import json

from waagent.fabric.server import Fabric

from .helpers import H1, Agentish, parse


def test_versions_prefer_2012_11_30_and_need_no_headers(agent: Agentish) -> None:
    response = agent.versions()
    assert response.status_code == 200
    versions = parse(response.content)
    assert versions.tag == "Versions"
    assert versions.findtext("Preferred/Version") == "2012-11-30"
    assert "2012-11-30" in [v.text for v in versions.findall("Supported/Version")]


def test_goal_state_names_the_scenario_and_carries_the_incarnation_in_every_url(
    agent: Agentish, fabric: Fabric
) -> None:
    goal_state = agent.goal_state()
    identity = fabric.scenario.identity
    assert goal_state.findtext("Version") == "2012-11-30"
    assert goal_state.findtext("Incarnation") == "1"
    assert goal_state.findtext("Machine/ExpectedState") == "Started"
    assert goal_state.findtext("Container/ContainerId") == identity.container_id
    instance = goal_state.find("Container/RoleInstanceList/RoleInstance")
    assert instance is not None
    assert instance.findtext("InstanceId") == identity.role_instance_id
    urls = agent.urls()
    assert set(urls) == {
        "HostingEnvironmentConfig",
        "SharedConfig",
        "ExtensionsConfig",
        "FullConfig",
        "Certificates",
        "ConfigName",
    }
    for name, url in urls.items():
        if name != "ConfigName":
            assert url.startswith(f"http://{fabric.address}:{fabric.wire_port}/machine/")
            assert url.endswith("incarnation=1")


def test_hosting_environment_names_vm_role_and_deployment(agent: Agentish, fabric: Fabric) -> None:
    response = agent.document("HostingEnvironmentConfig")
    assert response.status_code == 200
    document = parse(response.content)
    identity = fabric.scenario.identity
    assert document.tag == "HostingEnvironmentConfig"
    assert document.find("Incarnation").get("instance") == identity.hostname  # type: ignore[union-attr]
    assert document.find("Role").get("name") == identity.role_name  # type: ignore[union-attr]
    assert document.find("Deployment").get("name") == identity.deployment_name  # type: ignore[union-attr]


def test_shared_config_lists_the_instance_address(agent: Agentish, fabric: Fabric) -> None:
    document = parse(agent.document("SharedConfig").content)
    assert document.tag == "SharedConfig"
    instance = document.find("Instances/Instance")
    assert instance is not None
    assert instance.get("address") == fabric.scenario.identity.private_ip


def test_extensions_config_has_status_blob_plugins_settings_and_metadata(
    agent: Agentish, fabric: Fabric
) -> None:
    document = agent.extensions_config()
    assert document.tag == "Extensions"
    assert document.get("goalStateIncarnation") == "1"
    blob = document.find("StatusUploadBlob")
    assert blob is not None and blob.get("statusBlobType") == "BlockBlob"
    assert (blob.text or "").startswith(f"http://{fabric.address}:{fabric.storage_port}/")
    assert "sig=" in (blob.text or "")
    assert document.findtext("GuestAgentExtension/GAFamilies/GAFamily/Name") == "Prod"
    plugin = document.find("Plugins/Plugin")
    assert plugin is not None
    assert plugin.get("name") == "Fabric.Samples.Hello"
    assert plugin.get("version") == "1.0.0"
    assert plugin.get("state") == "enabled"
    assert (plugin.get("location") or "").startswith(
        f"http://{fabric.address}:{fabric.storage_port}/"
    )
    settings = document.find("PluginSettings/Plugin")
    assert settings is not None and settings.get("version") == "1.0.0"
    runtime = settings.find("RuntimeSettings")
    assert runtime is not None and runtime.get("seqNo") == "0"
    handler = json.loads(runtime.text or "")["runtimeSettings"][0]["handlerSettings"]
    assert handler["publicSettings"] == {"message": "hello from the fabric"}
    assert set(fabric.tenant_certificates()) == {handler["protectedSettingsCertThumbprint"]}
    metadata = document.find("InVMGoalStateMetaData")
    assert metadata is not None and int(metadata.get("createdOnTicks", "0")) > 0


def test_documents_require_x_ms_version(agent: Agentish) -> None:
    url = agent.urls()["SharedConfig"]
    assert agent.get(url).status_code == 400
    assert agent.get(url, {"x-ms-version": "2010-12-15"}).status_code == 400
    assert agent.get(f"{agent.wire}/machine/?comp=goalstate").status_code == 400


def test_stale_document_urls_are_gone_after_an_incarnation_bump(
    agent: Agentish, fabric: Fabric
) -> None:
    old = agent.urls()
    assert fabric.bump_incarnation() == 2
    for name in ("HostingEnvironmentConfig", "SharedConfig", "ExtensionsConfig"):
        assert agent.get(old[name], H1).status_code == 410
    assert agent.goal_state().findtext("Incarnation") == "2"
    assert agent.document("ExtensionsConfig").status_code == 200


def test_unknown_requests_are_404_and_recorded(agent: Agentish, fabric: Fabric) -> None:
    assert agent.get(f"{agent.wire}/machine/?comp=nothing", H1).status_code == 404
    last = fabric.requests()[-1]
    assert (last.path, last.status, last.endpoint) == ("/machine/?comp=nothing", 404, None)


def test_every_request_is_recorded_with_selected_headers(agent: Agentish, fabric: Fabric) -> None:
    agent.goal_state()
    last = fabric.requests()[-1]
    assert last.listener == "wireserver"
    assert last.endpoint == "goalstate"
    assert last.headers["x-ms-version"] == "2012-11-30"
    assert last.status == 200
