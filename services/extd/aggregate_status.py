"""The handlerAggregateStatus report (reference §5.2, §9.11): entries -> the status model wire
uploads, its comparable form, and the form shown to callers who are not root."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..common.logs import redact
from ..common.models.status import (
    ExtensionsStatus,
    ExtensionStatusDetail,
    FormattedMessage,
    GoalStateAggregateStatus,
    HandlerStatus,
    RuntimeSettingsStatus,
    SettingsStatus,
    SubStatus,
    VmArtifactsAggregateStatus,
)
from .heartbeat import Heartbeat
from .state import ExtdState, ExtensionRef, HandlerRecord

TERMINAL = frozenset({"success", "error"})


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Entry:
    """One reported thing: a handler, or one extension of it, as the report and the bus see it."""

    record: HandlerRecord
    extension: ExtensionRef | None
    handler_state: str
    handler_status: HandlerStatus
    detail: ExtensionStatusDetail | None
    extension_state: str | None = None  # a multi-config extension's enabled/disabled

    @property
    def status(self) -> str:
        return self.detail.status if self.detail is not None else self.handler_status.status

    @property
    def terminal(self) -> bool:
        return self.detail is None or self.detail.status in TERMINAL


def handler_status(record: HandlerRecord, heartbeat: Heartbeat | None) -> HandlerStatus:
    status, code, message = record.status, record.code, record.message
    if heartbeat is not None:
        if heartbeat.status is not None and not record.disallowed:
            status = heartbeat.status
        code = heartbeat.code if heartbeat.code else code
        if record.disallowed:
            message = f"{message or ''} {heartbeat.message}".strip()
        elif heartbeat.message:
            message = heartbeat.message
    return HandlerStatus(
        handler_version=record.version,
        handler_name=record.name,
        status=status,
        code=code,
        formatted_message=FormattedMessage(message=redact(message)) if message else None,
    )


def to_report(entries: Iterable[Entry], state: ExtdState) -> ExtensionsStatus:
    now = utc_now()
    handlers = []
    for entry in entries:
        status = entry.handler_status
        if entry.detail is not None and entry.extension is not None:
            status = status.model_copy(
                update={
                    "runtime_settings_status": RuntimeSettingsStatus(
                        settings_status=SettingsStatus(status=entry.detail, timestamp_utc=now),
                        sequence_number=entry.extension.seq_no,
                        extension_name=entry.extension.name if entry.record.multi_config else None,
                    )
                }
            )
        handlers.append(status)
    outcome = state.outcome
    artifacts = None
    if outcome is not None:
        artifacts = VmArtifactsAggregateStatus(
            goal_state_aggregate_status=GoalStateAggregateStatus(
                formatted_message=FormattedMessage(message=outcome.message),
                timestamp_utc=outcome.timestamp,
                in_svd_seq_no=outcome.svd_seq_no,
                status=outcome.status,
                code=outcome.code,
            )
        )
    return ExtensionsStatus(
        handler_aggregate_status=tuple(handlers), vm_artifacts_aggregate_status=artifacts
    )


def comparable(report: ExtensionsStatus) -> str:
    """The report without its timestamps of "now": equal when nothing changed."""
    data = report.to_json()
    for handler in data.get("handlerAggregateStatus", []):
        settings = handler.get("runtimeSettingsStatus", {}).get("settingsStatus")
        if settings:
            settings.pop("timestampUTC", None)
    return json.dumps(data, sort_keys=True)


def without_messages(report: ExtensionsStatus) -> ExtensionsStatus:
    """The report for a caller who is not root: states, codes and versions, no text (extensions
    put command output and secrets in messages and substatus)."""

    def detail(status: ExtensionStatusDetail) -> ExtensionStatusDetail:
        subs = status.substatus
        return status.model_copy(
            update={
                "formatted_message": FormattedMessage(),
                "substatus": None
                if subs is None
                else tuple(SubStatus(status=s.status, code=s.code) for s in subs),
            }
        )

    handlers = []
    for handler in report.handler_aggregate_status:
        runtime = handler.runtime_settings_status
        if runtime is not None:
            settings = runtime.settings_status
            runtime = runtime.model_copy(
                update={
                    "settings_status": settings.model_copy(
                        update={"status": detail(settings.status)}
                    )
                }
            )
        handlers.append(
            handler.model_copy(
                update={"formatted_message": None, "runtime_settings_status": runtime}
            )
        )
    return report.model_copy(update={"handler_aggregate_status": tuple(handlers)})
