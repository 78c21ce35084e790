"""Extension documents (reference §9.1-9.3, §4.3): ExtensionsConfig, manifests, vmSettings.

All of them describe the same extensions goal state (a `GoalState` snapshot); protected settings
arrive already encrypted through `protect`, so every document of one incarnation carries the same
ciphertext.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .scenario import AgentFamily, Extension, Settings
from .urls import GA_FAMILY, Urls
from .xmldoc import XSI, element, render

# (thumbprint, base64 ciphertext) of a settings entry with protected settings, else None.
Protect = Callable[[Extension, Settings], tuple[str, str] | None]


@dataclass(frozen=True)
class GoalState:
    """One incarnation of the extensions goal state."""

    incarnation: int
    extensions: tuple[Extension, ...]
    created_on_ticks: int
    activity_id: str
    correlation_id: str
    status_blob_type: str
    status_blob_url: str
    artifacts_profile_url: str | None
    agent_family: AgentFamily = field(default_factory=AgentFamily)
    required_features: tuple[str, ...] = ()  # besides MultipleExtensionsPerHandler

    def required(self) -> list[str]:
        """The goal state's requiredFeatures: multi-config when an extension is, then the rest."""
        multi = (
            ["MultipleExtensionsPerHandler"] if any(e.multi_config for e in self.extensions) else []
        )
        return [*multi, *(f for f in self.required_features if f not in multi)]


def handler_settings(extension: Extension, settings: Settings, protect: Protect) -> dict[str, Any]:
    values: dict[str, Any] = {}
    protected = protect(extension, settings)
    if protected is not None:
        values["protectedSettingsCertThumbprint"], values["protectedSettings"] = protected
    if settings.public_settings is not None:
        values["publicSettings"] = settings.public_settings
    return values


def _runtime_settings(extension: Extension, settings: Settings, protect: Protect) -> str:
    if settings.settings_text is not None:
        return settings.settings_text
    document = {
        "runtimeSettings": [{"handlerSettings": handler_settings(extension, settings, protect)}]
    }
    return json.dumps(document, separators=(",", ":"))


def _depends_on(settings: Settings, name: str | None = None) -> list[ET.Element]:
    if settings.dependency_level is None:
        return []
    return [
        element(
            "DependsOn",
            attrs={"dependencyLevel": settings.dependency_level, "name": name},
            children=[
                element("DependsOnExtension", attrs={"handler": h}) for h in settings.depends_on
            ],
        )
    ]


def _plugin(extension: Extension, urls: Urls) -> Any:
    return element(
        "Plugin",
        attrs={
            "name": extension.name,
            "version": extension.version,
            "location": urls.manifest(extension.name),
            "failoverlocation": urls.manifest(extension.name, failover=True),
            "autoUpgrade": str(extension.auto_upgrade).lower(),
            "runAsStartupTask": "false",
            "isJson": "true",
            "useExactVersion": "true",
            "state": extension.state,
            "config": "",
        },
    )


def _plugin_settings(extension: Extension, protect: Protect) -> Any:
    children: list[Any] = []
    if extension.multi_config:
        for named in extension.multi_config:
            children += _depends_on(named, named.name)
        for named in extension.multi_config:
            children.append(
                element(
                    "ExtensionRuntimeSettings",
                    _runtime_settings(extension, named, protect),
                    attrs={"seqNo": named.seq_no, "name": named.name, "state": named.state},
                )
            )
    else:
        children += _depends_on(extension)
        children.append(
            element(
                "RuntimeSettings",
                _runtime_settings(extension, extension, protect),
                attrs={"seqNo": extension.seq_no},
            )
        )
    return element(
        "Plugin", attrs={"name": extension.name, "version": extension.version}, children=children
    )


def _rsm_elements(family: AgentFamily) -> list[ET.Element]:
    """Version, FromVersion, IsVersionFromRSM, IsVMEnabledForRSMUpgrades: only those set."""
    texts = [
        ("Version", family.version),
        ("FromVersion", family.from_version),
        ("IsVersionFromRSM", "True" if family.is_version_from_rsm else None),
        ("IsVMEnabledForRSMUpgrades", "True" if family.is_vm_enabled_for_rsm_upgrades else None),
    ]
    return [element(tag, text) for tag, text in texts if text is not None]


def _rsm_fields(family: AgentFamily) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if family.version is not None:
        fields["version"] = family.version
    if family.from_version is not None:
        fields["fromVersion"] = family.from_version
    if family.is_version_from_rsm:
        fields["isVersionFromRSM"] = True
    if family.is_vm_enabled_for_rsm_upgrades:
        fields["isVMEnabledForRSMUpgrades"] = True
    return fields


def extensions_config(state: GoalState, urls: Urls, location: str, protect: Protect) -> bytes:
    children = [
        element(
            "GuestAgentExtension",
            attrs={"xmlns:i": XSI},
            children=[
                element(
                    "GAFamilies",
                    children=[
                        element(
                            "GAFamily",
                            children=[
                                element("Name", GA_FAMILY),
                                *_rsm_elements(state.agent_family),
                                element("Uris", children=[element("Uri", urls.ga_manifest())]),
                            ],
                        )
                    ],
                ),
                element("Location", location),
                element("ServiceName", "CRP"),
            ],
        ),
        element(
            "StatusUploadBlob",
            state.status_blob_url,
            attrs={"statusBlobType": state.status_blob_type},
        ),
    ]
    if state.required():
        children.append(
            element(
                "RequiredFeatures",
                children=[
                    element(
                        "RequiredFeature",
                        children=[element("Name", name), element("Value", "1.0")],
                    )
                    for name in state.required()
                ],
            )
        )
    if state.artifacts_profile_url is not None:
        children.append(element("InVMArtifactsProfileBlob", state.artifacts_profile_url))
    children.append(element("Plugins", children=[_plugin(e, urls) for e in state.extensions]))
    children.append(
        element("PluginSettings", children=[_plugin_settings(e, protect) for e in state.extensions])
    )
    children.append(
        element(
            "InVMGoalStateMetaData",
            attrs={
                "inSvdSeqNo": state.incarnation,
                "createdOnTicks": state.created_on_ticks,
                "activityId": state.activity_id,
                "correlationId": state.correlation_id,
            },
        )
    )
    return render(
        element(
            "Extensions",
            attrs={"version": "1.0.0.0", "goalStateIncarnation": state.incarnation},
            children=children,
        )
    )


def manifest(extension: Extension, urls: Urls) -> bytes:
    """PluginVersionManifest: every published version with its package URI."""
    plugins = [
        element(
            "Plugin",
            children=[
                element("Version", published.version),
                element(
                    "Uris",
                    children=[element("Uri", urls.package(extension.name, published.version))],
                ),
            ],
        )
        for published in extension.versions
    ]
    return render(
        element(
            "PluginVersionManifest",
            attrs={"xmlns:i": XSI},
            children=[element("Plugins", children=plugins), element("InternalPlugins")],
        )
    )


def empty_manifest() -> bytes:
    """The agent family manifest: the fabric publishes no agent versions."""
    return render(
        element(
            "PluginVersionManifest",
            attrs={"xmlns:i": XSI},
            children=[element("Plugins"), element("InternalPlugins")],
        )
    )


def artifacts_profile(state: GoalState, on_hold: bool) -> bytes:
    return json.dumps(
        {
            "inVMArtifactsProfileBlobSeqNo": state.incarnation,
            "profileId": state.activity_id,
            "onHold": on_hold,
            "certificateThumbprint": None,
            "encryptedHealthChecks": None,
            "encryptedApplicationProfile": None,
        }
    ).encode()


def _vm_settings_entry(
    extension: Extension, settings: Settings, protect: Protect
) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    protected = protect(extension, settings)
    if protected is not None:
        entry["protectedSettingsCertThumbprint"], entry["protectedSettings"] = protected
    # vmSettings carry publicSettings as a JSON *string*.
    entry["publicSettings"] = (
        json.dumps(settings.public_settings) if settings.public_settings is not None else None
    )
    entry["seqNo"] = settings.seq_no
    return entry


def _vm_settings_extension(extension: Extension, urls: Urls, protect: Protect) -> dict[str, Any]:
    settings: list[dict[str, Any]] = []
    depends_on: list[dict[str, Any]] = []
    if extension.multi_config:
        for named in extension.multi_config:
            entry = _vm_settings_entry(extension, named, protect)
            entry.update(extensionName=named.name, extensionState=named.state)
            settings.append(entry)
            if named.dependency_level is not None:
                depends_on.append(
                    {
                        "name": named.name,
                        "dependencyLevel": named.dependency_level,
                        "dependsOnExtension": [{"handler": h} for h in named.depends_on],
                    }
                )
    else:
        settings.append(_vm_settings_entry(extension, extension, protect))
        if extension.dependency_level is not None:
            depends_on.append(
                {
                    "dependencyLevel": extension.dependency_level,
                    "dependsOnExtension": [{"handler": h} for h in extension.depends_on],
                }
            )
    document: dict[str, Any] = {
        "name": extension.name,
        "version": extension.version,
        "location": urls.manifest(extension.name),
        "failoverLocation": urls.manifest(extension.name, failover=True),
        "additionalLocations": [],
        "state": extension.state,
        "autoUpgrade": extension.auto_upgrade,
        "runAsStartupTask": False,
        "isJson": True,
        "useExactVersion": True,
        "settingsSeqNo": extension.seq_no,
        "isMultiConfig": bool(extension.multi_config),
        "settings": settings,
    }
    if depends_on:
        document["dependsOn"] = depends_on
    return document


def vm_settings(
    state: GoalState,
    urls: Urls,
    *,
    hgap_version: str,
    on_hold: bool,
    inventory: dict[str, str],
    protect: Protect,
    source: str = "FastTrack",
) -> bytes:
    """The HostGAPlugin vmSettings document; `inventory` fills inVMMetadata.

    `source` "Fabric" says the document mirrors the WireServer's goal state (clients drop it).
    """
    document = {
        "hostGAPluginVersion": hgap_version,
        "vmSettingsSchemaVersion": "0.0",
        "activityId": state.activity_id,
        "correlationId": state.correlation_id,
        "inSvdSeqNo": state.incarnation,
        "extensionsLastModifiedTickCount": state.created_on_ticks,
        "extensionGoalStatesSource": source,
        "onHold": on_hold,
        "statusUploadBlob": {
            "statusBlobType": state.status_blob_type,
            "value": state.status_blob_url,
        },
        "inVMMetadata": inventory,
        "requiredFeatures": [{"name": name} for name in state.required()],
        "gaFamilies": [
            {"name": GA_FAMILY, **_rsm_fields(state.agent_family), "uris": [urls.ga_manifest()]}
        ],
        "extensionGoalStates": [_vm_settings_extension(e, urls, protect) for e in state.extensions],
    }
    return json.dumps(document, indent=2).encode()


def vm_settings_etag(document: bytes) -> str:
    """A numeric ETag like HostGAPlugin's, stable for the same document."""
    return str(int.from_bytes(hashlib.sha256(document).digest()[:8], "big"))
