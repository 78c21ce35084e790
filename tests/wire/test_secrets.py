"""SAS tokens and settings stay with root: the extensions goal state other users get, the
goal-state history, the log and LastError carry none (a SAS in public settings included)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.callers import UNPRIVILEGED
from tests.harness.wait import wait_for
from tests.wire.system import WireSystem, wire_system
from waagent.fabric.scenario import Scenario
from waagent.fabric.urls import SAS_QUERY

pytestmark = pytest.mark.integration

# What a customer's CustomScript-style settings look like: SAS URLs in public settings.
SIGNATURE = "cHVibGljLXNldHRpbmdzLXNpZ25hdHVyZQ%3D%3D"
SAS_URL = f"https://acct.blob.core.windows.net/scripts/run.sh?sv=2021-08-06&se=2030&sig={SIGNATURE}"
FABRIC_SIGNATURE = SAS_QUERY.split("sig=")[1].split("&")[0]  # of every storage URL it serves


@pytest.fixture
def wire() -> Iterator[WireSystem]:
    default = Scenario.default()
    [hello] = default.extensions
    hello = hello.model_copy(
        update={
            "public_settings": {
                "fileUris": [SAS_URL],
                "commandToExecute": f"curl -fo run.sh '{SAS_URL}' && sh run.sh",
            }
        }
    )
    scenario = default.model_copy(update={"extensions": [hello]})
    # Verbose: httpx logs every request URL, so the log sees the storage SAS URLs.
    with wire_system(scenario, extra={"Logs.Verbose": "y"}) as system:
        yield system


def identities(goal_state: dict[str, Any]) -> list[Any]:
    plugins = [(p["name"], p["version"], p["state"]) for p in goal_state["plugins"]]
    seq_nos = [
        [s["seq_no"] for s in ps["runtime_settings"] + ps["extension_runtime_settings"]]
        for ps in goal_state["plugin_settings"]
    ]
    return [plugins, seq_nos]


def test_other_users_get_no_settings_and_no_urls(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    full = wire.call("GetExtensionsGoalState").data[0]
    public = wire.call("GetExtensionsGoalState", user=UNPRIVILEGED).data[0]
    assert SIGNATURE in full and FABRIC_SIGNATURE in full  # root gets everything
    for secret in (SIGNATURE, FABRIC_SIGNATURE, "publicSettings", "fileUris", "commandToExecute"):
        assert secret not in public, secret
    assert "http" not in public  # no URL of any kind
    assert identities(json.loads(public)) == identities(json.loads(full))


def test_the_history_the_log_and_last_error_carry_no_sas_signature(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    # extd downloads the manifest and package through wire: storage URLs with the fabric's SAS.
    wait_for(
        lambda: "?<redacted>" in wire.log(), timeout=60, what="a redacted storage URL in the log"
    )
    history = [p for p in wire.state_file("history").rglob("*") if p.is_file()]
    assert any(p.name == "ExtensionsConfig.xml" for p in history)
    for path in history:
        text = path.read_text()
        assert SIGNATURE not in text and FABRIC_SIGNATURE not in text, path
    log = wire.log()
    assert SIGNATURE not in log and FABRIC_SIGNATURE not in log
    assert SIGNATURE not in wire.prop("LastError")
