"""The fabric simulator: a local Azure, and what it records.

A tiny client stands in for the agent here (versions, goal state, a health report, a status
upload through HostGAPlugin); the lead replaces it with the real agent once wire exists.
"""

from __future__ import annotations

import base64
import json

import defusedxml.ElementTree as SafeET
import httpx

from tests.harness.environment import Environment
from tests.harness.fabric import LEASE_PATH, fabric_for
from waagent.fabric.server import Fabric

from .common import heading, show

H1 = {"x-ms-agent-name": "WALinuxAgent", "x-ms-version": "2012-11-30"}
HEALTH = (
    '<?xml version="1.0" encoding="utf-8"?><Health><GoalStateIncarnation>{incarnation}'
    "</GoalStateIncarnation><Container><ContainerId>{container}</ContainerId><RoleInstanceList>"
    "<Role><InstanceId>{instance}</InstanceId><Health><State>Ready</State></Health></Role>"
    "</RoleInstanceList></Container></Health>"
)


def _tiny_client(fabric: Fabric) -> None:
    wire = f"http://{fabric.address}:{fabric.wire_port}"
    hgap = f"http://{fabric.address}:{fabric.hgap_port}"
    with httpx.Client(timeout=10, trust_env=False) as http:
        versions = SafeET.fromstring(http.get(f"{wire}/?comp=versions").content)
        show("GET /?comp=versions: preferred", versions.findtext("Preferred/Version"))
        goal_state = SafeET.fromstring(
            http.get(f"{wire}/machine/?comp=goalstate", headers=H1).content
        )
        incarnation = goal_state.findtext("Incarnation")
        container = goal_state.findtext("Container/ContainerId")
        instance = goal_state.findtext("Container/RoleInstanceList/RoleInstance/InstanceId")
        config = goal_state.find("Container/RoleInstanceList/RoleInstance/Configuration")
        show("GET goal state: incarnation", incarnation)
        show("GET goal state: container", container)
        assert config is not None
        extensions = SafeET.fromstring(
            http.get(config.findtext("ExtensionsConfig") or "", headers=H1).content
        )
        blob = extensions.find("StatusUploadBlob")
        assert blob is not None
        show(
            "ExtensionsConfig: handlers",
            [p.get("name") for p in extensions.findall("Plugins/Plugin")],
        )

        report = HEALTH.format(incarnation=incarnation, container=container, instance=instance)
        answer = http.post(f"{wire}/machine?comp=health", content=report.encode(), headers=H1)
        show("POST health Ready", answer.status_code)

        status = json.dumps(
            {"version": "1.1", "aggregateStatus": {"guestAgentStatus": {"status": "Ready"}}}
        )
        envelope = {
            "content": base64.b64encode(status.encode()).decode(),
            "headers": [{"headerName": "x-ms-blob-type", "headerValue": "BlockBlob"}],
            "requestUri": (blob.text or "").strip(),
        }
        headers = {
            "x-ms-version": "2015-09-01",
            "x-ms-containerid": container or "",
            "x-ms-host-config-name": config.findtext("ConfigName") or "",
        }
        answer = http.put(f"{hgap}/status", json=envelope, headers=headers)
        show("PUT HostGAPlugin /status (BlockBlob)", answer.status_code)


def run(env: Environment) -> None:
    heading("The fabric simulator: WireServer, HostGAPlugin, storage, IMDS on a loopback address")
    with fabric_for(env.sandbox.root) as fabric:
        show("WireServer", f"http://{fabric.address}:{fabric.wire_port}")
        show("HostGAPlugin", f"http://{fabric.address}:{fabric.hgap_port}")
        show("DHCP lease (option 245) in the sandbox", f"/{LEASE_PATH}")

        heading("A tiny client in the agent's place")
        _tiny_client(fabric)

        heading("What the fabric recorded")
        for record in fabric.records():
            if record.kind == "health":
                show(
                    f"#{record.seq} health",
                    f"{record['state']} (incarnation {record['incarnation']})",
                )
            elif record.kind == "status":
                document = record["document"] or {}
                agent = document.get("aggregateStatus", {}).get("guestAgentStatus", {})
                show(
                    f"#{record.seq} status via {record['channel']}",
                    f"{record['blob_type']}, agent {agent.get('status')}",
                )
            else:
                show(f"#{record.seq} {record.kind}", record.fields.get("name", ""))
        heading("Every request it served")
        for request in fabric.requests():
            where = f"{request.listener:<13} {request.method:<4} {request.status}"
            print(f"  #{request.seq:<3} {where} {request.path[:70]}")
