from __future__ import annotations

import defusedxml.ElementTree as SafeET

from waagent.common.models.events import TelemetryEvent
from waagent.wire import reports


def test_the_health_report_has_the_documented_shape() -> None:
    xml = reports.health_document(
        incarnation="3",
        container_id="c1",
        role_instance_id="r1",
        state="NotReady",
        substatus="ProvisioningFailed",
        description="user <bad> & co",
    )
    assert xml.startswith(b'<?xml version="1.0" encoding="utf-8"?><Health ')
    assert b"\n" not in xml
    root = SafeET.fromstring(xml)
    assert root.findtext("GoalStateIncarnation") == "3"
    assert root.findtext("Container/ContainerId") == "c1"
    role = root.find("Container/RoleInstanceList/Role")
    assert role.findtext("InstanceId") == "r1"
    assert role.findtext("Health/State") == "NotReady"
    assert role.findtext("Health/Details/SubStatus") == "ProvisioningFailed"
    assert role.findtext("Health/Details/Description") == "user <bad> & co"


def test_ready_has_no_details() -> None:
    xml = reports.health_document(
        incarnation="1", container_id="c", role_instance_id="r", state="Ready"
    )
    assert b"<Details>" not in xml


def test_the_description_is_truncated_before_escaping() -> None:
    xml = reports.health_document(
        incarnation="1",
        container_id="c",
        role_instance_id="r",
        state="NotReady",
        substatus="Provisioning",
        description="&" * 5000,
    )
    text = SafeET.fromstring(xml).findtext(".//Description")
    assert text == "&" * reports.HEALTH_DESCRIPTION_LIMIT


def test_telemetry_parameters_carry_their_classic_types() -> None:
    event = TelemetryEvent(
        parameters={"Name": "x", "Duration": 5, "OperationSuccess": True, "V": 1.5}
    )
    xml = reports.event_xml(event, {})
    assert '<Param Name="Name" Value="x" T="mt:wstr" />' in xml
    assert '<Param Name="Duration" Value="5" T="mt:uint64" />' in xml
    assert '<Param Name="OperationSuccess" Value="True" T="mt:bool" />' in xml
    assert '<Param Name="V" Value="1.5" T="mt:float64" />' in xml


def test_telemetry_batches_stay_under_the_limit_and_drop_oversized_events() -> None:
    events = [TelemetryEvent(parameters={"Message": "m" * 1000}) for _ in range(200)]
    events.append(TelemetryEvent(parameters={"Message": "x" * 70000}))
    batches = list(reports.telemetry_batches(events, {"GAVersion": "WALinuxAgent-3.0.0.0"}))
    assert sum(count for _, count in batches) == 200
    assert all(len(doc) < reports.TELEMETRY_BUFFER_LIMIT for doc, _ in batches)
    for doc, count in batches:
        root = SafeET.fromstring(doc)
        assert len(root.findall("Provider/Event")) == count


def test_events_are_grouped_per_provider() -> None:
    events = [TelemetryEvent(provider_id="A"), TelemetryEvent(provider_id="B", event_id=7)]
    providers = [
        SafeET.fromstring(doc).find("Provider").get("id")
        for doc, _ in reports.telemetry_batches(events, {})
    ]
    assert providers == ["A", "B"]
