"""What the agent reports to the WireServer is parsed, recorded in order, and queryable."""

from __future__ import annotations

import json

from waagent.fabric.server import Fabric

from .helpers import H1, Agentish

H3 = {**H1, "Content-Type": "text/xml;charset=utf-8"}


def health_xml(state: str, substatus: str | None = None, description: str | None = None) -> bytes:
    details = ""
    if substatus is not None:
        details = f"<Details><SubStatus>{substatus}</SubStatus><Description>{description}</Description></Details>"
    return (
        '<?xml version="1.0" encoding="utf-8"?><Health xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><GoalStateIncarnation>1</GoalStateIncarnation>'
        "<Container><ContainerId>c6d5526c-5ac2-4200-b6e2-56f2b70c5ab2</ContainerId><RoleInstanceList><Role>"
        f"<InstanceId>vm._imagecheck</InstanceId><Health><State>{state}</State>{details}</Health>"
        "</Role></RoleInstanceList></Container></Health>"
    ).encode()


def test_health_reports_are_recorded_in_order_with_substatus_and_description(
    agent: Agentish, fabric: Fabric
) -> None:
    provisioning = health_xml("NotReady", "Provisioning", "Starting &amp; creating the user")
    assert agent.post("/machine?comp=health", provisioning, H3).status_code == 200
    assert agent.post("/machine?comp=health", health_xml("Ready"), H3).status_code == 200
    first, second = fabric.records("health")
    assert first.seq < second.seq
    assert first.timestamp <= second.timestamp
    assert first["state"] == "NotReady"
    assert first["substatus"] == "Provisioning"
    assert first["description"] == "Starting & creating the user"
    assert first["incarnation"] == "1"
    assert first["container_id"] == "c6d5526c-5ac2-4200-b6e2-56f2b70c5ab2"
    assert first["role_instance_id"] == "vm._imagecheck"
    assert second["state"] == "Ready" and second["substatus"] is None
    assert "<Health" in second["raw"]


def test_a_health_report_that_is_not_xml_is_refused_and_not_recorded(
    agent: Agentish, fabric: Fabric
) -> None:
    assert agent.post("/machine?comp=health", b"<Health><State>Ready", H3).status_code == 400
    assert agent.post("/machine?comp=health", health_xml("Maybe"), H3).status_code == 400
    assert fabric.records("health") == []


def test_health_reports_need_x_ms_version(agent: Agentish, fabric: Fabric) -> None:
    response = agent.post("/machine?comp=health", health_xml("Ready"), {"Content-Type": "text/xml"})
    assert response.status_code == 400
    assert fabric.records() == []


def test_telemetry_events_are_recorded_per_provider_with_typed_parameters(
    agent: Agentish, fabric: Fabric
) -> None:
    body = (
        b'<?xml version="1.0"?><TelemetryData version="1.0">'
        b'<Provider id="69B669B9-4AF8-4C50-BDC4-6006FA76E975"><Event id="1"><![CDATA['
        b'<Param Name="Name" Value="WALinuxAgent" T="mt:wstr" />'
        b'<Param Name="Duration" Value="12" T="mt:uint64" />'
        b'<Param Name="OperationSuccess" Value="True" T="mt:bool" />'
        b'<Param Name="Value" Value="1.5" T="mt:float64" />'
        b']]></Event><Event id="4"><![CDATA[<Param Name="Counter" Value="x &amp; y" T="mt:wstr" />]]></Event>'
        b"</Provider></TelemetryData>"
    )
    assert agent.post("/machine?comp=telemetrydata", body, H3).status_code == 200
    (record,) = fabric.records("telemetry")
    assert record["provider_id"] == "69B669B9-4AF8-4C50-BDC4-6006FA76E975"
    first, second = record["events"]
    assert first == {
        "event_id": "1",
        "params": {"Name": "WALinuxAgent", "Duration": 12, "OperationSuccess": True, "Value": 1.5},
    }
    assert second["params"] == {"Counter": "x & y"}


def test_role_properties_are_accepted_with_202(agent: Agentish, fabric: Fabric) -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><RoleProperties><Container><ContainerId>cid</ContainerId>'
        b"<RoleInstances><RoleInstance><Id>vm._imagecheck</Id><Properties>"
        b'<Property name="CertificateThumbprint" value="ABCDEF" /></Properties>'
        b"</RoleInstance></RoleInstances></Container></RoleProperties>"
    )
    assert agent.post("/machine?comp=roleProperties", body, H3).status_code == 202
    (record,) = fabric.records("role-properties")
    assert record.fields == {
        "container_id": "cid",
        "role_instance_id": "vm._imagecheck",
        "properties": {"CertificateThumbprint": "ABCDEF"},
    }


def test_provisioning_health_json_is_recorded_as_sent(agent: Agentish, fabric: Fabric) -> None:
    report = {
        "state": "NotReady",
        "details": {"subStatus": "ProvisioningFailed", "description": "no user"},
    }
    response = agent.post(
        "/provisioning/health", json.dumps(report).encode(), {"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert fabric.records("provisioning-health")[0].fields == report
    assert agent.post("/provisioning/health", b"{", {}).status_code == 400


def test_records_of_every_kind_come_back_in_one_ordered_list(
    agent: Agentish, fabric: Fabric
) -> None:
    agent.post("/machine?comp=health", health_xml("Ready"), H3)
    agent.post("/provisioning/health", b'{"state": "Ready"}', {})
    kinds = [record.kind for record in fabric.records()]
    assert kinds == ["health", "provisioning-health"]
    assert [r.seq for r in fabric.records()] == sorted(r.seq for r in fabric.records())
