"""RSM version requests: reported in guestAgentStatus.updateStatus, never acted on (§10.1).

The uploaded status blob is read back from the mock fabric's HostGAPlugin PUT, as the host would.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from waagent.common.config import AgentConfig, parse_lines, validate_entries
from waagent.wire.agent_update import AgentUpdate, same_version

from .fabric_mock import HOSTPLUGIN, WIRESERVER, MockFabric, make_wire

OURS = "3.0.0.0"


def family_xml(name: str = "Prod", **fields: str) -> str:
    inner = "".join(f"<{tag}>{text}</{tag}>" for tag, text in fields.items())
    return f"<GAFamily><Name>{name}</Name>{inner}<Uris><Uri>http://s/m.xml</Uri></Uris></GAFamily>"


def extensions_xml(family: str) -> bytes:
    return (
        '<Extensions version="1.0.0.0" goalStateIncarnation="1"><GuestAgentExtension>'
        f"<GAFamilies>{family}</GAFamilies></GuestAgentExtension>"
        '<StatusUploadBlob statusBlobType="BlockBlob">https://acct.blob/status?sig=x'
        '</StatusUploadBlob><Plugins/><PluginSettings/><InVMGoalStateMetaData inSvdSeqNo="1"/>'
        "</Extensions>"
    ).encode()


RSM_OTHER = family_xml(
    Version="9.9.9.10", IsVersionFromRSM="True", IsVMEnabledForRSMUpgrades="True"
)
RSM_OURS = family_xml(Version=OURS, IsVersionFromRSM="true", IsVMEnabledForRSMUpgrades="true")
NOT_RSM = family_xml(Version="9.9.9.10")


def config(text: str = "") -> AgentConfig:
    return validate_entries(parse_lines(text, "waagent.conf"), "waagent.conf").config


def uploaded_guest_agent_status(
    tmp_path: Path, family: str, conf: AgentConfig | None = None
) -> dict[str, Any]:
    fabric = MockFabric()
    fabric.serve_incarnation(1)
    base = f"{WIRESERVER}/machine/c/r?comp=config&incarnation=1"
    fabric.serve("GET", f"{base}&type=extensionsConfig", extensions_xml(family))
    fabric.serve("GET", f"{HOSTPLUGIN}/versions", b'["2015-09-01"]')
    fabric.serve("PUT", f"{HOSTPLUGIN}/status", 200)
    wire = make_wire(tmp_path, fabric)
    if conf is not None:
        wire.agent_update = AgentUpdate(conf)
    asyncio.run(wire.refresh())
    assert asyncio.run(wire.report_status()) is True
    [(_, _, body)] = [r for r in fabric.requests if r[0] == "PUT"]
    blob = json.loads(base64.b64decode(json.loads(body)["content"]))
    assert {"Key": "VersioningGovernance", "Value": "1.0"} not in blob["supportedFeatures"]
    status: dict[str, Any] = blob["aggregateStatus"]["guestAgentStatus"]
    return status


def test_outside_rsm_there_is_no_update_status(tmp_path: Path) -> None:
    status = uploaded_guest_agent_status(tmp_path, NOT_RSM)
    assert status["status"] == "Ready"
    assert "updateStatus" not in status


def test_an_rsm_request_for_another_version_is_an_error_that_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="waagent.wire.agent_update"):
        status = uploaded_guest_agent_status(tmp_path, RSM_OTHER)
    assert status["status"] == "Ready"  # the agent runs: not a failed agent
    update = status["updateStatus"]
    assert update["expectedVersion"] == OURS
    assert (update["status"], update["code"]) == ("Error", 1)
    message = update["formattedMessage"]["message"]
    assert "9.9.9.10" in message and "distribution package" in message and "apt" in message
    (warning,) = [r for r in caplog.records if r.name == "waagent.wire.agent_update"]
    assert warning.levelname == "WARNING" and "9.9.9.10" in warning.getMessage()


def test_an_rsm_request_for_our_own_version_is_a_success(tmp_path: Path) -> None:
    update = uploaded_guest_agent_status(tmp_path, RSM_OURS)["updateStatus"]
    assert update == {
        "expectedVersion": OURS,
        "status": "Success",
        "code": 0,
        "formattedMessage": {"lang": "en-US", "message": ""},
    }


@pytest.mark.parametrize(
    "conf",
    [
        "AutoUpdate.Enabled=n\n",
        "AutoUpdate.UpdateToLatestVersion=n\n",
        "Debug.EnableGAVersioning=n\n",
        "AutoUpdate.GAFamily=Test\n",
    ],
)
def test_without_auto_update_versioning_or_the_family_rsm_is_not_reported(
    tmp_path: Path, conf: str
) -> None:
    status = uploaded_guest_agent_status(tmp_path, RSM_OTHER, config(conf))
    assert "updateStatus" not in status


def test_the_family_named_by_the_config_is_the_one_read(tmp_path: Path) -> None:
    families = NOT_RSM + family_xml(
        "Test", Version="9.9.9.11", IsVersionFromRSM="True", IsVMEnabledForRSMUpgrades="True"
    )
    status = uploaded_guest_agent_status(tmp_path, families, config("AutoUpdate.GAFamily=test\n"))
    assert "9.9.9.11" in status["updateStatus"]["formattedMessage"]["message"]


def test_an_rsm_goal_state_without_a_version_is_an_error(tmp_path: Path) -> None:
    family = family_xml(IsVMEnabledForRSMUpgrades="True")
    update = uploaded_guest_agent_status(tmp_path, family)["updateStatus"]
    assert update["status"] == "Error"
    assert "names no version" in update["formattedMessage"]["message"]


def test_the_warning_is_logged_once_per_goal_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fabric = MockFabric()
    fabric.serve_incarnation(1)
    base = f"{WIRESERVER}/machine/c/r?comp=config&incarnation=1"
    fabric.serve("GET", f"{base}&type=extensionsConfig", extensions_xml(RSM_OTHER))
    wire = make_wire(tmp_path, fabric)
    asyncio.run(wire.refresh())
    with caplog.at_level(logging.WARNING, logger="waagent.wire.agent_update"):
        for _ in range(3):
            wire.status.vm_status()
    assert len([r for r in caplog.records if r.name == "waagent.wire.agent_update"]) == 1
    assert wire.agent_update.mode(wire.goal_state.extensions) == "RSM"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [("3.0.0.0", "3.0", True), ("3.0.0.1", "3.0.0.0", False), ("x", "x", True), ("3", "x", False)],
)
def test_versions_compare_by_number(a: str, b: str, same: bool) -> None:
    assert same_version(a, b) is same
