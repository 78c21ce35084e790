"""vmSettings parsed into the extensions goal state model (§4.3), and each of its rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from waagent.common.models.extensions import REDACTED
from waagent.wire import vm_settings
from waagent.wire.vm_settings import VmSettingsParseError

from .vm_settings_doc import PROTECTED, STATUS_SAS, THUMB, document, encoded


def parsed(doc: dict[str, Any] | None = None) -> Any:
    return vm_settings.parse(encoded(doc), "123", "5")


def test_a_fast_track_document_becomes_the_goal_state_etag_with_its_svd_sequence() -> None:
    goal_state = parsed()
    assert goal_state.id == "etag_123"
    assert (goal_state.source, goal_state.channel) == ("FastTrack", "HostGAPlugin")
    assert (goal_state.incarnation, goal_state.svd_seq_no) == ("5", "7")
    assert goal_state.created_on_ticks == 638000000000000000
    assert goal_state.on_hold is True
    assert goal_state.status_upload_blob is not None
    assert goal_state.status_upload_blob.url == STATUS_SAS
    assert goal_state.status_upload_blob.blob_type == "PageBlob"
    assert goal_state.required_features == ("MultipleExtensionsPerHandler",)
    [family] = goal_state.ga_families
    assert (family.name, family.version, family.is_version_from_rsm) == ("Prod", "2.15.0.1", True)
    assert family.is_vm_enabled_for_rsm_upgrades and family.uris[0].endswith("Prod_manifest.xml")


def test_handlers_keep_their_locations_and_protected_settings_stay_encrypted() -> None:
    goal_state = parsed()
    ama = goal_state.plugins[0]
    assert ama.manifest_uris == [
        "https://a.blob/ama_manifest.xml",
        "https://b.blob/ama_manifest.xml",  # "failoverlocation": keys are matched in any case
        "https://c.blob/ama_manifest.xml",
    ]
    assert (ama.state, ama.auto_upgrade, ama.is_multi_config) == ("enabled", True, False)
    [settings] = goal_state.plugin_settings[0].runtime_settings
    assert settings.seq_no == 3  # from settingsSeqNo: the entry has none
    assert settings.public_settings == {"GCS_AUTO_CONFIG": True}
    assert (settings.protected_settings, settings.thumbprint) == (PROTECTED, THUMB)


def test_depends_on_in_either_casing_gives_levels() -> None:
    cse = parsed().plugin_settings[1]
    [depends] = cse.depends_on
    assert (depends.level, depends.name) == ("1", None)
    assert [d.handler for d in depends.extensions] == [
        "Microsoft.Azure.Monitor.AzureMonitorLinuxAgent"
    ]


def test_multi_config_settings_name_their_extensions_states_and_sequence_numbers() -> None:
    goal_state = parsed()
    assert goal_state.plugins[2].is_multi_config is True
    run_command = goal_state.plugin_settings[2]
    assert run_command.runtime_settings == ()
    assert [(s.name, s.state, s.seq_no) for s in run_command.extension_runtime_settings] == [
        ("MCExt1", "enabled", 4),
        ("MCExt2", "disabled", 1),
    ]
    assert run_command.extension_runtime_settings[1].public_settings is None
    [depends] = run_command.depends_on
    assert (depends.level, depends.name, depends.extensions[0].extension) == (
        "2",
        "MCExt1",
        "MCExt2",
    )


def test_keys_are_matched_whatever_their_case() -> None:
    def shout(value: Any) -> Any:
        if isinstance(value, dict):
            return {k.upper(): shout(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shout(v) for v in value]
        return value

    assert parsed(shout(document())) == parsed()


def test_missing_status_blob_means_no_blob_and_an_unknown_type_is_block_blob() -> None:
    doc = document()
    del doc["statusUploadBlob"]
    assert parsed(doc).status_upload_blob is None
    odd = document(statusUploadBlob={"statusBlobType": "Odd", "value": STATUS_SAS})
    blob = parsed(odd).status_upload_blob
    assert blob is not None and blob.blob_type == "BlockBlob"


def test_an_empty_depends_on_is_level_zero() -> None:
    doc = document()
    doc["extensionGoalStates"][1]["dependsOn"] = []
    assert parsed(doc).plugin_settings[1].depends_on == ()


def test_a_fabric_document_is_parsed_as_such() -> None:
    assert parsed(document(extensionGoalStatesSource="Fabric")).source == "Fabric"


def _extension(doc: dict[str, Any], index: int) -> dict[str, Any]:
    extension: dict[str, Any] = doc["extensionGoalStates"][index]
    return extension


def _bad_state(doc: dict[str, Any]) -> None:
    _extension(doc, 0)["state"] = "paused"


def _two_settings(doc: dict[str, Any]) -> None:
    _extension(doc, 1)["settings"].append({"publicSettings": "{}"})


def _two_depends_on(doc: dict[str, Any]) -> None:
    _extension(doc, 1)["dependsOn"].append({"dependencyLevel": 2, "dependsOnExtension": []})


def _protected_without_thumbprint(doc: dict[str, Any]) -> None:
    del _extension(doc, 0)["settings"][0]["protectedSettingsCertThumbprint"]


def _public_not_json(doc: dict[str, Any]) -> None:
    _extension(doc, 0)["settings"][0]["publicSettings"] = "{not json"


def _public_not_a_string(doc: dict[str, Any]) -> None:
    _extension(doc, 0)["settings"][0]["publicSettings"] = {"a": 1}


def _depends_on_unknown_extension(doc: dict[str, Any]) -> None:
    _extension(doc, 2)["dependsOn"][0]["name"] = "MCExt9"


def _multi_config_without_name(doc: dict[str, Any]) -> None:
    del _extension(doc, 2)["settings"][0]["extensionName"]


def _blob_without_value(doc: dict[str, Any]) -> None:
    doc["statusUploadBlob"] = {"statusBlobType": "BlockBlob"}


def _sequence_as_text(doc: dict[str, Any]) -> None:
    doc["inSvdSeqNo"] = "7"


def _unknown_source(doc: dict[str, Any]) -> None:
    doc["extensionGoalStatesSource"] = "Elsewhere"


def _no_plugin_version(doc: dict[str, Any]) -> None:
    del doc["hostGAPluginVersion"]


RULES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "state must be enabled, disabled or uninstall": (_bad_state, "'paused' is not one of"),
    "single-config: at most one settings entry": (_two_settings, "2 settings"),
    "single-config: at most one dependsOn entry": (_two_depends_on, "2 dependsOn"),
    "protectedSettings need a thumbprint": (_protected_without_thumbprint, "thumbprint"),
    "publicSettings must be a JSON string": (_public_not_json, "not valid JSON"),
    "publicSettings are a string, not an object": (_public_not_a_string, "publicsettings"),
    "multi-config dependsOn must name a settings entry": (_depends_on_unknown_extension, "MCExt9"),
    "multi-config settings need extensionName": (_multi_config_without_name, "extensionName"),
    "statusUploadBlob needs a value": (_blob_without_value, "value"),
    "numbers are numbers": (_sequence_as_text, "insvdseqno"),
    "the source is FastTrack or Fabric": (_unknown_source, "extensiongoalstatessource"),
    "hostGAPluginVersion is required": (_no_plugin_version, "hostgapluginversion"),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_a_broken_rule_makes_the_whole_document_invalid(rule: str) -> None:
    breaks, message = RULES[rule]
    doc = document()
    breaks(doc)
    with pytest.raises(VmSettingsParseError, match=message):
        parsed(doc)


def test_a_document_that_is_not_json_is_invalid() -> None:
    with pytest.raises(VmSettingsParseError, match="not valid JSON"):
        vm_settings.parse(b'{"malformed": [1, 2', "1", "1")


def test_the_plugin_version_is_compared_as_numbers() -> None:
    assert vm_settings.plugin_version("1.0.8.133") >= vm_settings.MIN_HGAP_VERSION
    assert vm_settings.plugin_version("1.0.8.99") < vm_settings.MIN_HGAP_VERSION
    assert vm_settings.plugin_version("1.0.10.1") > vm_settings.MIN_HGAP_VERSION
    with pytest.raises(VmSettingsParseError):
        vm_settings.plugin_version("one")


def test_the_history_copy_has_no_protected_settings() -> None:
    text = vm_settings.redacted(encoded())
    assert PROTECTED not in text
    assert json.loads(text)["extensionGoalStates"][0]["settings"][0]["protectedSettings"] == (
        REDACTED
    )
    broken = b'{"PROTECTEDSETTINGS": "' + PROTECTED.encode() + b'", oops'
    assert PROTECTED not in vm_settings.redacted(broken)
