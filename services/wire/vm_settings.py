"""vmSettings (§4.3): the HostGAPlugin's Fast Track document, parsed strictly into the same
`ExtensionsGoalState` model as ExtensionsConfig.

The API is inconsistent about the case of its keys, so every key is matched case-insensitively
(lowered before validation; settings values are left alone). Unknown keys are ignored, but the
rules of §4.3 are checked whole: one violation makes the whole document invalid
(`VmSettingsParseError`), and the caller keeps the goal state it had.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..common.models.extensions import (
    REDACTED,
    DependsOn,
    DependsOnExtension,
    ExtensionsGoalState,
    GAFamily,
    Plugin,
    PluginSettings,
    RuntimeSettings,
    StatusUploadBlob,
    quote,
)
from . import settings as settings_docs
from .errors import MalformedDocument

log = logging.getLogger(__name__)

MIN_HGAP_VERSION = (1, 0, 8, 133)  # older plugins: vmSettings treated as not supported
STATES = ("enabled", "disabled", "uninstall")
MAX_DOCUMENT = 16 << 20


class VmSettingsParseError(MalformedDocument):
    """The document breaks a rule of §4.3: none of it is used."""


def _key(name: str) -> str:
    return name.replace("_", "")


class _Model(BaseModel):
    # Keys arrive lowered; the field `in_svd_seq_no` reads the key "insvdseqno".
    model_config = ConfigDict(frozen=True, extra="ignore", strict=True, alias_generator=_key)


class _Settings(_Model):
    protected_settings_cert_thumbprint: str | None = None
    protected_settings: str | None = None
    public_settings: str | None = None
    seq_no: int | None = None  # single-config entries may leave it to settingsSeqNo
    extension_name: str | None = None
    extension_state: str | None = None


class _DependsOnExtension(_Model):
    handler: str
    extension: str | None = None


class _DependsOn(_Model):
    depends_on_extension: list[_DependsOnExtension] | None = None
    dependency_level: int = 0
    name: str | None = None


class _Extension(_Model):
    name: str
    version: str
    location: str | None = None
    failover_location: str | None = None
    additional_locations: list[str] | None = None
    state: str
    auto_upgrade: bool = False
    is_json: bool = True
    use_exact_version: bool = True
    encoded_signature: str | None = None
    settings_seq_no: int | None = None
    is_multi_config: bool = False
    settings: list[_Settings] | None = None
    depends_on: list[_DependsOn] | None = None


class _StatusBlob(_Model):
    status_blob_type: str | None = None
    value: str


class _Feature(_Model):
    name: str


class _Family(_Model):
    name: str
    version: str | None = None
    from_version: str | None = None
    is_version_from_rsm: bool = Field(False, alias="isversionfromrsm")
    is_vm_enabled_for_rsm_upgrades: bool = Field(False, alias="isvmenabledforrsmupgrades")
    uris: list[str] | None = None


class _VmSettings(_Model):
    host_ga_plugin_version: str = Field(alias="hostgapluginversion")
    activity_id: str = "00000000-0000-0000-0000-000000000000"
    correlation_id: str = "00000000-0000-0000-0000-000000000000"
    in_svd_seq_no: int | None = None  # older plugins leave it out (extd then says the incarnation)
    extensions_last_modified_tick_count: int
    extension_goal_states_source: Literal["FastTrack", "Fabric"]
    on_hold: bool = False
    status_upload_blob: _StatusBlob | None = None
    required_features: list[_Feature] | None = None
    ga_families: list[_Family] | None = None
    extension_goal_states: list[_Extension] | None = None


def plugin_version(text: str) -> tuple[int, ...]:
    """`1.0.8.133` as numbers (VmSettingsParseError when it is not a version)."""
    try:
        return tuple(int(part) for part in text.strip().split("."))
    except ValueError:
        raise VmSettingsParseError(f"hostGAPluginVersion {quote(text)} is not a version") from None


def _lowered(value: Any) -> Any:
    """Keys lowered at every level (settings values are strings, so they keep their case)."""
    if isinstance(value, dict):
        return {str(k).lower(): _lowered(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lowered(v) for v in value]
    return value


def _json(text: str | bytes, what: str) -> Any:
    """JSON no deeper than settings may nest (VmSettingsParseError naming `what` otherwise)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise VmSettingsParseError(f"{what} are not valid JSON ({exc})") from None
    if settings_docs.depth(value) > settings_docs.MAX_DEPTH:
        raise VmSettingsParseError(f"{what}: {settings_docs.TOO_DEEP}")
    return value


def load(data: bytes) -> _VmSettings:
    if len(data) > MAX_DOCUMENT:
        raise VmSettingsParseError(f"vmSettings larger than {MAX_DOCUMENT} bytes")
    raw = _json(data, "vmSettings")
    try:
        return _VmSettings.model_validate(_lowered(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise VmSettingsParseError(f"vmSettings: {where}: {first['msg']}") from None


def _public(text: str | None, where: str) -> Any:
    """publicSettings arrive as a JSON *string*; null stays null."""
    return None if text is None else _json(text, f"{where}: publicSettings")


def _runtime(entry: _Settings, extension: _Extension) -> RuntimeSettings:
    where, multi = extension.name, extension.is_multi_config
    if entry.protected_settings and not entry.protected_settings_cert_thumbprint:
        raise VmSettingsParseError(f"{where}: protectedSettings without a certificate thumbprint")
    if multi and not entry.extension_name:
        raise VmSettingsParseError(f"{where}: a multi-config settings entry has no extensionName")
    seq_no = entry.seq_no if entry.seq_no is not None or multi else extension.settings_seq_no
    return RuntimeSettings(
        seq_no=seq_no,
        seq_no_problem=None if seq_no is not None else "is missing",
        name=entry.extension_name if multi else None,
        state=(entry.extension_state or "enabled") if multi else None,
        public_settings=_public(entry.public_settings, where),
        protected_settings=entry.protected_settings or None,
        thumbprint=entry.protected_settings_cert_thumbprint or None,
    )


def _depends_on(item: _DependsOn, multi: bool) -> DependsOn:
    return DependsOn(
        level=str(item.dependency_level),
        name=item.name if multi else None,
        extensions=tuple(
            DependsOnExtension(handler=d.handler, extension=d.extension)
            for d in item.depends_on_extension or ()
        ),
    )


def _plugin_settings(extension: _Extension) -> PluginSettings | None:
    where, multi = extension.name, extension.is_multi_config
    entries = extension.settings or []
    depends = extension.depends_on
    if depends is not None and not depends:
        log.warning("%s: an empty dependsOn list (dependency level 0)", where)
    if not multi and len(entries) > 1:
        raise VmSettingsParseError(f"{where}: {len(entries)} settings for a single-config handler")
    if not multi and depends and len(depends) > 1:
        raise VmSettingsParseError(f"{where}: {len(depends)} dependsOn for a single-config handler")
    runtime = tuple(_runtime(e, extension) for e in entries)
    names = {r.name for r in runtime}
    for item in depends or ():
        if multi and item.name not in names:
            raise VmSettingsParseError(
                f"{where}: dependsOn names {quote(item.name or '')}, which has no settings"
            )
    if not runtime and not depends:
        return None  # legacy: a handler without settings is still processed
    return PluginSettings(
        name=extension.name,
        version=extension.version,
        depends_on=tuple(_depends_on(d, multi) for d in depends or ()),
        runtime_settings=() if multi else runtime,
        extension_runtime_settings=runtime if multi else (),
    )


def _plugin(extension: _Extension) -> Plugin:
    if extension.state.lower() not in STATES:
        raise VmSettingsParseError(
            f"{extension.name}: state {quote(extension.state)} is not one of {', '.join(STATES)}"
        )
    return Plugin(
        name=extension.name,
        version=extension.version,
        state=extension.state.lower(),
        location=extension.location or "",
        failover_location=extension.failover_location or "",
        additional_locations=tuple(extension.additional_locations or ()),
        encoded_signature=extension.encoded_signature or "",
        auto_upgrade=extension.auto_upgrade,
        use_exact_version=extension.use_exact_version,
        is_json=extension.is_json,
        is_multi_config=extension.is_multi_config,
    )


def _blob(blob: _StatusBlob | None) -> StatusUploadBlob | None:
    if blob is None:
        return None
    if not blob.value:
        raise VmSettingsParseError("statusUploadBlob has no value")
    kind: Literal["BlockBlob", "PageBlob"] = (
        "PageBlob" if blob.status_blob_type == "PageBlob" else "BlockBlob"
    )
    return StatusUploadBlob(url=blob.value, blob_type=kind)


def to_goal_state(doc: _VmSettings, etag: str, incarnation: str) -> ExtensionsGoalState:
    """The goal state `etag_<ETag>` (VmSettingsParseError on a rule of §4.3 broken)."""
    extensions = doc.extension_goal_states or []
    plugin_settings = [_plugin_settings(e) for e in extensions]
    return ExtensionsGoalState(
        id=f"etag_{etag}",
        incarnation=incarnation,
        source=doc.extension_goal_states_source,
        channel="HostGAPlugin",
        svd_seq_no="" if doc.in_svd_seq_no is None else str(doc.in_svd_seq_no),
        created_on_ticks=doc.extensions_last_modified_tick_count,
        activity_id=doc.activity_id,
        correlation_id=doc.correlation_id,
        status_upload_blob=_blob(doc.status_upload_blob),
        on_hold=doc.on_hold,
        required_features=tuple(f.name for f in doc.required_features or ()),
        ga_families=tuple(
            GAFamily(
                name=f.name,
                version=f.version,
                from_version=f.from_version,
                is_version_from_rsm=f.is_version_from_rsm,
                is_vm_enabled_for_rsm_upgrades=f.is_vm_enabled_for_rsm_upgrades,
                uris=tuple(f.uris or ()),
            )
            for f in doc.ga_families or ()
        ),
        plugins=tuple(_plugin(e) for e in extensions),
        plugin_settings=tuple(p for p in plugin_settings if p is not None),
    )


def parse(data: bytes, etag: str, incarnation: str) -> ExtensionsGoalState:
    return to_goal_state(load(data), etag, incarnation)


_PROTECTED = re.compile(r'("protectedSettings"\s*:\s*)"[^"]*"', re.IGNORECASE)


def _redact_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: REDACTED if str(k).lower() == "protectedsettings" and v else _redact_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_value(v) for v in value]
    return value


def redacted(data: bytes) -> str:
    """The document for the history: protected settings out (History takes out SAS tokens).

    A document that is not JSON loses its protected settings by pattern instead."""
    text = data.decode("utf-8", errors="replace")
    try:
        return json.dumps(_redact_value(json.loads(text)), indent=2)
    except (ValueError, RecursionError):
        return _PROTECTED.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)
