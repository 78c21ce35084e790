"""Parsing the WireServer documents (§2.6, §9.1) into plain values and the shared models.

Lookups are as tolerant as the classic agent's (first descendant with the name, missing
attribute = empty); what the protocol cannot do without is checked and reported by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element

from ..common.models.extensions import (
    DependsOn,
    DependsOnExtension,
    ExtensionsGoalState,
    GAFamily,
    Plugin,
    PluginSettings,
    RuntimeSettings,
    StatusUploadBlob,
)
from . import settings, xmldoc
from .errors import MalformedDocument

WIRE_PROTOCOL_VERSION = "2012-11-30"


class MissingRoleInstance(MalformedDocument):
    """Seen transiently (§2.7): the goal state is re-fetched a few times before giving up."""


def supports_protocol(versions_xml: bytes) -> bool:
    root = xmldoc.parse(versions_xml, "Versions")
    return any(
        xmldoc.text_of(v) == WIRE_PROTOCOL_VERSION for v in xmldoc.iter_named(root, "Version")
    )


@dataclass(frozen=True)
class GoalStateDocument:
    incarnation: str
    container_id: str
    role_instance_id: str
    role_config_name: str
    hosting_env_url: str
    shared_config_url: str
    extensions_config_url: str
    certificates_url: str
    remote_access_url: str


def parse_goal_state(data: bytes) -> GoalStateDocument:
    root = xmldoc.parse(data, "GoalState")
    incarnation = xmldoc.findtext(root, "Incarnation")
    container_id = xmldoc.findtext(root, "ContainerId")
    if not incarnation or not container_id:
        missing = "Incarnation" if not incarnation else "ContainerId"
        raise MalformedDocument(f"GoalState has no {missing}")
    role = xmldoc.find(root, "RoleInstance")
    if role is None:
        raise MissingRoleInstance("GoalState has no RoleInstance")
    config = xmldoc.find(role, "Configuration")
    urls = {
        name: xmldoc.findtext(config, name) if config is not None else ""
        for name in (
            "HostingEnvironmentConfig",
            "SharedConfig",
            "ExtensionsConfig",
            "Certificates",
            "ConfigName",
        )
    }
    return GoalStateDocument(
        incarnation=incarnation,
        container_id=container_id,
        role_instance_id=xmldoc.findtext(role, "InstanceId"),
        role_config_name=urls["ConfigName"],
        hosting_env_url=urls["HostingEnvironmentConfig"],
        shared_config_url=urls["SharedConfig"],
        extensions_config_url=urls["ExtensionsConfig"],
        certificates_url=urls["Certificates"],
        remote_access_url=xmldoc.findtext(root, "RemoteAccessInfo"),
    )


@dataclass(frozen=True)
class HostingEnvironment:
    instance_name: str
    role_name: str
    deployment_name: str


def parse_hosting_environment(data: bytes) -> HostingEnvironment:
    root = xmldoc.parse(data, "HostingEnvironmentConfig")

    def named(tag: str, attribute: str) -> str:
        element = xmldoc.find(root, tag)
        return xmldoc.attr(element, attribute) if element is not None else ""

    return HostingEnvironment(
        instance_name=named("Incarnation", "instance"),
        role_name=named("Role", "name"),
        deployment_name=named("Deployment", "name"),
    )


def _true(text: str) -> bool:
    return text.strip().lower() == "true"


def _depends_on(element: Element) -> DependsOn:
    return DependsOn(
        level=xmldoc.attr(element, "dependencyLevel"),
        name=element.get("name"),
        extensions=tuple(
            DependsOnExtension(handler=xmldoc.attr(d, "handler"), extension=d.get("extension"))
            for d in xmldoc.children(element, "DependsOnExtension")
        ),
    )


def _runtime_settings(element: Element) -> RuntimeSettings:
    return settings.runtime_settings(
        element.get("seqNo"), element.get("name"), element.get("state"), element.text or ""
    )


def _plugin(element: Element) -> Plugin:
    additional = xmldoc.find(element, "additionalLocations")
    return Plugin(
        name=xmldoc.attr(element, "name"),
        version=xmldoc.attr(element, "version"),
        state=xmldoc.attr(element, "state"),
        location=xmldoc.attr(element, "location"),
        failover_location=xmldoc.attr(element, "failoverlocation"),
        additional_locations=tuple(
            xmldoc.text_of(a)
            for a in (
                xmldoc.children(additional, "additionalLocation") if additional is not None else []
            )
        ),
        encoded_signature=xmldoc.attr(element, "encodedSignature"),
        auto_upgrade=_true(xmldoc.attr(element, "autoUpgrade")),
        use_exact_version=xmldoc.attr(element, "useExactVersion").lower() != "false",
        is_json=xmldoc.attr(element, "isJson").lower() != "false",
    )


def _plugin_settings(element: Element) -> PluginSettings:
    return PluginSettings(
        name=xmldoc.attr(element, "name"),
        version=xmldoc.attr(element, "version"),
        depends_on=tuple(_depends_on(d) for d in xmldoc.children(element, "DependsOn")),
        runtime_settings=tuple(
            _runtime_settings(r) for r in xmldoc.children(element, "RuntimeSettings")
        ),
        extension_runtime_settings=tuple(
            _runtime_settings(r) for r in xmldoc.children(element, "ExtensionRuntimeSettings")
        ),
    )


def _ga_family(element: Element) -> GAFamily:
    uris = xmldoc.find(element, "Uris")
    return GAFamily(
        name=xmldoc.findtext(element, "Name"),
        version=xmldoc.findtext(element, "Version") or None,
        from_version=xmldoc.findtext(element, "FromVersion") or None,
        is_version_from_rsm=_true(xmldoc.findtext(element, "IsVersionFromRSM")),
        is_vm_enabled_for_rsm_upgrades=_true(xmldoc.findtext(element, "IsVMEnabledForRSMUpgrades")),
        uris=tuple(
            xmldoc.text_of(u) for u in (xmldoc.children(uris, "Uri") if uris is not None else [])
        ),
    )


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def parse_extensions_config(data: bytes, incarnation: str) -> ExtensionsGoalState:
    """ExtensionsConfig (§9.1). Its id is `incarnation_<N>`; inSvdSeqNo reported = incarnation."""
    root = xmldoc.parse(data, "ExtensionsConfig")
    plugins_el = xmldoc.find(root, "Plugins")
    settings_el = xmldoc.find(root, "PluginSettings")
    features_el = xmldoc.find(root, "RequiredFeatures")
    families_el = xmldoc.find(root, "GAFamilies")
    blob_el = xmldoc.find(root, "StatusUploadBlob")
    profile_el = xmldoc.find(root, "InVMArtifactsProfileBlob")
    metadata = xmldoc.find(root, "InVMGoalStateMetaData")
    blob = None
    if blob_el is not None and xmldoc.text_of(blob_el):
        kind = xmldoc.attr(blob_el, "statusBlobType")
        blob = StatusUploadBlob(
            url=xmldoc.text_of(blob_el),
            blob_type="PageBlob" if kind == "PageBlob" else "BlockBlob",
        )
    return ExtensionsGoalState(
        id=f"incarnation_{incarnation}",
        incarnation=incarnation,
        source="Fabric",
        channel="WireServer",
        svd_seq_no=incarnation,
        created_on_ticks=_int(xmldoc.attr(metadata, "createdOnTicks"))
        if metadata is not None
        else 0,
        activity_id=(xmldoc.attr(metadata, "activityId") if metadata is not None else "")
        or "00000000-0000-0000-0000-000000000000",
        correlation_id=(xmldoc.attr(metadata, "correlationId") if metadata is not None else "")
        or "00000000-0000-0000-0000-000000000000",
        status_upload_blob=blob,
        artifacts_profile_url=xmldoc.text_of(profile_el) or None,
        required_features=tuple(
            xmldoc.findtext(f, "Name")
            for f in (
                xmldoc.children(features_el, "RequiredFeature") if features_el is not None else []
            )
        ),
        ga_families=tuple(
            _ga_family(f)
            for f in (xmldoc.children(families_el, "GAFamily") if families_el is not None else [])
        ),
        plugins=tuple(
            _plugin(p)
            for p in (xmldoc.children(plugins_el, "Plugin") if plugins_el is not None else [])
        ),
        plugin_settings=tuple(
            _plugin_settings(p)
            for p in (xmldoc.children(settings_el, "Plugin") if settings_el is not None else [])
        ),
    )


def empty_extensions_goal_state(incarnation: str) -> ExtensionsGoalState:
    """A goal state without ExtensionsConfig: no status blob, no extensions (§2.8)."""
    return ExtensionsGoalState(
        id=f"incarnation_{incarnation}", incarnation=incarnation, svd_seq_no=incarnation
    )
