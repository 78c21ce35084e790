"""The extensions goal state as wire hands it to extd (`GetExtensionsGoalState`).

Wire parses the fabric's documents (ExtensionsConfig XML, or HostGAPlugin vmSettings JSON) into
these models and does not judge them: the shapes stay close to the documents, so extd can apply
every validation rule of the reference (§9.1: settings association, version mismatch, multiple
RuntimeSettings, dependsOn per extension...) and report each problem on the handler it concerns.
These are models of fabric input: unknown fields are ignored, everything optional has a default.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

REDACTED = "***REDACTED***"

_PROTECTED = re.compile(r'("protectedSettings"\s*:\s*)"[^"]*"')
_SAS_QUERY = re.compile(r"\?[^\s\"'<>]*")


def redact_url(url: str) -> str:
    """Storage SAS URLs carry credentials in their query string."""
    return _SAS_QUERY.sub("?" + REDACTED, url, count=1) if url else url


def redact_settings_text(text: str) -> str:
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

    `text` is the JSON document as the fabric wrote it
    (`{"runtimeSettings":[{"handlerSettings":{...}}]}`); `seq_no`/`name`/`state` are its
    attributes, None when absent.
    """

    seq_no: str | None = None
    name: str | None = None
    state: str | None = None
    text: str = ""


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
    # vmSettings say it directly; for ExtensionsConfig extd infers it from the settings.
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
    source: Literal["Fabric", "FastTrack"] = "Fabric"
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

    def redacted(self) -> ExtensionsGoalState:
        """A copy safe for non-root callers and logs: no SAS tokens, no protected settings."""

        def settings(items: tuple[RuntimeSettings, ...]) -> tuple[RuntimeSettings, ...]:
            return tuple(s.model_copy(update={"text": redact_settings_text(s.text)}) for s in items)

        def plugin(p: Plugin) -> Plugin:
            return p.model_copy(
                update={
                    "location": redact_url(p.location),
                    "failover_location": redact_url(p.failover_location),
                    "additional_locations": tuple(redact_url(u) for u in p.additional_locations),
                }
            )

        blob = self.status_upload_blob
        return self.model_copy(
            update={
                "plugins": tuple(plugin(p) for p in self.plugins),
                "ga_families": tuple(
                    f.model_copy(update={"uris": tuple(redact_url(u) for u in f.uris)})
                    for f in self.ga_families
                ),
                "status_upload_blob": (
                    blob.model_copy(update={"url": redact_url(blob.url)}) if blob else None
                ),
                "artifacts_profile_url": (
                    redact_url(self.artifacts_profile_url) if self.artifacts_profile_url else None
                ),
                "plugin_settings": tuple(
                    ps.model_copy(
                        update={
                            "runtime_settings": settings(ps.runtime_settings),
                            "extension_runtime_settings": settings(ps.extension_runtime_settings),
                        }
                    )
                    for ps in self.plugin_settings
                ),
            }
        )


EMPTY_GOAL_STATE_ID = "incarnation_0"
