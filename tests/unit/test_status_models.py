"""The status blob JSON shape of §5.2: which keys are left out, which stay as null."""

from __future__ import annotations

from waagent.common.models.status import (
    AggregateStatus,
    ExtensionsStatus,
    ExtensionStatusDetail,
    FormattedMessage,
    GoalStateAggregateStatus,
    GuestAgentStatus,
    GuestOSInfo,
    HandlerStatus,
    RuntimeSettingsStatus,
    SettingsStatus,
    SupportedFeature,
    VmArtifactsAggregateStatus,
    VMStatus,
)


def handler(**kw: object) -> HandlerStatus:
    return HandlerStatus(handler_version="1.0.0", handler_name="Pub.Type", status="Ready", **kw)  # type: ignore[arg-type]


def test_a_bare_handler_status_omits_message_and_runtime_settings() -> None:
    assert handler().to_json() == {
        "handlerVersion": "1.0.0",
        "handlerName": "Pub.Type",
        "status": "Ready",
        "code": 0,
        "useExactVersion": True,
    }


def test_extension_status_keeps_nulls_where_the_classic_agent_writes_them() -> None:
    status = handler(
        formatted_message=FormattedMessage(message="Plugin enabled"),
        runtime_settings_status=RuntimeSettingsStatus(
            settings_status=SettingsStatus(
                status=ExtensionStatusDetail(name="Pub.Type", status="success"),
                timestamp_utc="2026-11-25T00:00:00Z",
            ),
            sequence_number=3,
        ),
    ).to_json()
    detail = status["runtimeSettingsStatus"]["settingsStatus"]["status"]
    assert detail["configurationAppliedTime"] is None and detail["operation"] is None
    assert detail["formattedMessage"] == {"lang": "en-US", "message": None}
    assert "substatus" not in detail
    assert "extensionName" not in status["runtimeSettingsStatus"]
    assert status["runtimeSettingsStatus"]["sequenceNumber"] == 3
    assert status["runtimeSettingsStatus"]["settingsStatus"]["version"] == 1.0


def test_the_status_blob_nests_as_documented() -> None:
    blob = VMStatus(
        timestamp_utc="2026-11-25T00:00:00Z",
        aggregate_status=AggregateStatus(
            guest_agent_status=GuestAgentStatus(version="3.0.0.0"),
            handler_aggregate_status=(handler(),),
            vm_artifacts_aggregate_status=VmArtifactsAggregateStatus(
                goal_state_aggregate_status=GoalStateAggregateStatus(
                    formatted_message=FormattedMessage(message="GoalState executed successfully"),
                    timestamp_utc="2026-11-25T00:00:00Z",
                    in_svd_seq_no="1",
                    status="Success",
                )
            ),
        ),
        guest_os_info=GuestOSInfo(
            computer_name="vm", os_name="debian", os_version="12", version="3.0.0.0"
        ),
        supported_features=(SupportedFeature(key="MultipleExtensionsPerHandler"),),
    ).to_json()
    assert list(blob) == [
        "version",
        "timestampUTC",
        "aggregateStatus",
        "guestOSInfo",
        "supportedFeatures",
    ]
    agent = blob["aggregateStatus"]["guestAgentStatus"]
    assert agent == {
        "version": "3.0.0.0",
        "status": "Ready",
        "formattedMessage": {"lang": "en-US", "message": "Guest Agent is running"},
    }
    gs = blob["aggregateStatus"]["vmArtifactsAggregateStatus"]["goalStateAggregateStatus"]
    assert gs["inSvdSeqNo"] == "1" and gs["code"] == 0
    assert blob["supportedFeatures"] == [{"Key": "MultipleExtensionsPerHandler", "Value": "1.0"}]


def test_the_extensions_part_round_trips_through_json() -> None:
    part = ExtensionsStatus(handler_aggregate_status=(handler(),))
    text = part.model_dump_json(by_alias=True)
    assert "vmArtifactsAggregateStatus" not in text
    assert ExtensionsStatus.model_validate_json(text) == part
