"""The VM status blob (§5.2, version 1.1): the JSON the fabric reads to show agent and extensions.

extd builds the extensions part (`ExtensionsStatus`: handlerAggregateStatus and
vmArtifactsAggregateStatus) and hands it to wire; wire adds guestAgentStatus, guestOSInfo and
supportedFeatures (`VMStatus`) and uploads it, again every period even when extd has exited.
Keys and nesting are the public contract: camelCase aliases, and some keys are left out when
empty while others must stay as null, exactly as the classic agent writes them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer


class _StatusModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    # JSON keys dropped when their value is None (the others are written as null).
    OMIT_IF_NONE: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_empty(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for key in self.OMIT_IF_NONE:
                if data.get(key) is None:
                    data.pop(key, None)
        return data

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


class FormattedMessage(_StatusModel):
    lang: str = "en-US"
    message: str | None = None


class SubStatus(_StatusModel):
    OMIT_IF_NONE = frozenset({"formattedMessage"})

    name: str | None = None
    status: str
    code: int = 0
    formatted_message: FormattedMessage | None = Field(None, alias="formattedMessage")


class ExtensionStatusDetail(_StatusModel):
    """settingsStatus.status: what the extension wrote in its status file, as reported."""

    OMIT_IF_NONE = frozenset({"substatus"})

    name: str | None = None
    configuration_applied_time: str | None = Field(None, alias="configurationAppliedTime")
    operation: str | None = None
    status: str
    code: int = 0
    formatted_message: FormattedMessage = Field(
        default_factory=FormattedMessage, alias="formattedMessage"
    )
    substatus: tuple[SubStatus, ...] | None = None


class SettingsStatus(_StatusModel):
    status: ExtensionStatusDetail
    version: float | str = 1.0
    timestamp_utc: str = Field(alias="timestampUTC")


class RuntimeSettingsStatus(_StatusModel):
    OMIT_IF_NONE = frozenset({"extensionName"})

    settings_status: SettingsStatus = Field(alias="settingsStatus")
    sequence_number: int = Field(alias="sequenceNumber")
    extension_name: str | None = Field(None, alias="extensionName")


class HandlerStatus(_StatusModel):
    OMIT_IF_NONE = frozenset({"formattedMessage", "runtimeSettingsStatus"})

    handler_version: str = Field(alias="handlerVersion")
    handler_name: str = Field(alias="handlerName")
    status: str
    code: int = 0
    use_exact_version: bool = Field(True, alias="useExactVersion")
    formatted_message: FormattedMessage | None = Field(None, alias="formattedMessage")
    runtime_settings_status: RuntimeSettingsStatus | None = Field(
        None, alias="runtimeSettingsStatus"
    )


class GoalStateAggregateStatus(_StatusModel):
    formatted_message: FormattedMessage = Field(alias="formattedMessage")
    timestamp_utc: str = Field(alias="timestampUTC")
    in_svd_seq_no: str = Field(alias="inSvdSeqNo")
    status: str
    code: int = 0


class VmArtifactsAggregateStatus(_StatusModel):
    goal_state_aggregate_status: GoalStateAggregateStatus = Field(alias="goalStateAggregateStatus")


class ExtensionsStatus(_StatusModel):
    """What extd hands wire (`UploadStatus`): the extensions part of the aggregate status."""

    OMIT_IF_NONE = frozenset({"vmArtifactsAggregateStatus"})

    handler_aggregate_status: tuple[HandlerStatus, ...] = Field((), alias="handlerAggregateStatus")
    vm_artifacts_aggregate_status: VmArtifactsAggregateStatus | None = Field(
        None, alias="vmArtifactsAggregateStatus"
    )


class UpdateStatus(_StatusModel):
    expected_version: str = Field(alias="expectedVersion")
    status: str
    code: int = 0
    formatted_message: FormattedMessage = Field(alias="formattedMessage")


class GuestAgentStatus(_StatusModel):
    OMIT_IF_NONE = frozenset({"updateStatus"})

    version: str
    status: str = "Ready"
    formatted_message: FormattedMessage = Field(
        default_factory=lambda: FormattedMessage(message="Guest Agent is running"),
        alias="formattedMessage",
    )
    update_status: UpdateStatus | None = Field(None, alias="updateStatus")


class AggregateStatus(_StatusModel):
    OMIT_IF_NONE = frozenset({"vmArtifactsAggregateStatus"})

    guest_agent_status: GuestAgentStatus = Field(alias="guestAgentStatus")
    handler_aggregate_status: tuple[HandlerStatus, ...] = Field((), alias="handlerAggregateStatus")
    vm_artifacts_aggregate_status: VmArtifactsAggregateStatus | None = Field(
        None, alias="vmArtifactsAggregateStatus"
    )


class GuestOSInfo(_StatusModel):
    computer_name: str = Field(alias="computerName")
    os_name: str = Field(alias="osName")
    os_version: str = Field(alias="osVersion")
    version: str


class SupportedFeature(_StatusModel):
    key: str = Field(alias="Key")
    value: str = Field("1.0", alias="Value")


class VMStatus(_StatusModel):
    """The whole status blob."""

    version: str = "1.1"
    timestamp_utc: str = Field(alias="timestampUTC")
    aggregate_status: AggregateStatus = Field(alias="aggregateStatus")
    guest_os_info: GuestOSInfo = Field(alias="guestOSInfo")
    supported_features: tuple[SupportedFeature, ...] = Field((), alias="supportedFeatures")
