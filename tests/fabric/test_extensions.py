"""Extension packages and goal-state changes: every change bumps the incarnation (§9.1-9.4)."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path

import pytest

from tests.harness.fabric import fabric_for
from waagent.fabric.scenario import ScenarioError
from waagent.fabric.server import Fabric

from .helpers import Agentish, parse

HANDLER = "Fabric.Samples.Hello"


def manifest_versions(agent: Agentish, name: str) -> dict[str, str]:
    plugin = next(
        p for p in agent.extensions_config().findall("Plugins/Plugin") if p.get("name") == name
    )
    manifest = parse(agent.get(plugin.get("location") or "").content)
    return {
        p.findtext("Version") or "": (p.findtext("Uris/Uri") or "")
        for p in manifest.findall("Plugins/Plugin")
    }


def package(agent: Agentish, url: str) -> zipfile.ZipFile:
    response = agent.get(url)
    assert response.status_code == 200
    return zipfile.ZipFile(io.BytesIO(response.content))


def test_the_manifest_lists_every_published_version_with_a_package_uri(
    agent: Agentish, fabric: Fabric
) -> None:
    versions = manifest_versions(agent, HANDLER)
    assert set(versions) == {"1.0.0", "1.1.0"}
    for url in versions.values():
        assert url.startswith(f"http://{fabric.address}:{fabric.storage_port}/packages/")
        assert "sig=" in url
    kinds = [(r["kind"], r["channel"]) for r in fabric.records("artifact")]
    assert kinds == [("manifest", "direct")]


def test_the_sample_package_holds_an_executable_handler_and_its_manifest(agent: Agentish) -> None:
    archive = package(agent, manifest_versions(agent, HANDLER)["1.0.0"])
    manifest = json.loads(archive.read("HandlerManifest.json"))
    assert manifest[0]["handlerManifest"]["enableCommand"] == "handler.sh enable"
    mode = archive.getinfo("handler.sh").external_attr >> 16
    assert mode & stat.S_IXUSR


def test_a_handler_directory_is_zipped_on_the_fly(
    agent: Agentish, fabric: Fabric, tmp_path: Path
) -> None:
    handler = tmp_path / "handler"
    (handler / "bin").mkdir(parents=True)
    (handler / "HandlerManifest.json").write_text(
        '[{"name": "Contoso.Tools.Probe", "version": 1.0}]'
    )
    (handler / "bin" / "probe.sh").write_text("#!/bin/sh\nexit 0\n")
    (handler / "bin" / "probe.sh").chmod(0o755)
    incarnation = fabric.add_extension(
        "Contoso.Tools.Probe",
        version="2.0.0",
        versions=[{"version": "2.0.0", "handler_dir": str(handler)}],
        public_settings={"probe": True},
    )
    assert incarnation == 2
    assert agent.goal_state().findtext("Incarnation") == "2"
    archive = package(agent, manifest_versions(agent, "Contoso.Tools.Probe")["2.0.0"])
    assert sorted(archive.namelist()) == ["HandlerManifest.json", "bin/probe.sh"]
    assert archive.read("bin/probe.sh") == b"#!/bin/sh\nexit 0\n"


def test_updating_an_extension_publishes_the_new_version_and_requests_it(
    agent: Agentish, fabric: Fabric, tmp_path: Path
) -> None:
    handler = tmp_path / "v2"
    handler.mkdir()
    (handler / "HandlerManifest.json").write_text("[]")
    assert fabric.update_extension(HANDLER, "2.0.0", handler_dir=handler) == 2
    plugin = agent.extensions_config().find("Plugins/Plugin")
    assert plugin is not None and plugin.get("version") == "2.0.0"
    settings = agent.extensions_config().find("PluginSettings/Plugin")
    assert settings is not None and settings.get("version") == "2.0.0"
    versions = manifest_versions(agent, HANDLER)
    assert set(versions) == {"1.0.0", "1.1.0", "2.0.0"}
    assert package(agent, versions["2.0.0"]).namelist() == ["HandlerManifest.json"]


def test_a_package_file_is_served_byte_for_byte(
    agent: Agentish, fabric: Fabric, tmp_path: Path
) -> None:
    captured = tmp_path / "Microsoft.Azure.Extensions.CustomScript__2.1.10.zip"
    captured.write_bytes(b"PK\x03\x04 not really a zip, served as it is")
    fabric.update_extension(HANDLER, "2.1.10", package=captured)
    url = manifest_versions(agent, HANDLER)["2.1.10"]
    assert agent.get(url).content == captured.read_bytes()


def test_settings_text_is_served_as_written(agent: Agentish, fabric: Fabric) -> None:
    fabric.set_extension_settings(HANDLER, text='{"runtimeSettings": [{"handlerSettings": ')
    settings = agent.extensions_config().find("PluginSettings/Plugin/RuntimeSettings")
    assert settings is not None
    assert settings.text == '{"runtimeSettings": [{"handlerSettings": '
    assert settings.get("seqNo") == "1"


def test_a_version_is_a_directory_or_a_package_never_both(fabric: Fabric, tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="a handler_dir or a package, not both"):
        fabric.add_extension(
            "Contoso.Tools.Both",
            version="1.0",
            versions=[{"version": "1.0", "handler_dir": str(tmp_path), "package": str(tmp_path)}],
        )


def test_state_and_settings_changes_bump_the_incarnation(agent: Agentish, fabric: Fabric) -> None:
    assert fabric.set_extension_state(HANDLER, "disabled") == 2
    assert agent.extensions_config().find("Plugins/Plugin").get("state") == "disabled"  # type: ignore[union-attr]
    assert fabric.set_extension_settings(HANDLER, public={"message": "new"}) == 3
    runtime = agent.extensions_config().find("PluginSettings/Plugin/RuntimeSettings")
    assert runtime is not None and runtime.get("seqNo") == "1"
    handler = json.loads(runtime.text or "")["runtimeSettings"][0]["handlerSettings"]
    assert handler["publicSettings"] == {"message": "new"}
    assert "protectedSettings" in handler  # kept
    assert fabric.set_extension_settings(HANDLER, protected=None, seq_no=7) == 4
    runtime = agent.extensions_config().find("PluginSettings/Plugin/RuntimeSettings")
    assert runtime is not None and runtime.get("seqNo") == "7"
    assert "protectedSettings" not in (runtime.text or "")


def test_removing_an_extension_drops_it_from_the_goal_state(
    agent: Agentish, fabric: Fabric
) -> None:
    assert fabric.remove_extension(HANDLER) == 2
    assert agent.extensions_config().findall("Plugins/Plugin") == []
    assert agent.status_blob()[0]  # the status blob stays


def test_control_errors_name_the_problem_and_change_nothing(fabric: Fabric) -> None:
    with pytest.raises(ValueError, match="no extension 'Nope.Nope'"):
        fabric.set_extension_state("Nope.Nope", "disabled")
    with pytest.raises(ScenarioError):
        fabric.set_extension_state(HANDLER, "sleeping")
    with pytest.raises(ValueError, match="already exists"):
        fabric.add_extension(HANDLER, version="1.0.0")
    assert fabric.source.incarnation() == 1


def test_multi_config_extensions_get_named_runtime_settings_and_dependencies() -> None:
    from waagent.fabric.scenario import Extension, MultiConfigExtension, Scenario

    scenario = Scenario(
        certificates=["tenant"],  # type: ignore[list-item]
        extensions=[
            Extension(
                name="Fabric.Samples.RunCommand",
                version="1.0.0",
                multi_config=[
                    MultiConfigExtension(name="first", seq_no=2, public_settings={"n": 1}),
                    MultiConfigExtension(
                        name="second",
                        state="disabled",
                        protected_settings={"p": 2},
                        dependency_level=1,
                        depends_on=["Fabric.Samples.Hello"],
                    ),
                ],
            )
        ],
    )
    with fabric_for(None, scenario) as fabric:
        agent = Agentish(fabric)
        document = agent.extensions_config()
        assert (
            document.findtext("RequiredFeatures/RequiredFeature/Name")
            == "MultipleExtensionsPerHandler"
        )
        named = {
            e.get("name"): e
            for e in document.findall("PluginSettings/Plugin/ExtensionRuntimeSettings")
        }
        assert named["first"].get("seqNo") == "2"
        assert named["second"].get("state") == "disabled"
        depends = document.find("PluginSettings/Plugin/DependsOn")
        assert depends is not None and depends.get("name") == "second"
        assert depends.get("dependencyLevel") == "1"
        assert (
            fabric.set_extension_state(
                "Fabric.Samples.RunCommand", "enabled", extension_name="second"
            )
            == 2
        )
        named = {
            e.get("name"): e
            for e in agent.extensions_config().findall(
                "PluginSettings/Plugin/ExtensionRuntimeSettings"
            )
        }
        assert named["second"].get("state") == "enabled"
        agent.close()
