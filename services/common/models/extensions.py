"""The extensions goal state as wire hands it to extd (in the hand-over, `GetExtensionsGoalState`).

Wire parses the fabric's ExtensionsConfig into these models once: sequence numbers as numbers,
each settings document as its values. It does not judge them: the shapes stay close to the
document, so extd can apply every validation rule of the reference (§9.1: settings association,
version mismatch, multiple RuntimeSettings, dependsOn per extension...) and report each problem,
including what wire could not parse (`RuntimeSettings.seq_no_problem`, `.settings_problem`), on
the handler it concerns. These are models of fabric input: unknown fields are ignored, everything
optional has a default.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

REDACTED = "***REDACTED***"
# How much of a bad value a message quotes: messages go to the fabric and the log.
QUOTE_LIMIT = 100


def quote(value: str) -> str:
    """A fabric value for a message: repr, cut to a few words."""
    text = repr(value)
    if len(text) <= QUOTE_LIMIT:
        return text
    return f"{text[:QUOTE_LIMIT]}... ({len(value)} characters)"


_PROTECTED = re.compile(r'("protectedSettings"\s*:\s*)"[^"]*"')


def redact_settings_text(text: str) -> str:
    """Protected settings out of a settings document (the goal-state history keeps the rest)."""
    return _PROTECTED.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)


class _FabricModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class DependsOnExtension(_FabricModel):
    handler: str
    extension: str | None = None


class DependsOn(_FabricModel):
    """A DependsOn element: its level as written (extd parses it), and for multi-config the
    extension it applies to."""

    level: str = ""
    name: str | None = None
    extensions: tuple[DependsOnExtension, ...] = ()


class RuntimeSettings(_FabricModel):
    """One RuntimeSettings (single-config) or ExtensionRuntimeSettings (multi-config) element.

    `name`/`state` are its attributes (None when absent), `seq_no` its seqNo as a number (None
    when absent or not a number: `seq_no_problem` says which). The settings are the values of the
    document's first `runtimeSettings[].handlerSettings`; when the document cannot be used,
    `settings_problem` says why and the values are empty.
    """

    seq_no: int | None = None
    seq_no_problem: str | None = None
    name: str | None = None
    state: str | None = None
    public_settings: Any = None
    protected_settings: str | None = None
    thumbprint: str | None = None
    settings_problem: str | None = None


class PluginSettings(_FabricModel):
    name: str
    version: str = ""
    depends_on: tuple[DependsOn, ...] = ()
    runtime_settings: tuple[RuntimeSettings, ...] = ()
    extension_runtime_settings: tuple[RuntimeSettings, ...] = ()


class Plugin(_FabricModel):
    name: str
    version: str = ""
    state: str = ""
    location: str = ""
    failover_location: str = ""
    additional_locations: tuple[str, ...] = ()
    encoded_signature: str = ""
    auto_upgrade: bool = False
    use_exact_version: bool = True
    is_json: bool = True
    # extd infers it from the settings (ExtensionRuntimeSettings); nothing sets it yet.
    is_multi_config: bool | None = None

    @property
    def manifest_uris(self) -> list[str]:
        """Where the handler manifest may be fetched, in the classic order (§9.1)."""
        uris = [self.location, self.failover_location, *self.additional_locations]
        return [u for u in uris if u]


class GAFamily(_FabricModel):
    name: str
    version: str | None = None
    from_version: str | None = None
    is_version_from_rsm: bool = False
    is_vm_enabled_for_rsm_upgrades: bool = False
    uris: tuple[str, ...] = ()


class StatusUploadBlob(_FabricModel):
    url: str
    # Anything other than PageBlob is treated as BlockBlob (§5.3).
    blob_type: Literal["BlockBlob", "PageBlob"] = "BlockBlob"


class ExtensionsGoalState(_FabricModel):
    """§2.8/§9.1: what the fabric wants extensions to be."""

    id: str
    incarnation: str
    source: Literal["Fabric", "FastTrack"] = "Fabric"  # only Fabric (ExtensionsConfig) so far
    channel: Literal["WireServer", "HostGAPlugin"] = "WireServer"
    # The value reported as inSvdSeqNo in the status (the incarnation for ExtensionsConfig).
    svd_seq_no: str = ""
    created_on_ticks: int = 0
    activity_id: str = "00000000-0000-0000-0000-000000000000"
    correlation_id: str = "00000000-0000-0000-0000-000000000000"
    status_upload_blob: StatusUploadBlob | None = None
    artifacts_profile_url: str | None = None
    on_hold: bool = False
    required_features: tuple[str, ...] = ()
    ga_families: tuple[GAFamily, ...] = ()
    plugins: tuple[Plugin, ...] = ()
    plugin_settings: tuple[PluginSettings, ...] = ()

    def public(self) -> ExtensionsGoalState:
        """What any local user may see: which handlers, at which versions, in which states, at
        which sequence numbers. No URL (storage URLs carry SAS tokens) and no settings at all:
        public settings carry SAS URLs too (fileUris, commandToExecute). Built field by field
        from what is allowed, so a field added later is not shown until someone decides so."""
        return ExtensionsGoalState(
            id=self.id,
            incarnation=self.incarnation,
            source=self.source,
            channel=self.channel,
            svd_seq_no=self.svd_seq_no,
            created_on_ticks=self.created_on_ticks,
            activity_id=self.activity_id,
            correlation_id=self.correlation_id,
            on_hold=self.on_hold,
            required_features=self.required_features,
            ga_families=tuple(GAFamily(name=f.name, version=f.version) for f in self.ga_families),
            plugins=tuple(_public_plugin(p) for p in self.plugins),
            plugin_settings=tuple(_public_plugin_settings(ps) for ps in self.plugin_settings),
        )


def _public_plugin(plugin: Plugin) -> Plugin:
    return Plugin(
        name=plugin.name,
        version=plugin.version,
        state=plugin.state,
        auto_upgrade=plugin.auto_upgrade,
        use_exact_version=plugin.use_exact_version,
        is_json=plugin.is_json,
        is_multi_config=plugin.is_multi_config,
    )


def _public_settings(items: tuple[RuntimeSettings, ...]) -> tuple[RuntimeSettings, ...]:
    return tuple(RuntimeSettings(seq_no=s.seq_no, name=s.name, state=s.state) for s in items)


def _public_plugin_settings(settings: PluginSettings) -> PluginSettings:
    return PluginSettings(
        name=settings.name,
        version=settings.version,
        depends_on=settings.depends_on,
        runtime_settings=_public_settings(settings.runtime_settings),
        extension_runtime_settings=_public_settings(settings.extension_runtime_settings),
    )


EMPTY_GOAL_STATE_ID = "incarnation_0"
