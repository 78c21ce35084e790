"""The handler lifecycle end to end: the fabric simulator, the real bus, wire and extd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness.wait import wait_for
from waagent.fabric.scenario import Scenario

from .system import PROBE, System, detail, handler_copy, probe_extension

pytestmark = pytest.mark.integration


@pytest.fixture
def scenario(scenario: Scenario) -> Scenario:
    probe = probe_extension(
        seq_no=3,
        public_settings={"greeting": "hello"},
        protected_settings={"secret": "s3cr3t-value"},
        certificate="tenant",
    )
    return scenario.model_copy(update={"extensions": [probe]})


def ops(system: System, handler: str = PROBE) -> list[tuple[str, str, str]]:
    return [(o["operation"], o["seq"], o["version"]) for o in system.operations(handler)]


def test_an_extension_is_installed_enabled_and_its_success_reaches_the_fabric(
    system: System,
) -> None:
    system.start()
    item = system.wait_extension_status(PROBE, "success", seq=3)
    assert item["handlerVersion"] == "1.0.0"
    assert item["status"] == "Ready"
    reported = json.loads(detail(item)["formattedMessage"]["message"])
    assert reported == {"public": {"greeting": "hello"}, "protected": {"secret": "s3cr3t-value"}}
    assert ops(system) == [("install", "3", "1.0.0"), ("enable", "3", "1.0.0")]
    goal_state = system.wait_goal_state("Success")
    assert goal_state["code"] == 0
    assert goal_state["inSvdSeqNo"] == "1"


def test_the_handler_environment_and_variables_follow_the_classic_contract(
    system: System,
) -> None:
    system.start()
    system.wait_extension_status(PROBE, "success", seq=3)
    directory = system.handler_dir(PROBE, "1.0.0")
    environment = json.loads((directory / "HandlerEnvironment.json").read_text())
    assert environment[0]["name"] == PROBE
    assert environment[0]["handlerEnvironment"] == {
        "logFolder": str(system.log_dir(PROBE)),
        "configFolder": str(directory / "config"),
        "statusFolder": str(directory / "status"),
        "heartbeatFile": str(directory / "heartbeat.log"),
        "eventsFolder": str(system.log_dir(PROBE) / "events"),
        "eventsFolder_preview": str(system.log_dir(PROBE) / "events"),
    }
    settings = json.loads((directory / "config" / "3.settings").read_text())
    handler_settings = settings["runtimeSettings"][0]["handlerSettings"]
    assert handler_settings["publicSettings"] == {"greeting": "hello"}
    assert "s3cr3t" not in handler_settings["protectedSettings"]  # it stays encrypted
    assert (directory / "config" / "HandlerState").read_text() == "Enabled"
    enable = system.operations(PROBE)[-1]["env"]
    assert enable["AZURE_GUEST_AGENT_EXTENSION_PATH"] == str(directory)
    assert enable["AZURE_GUEST_AGENT_EXTENSION_VERSION"] == "1.0.0"
    assert enable["AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS"] == system.fabric.address
    assert enable["ConfigSequenceNumber"] == "3"
    assert enable["AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE"] == "NOT_RUN"
    assert json.loads(enable["AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES"]) == [
        {"Key": "ExtensionTelemetryPipeline", "Value": "1.0"}
    ]
    log = (system.log_dir(PROBE) / "CommandExecution.log").read_text()
    assert "Enable: exit code 0" in log


def test_enable_runs_again_on_every_new_goal_state_and_the_current_seq_is_reported(
    system: System,
) -> None:
    system.start()
    system.wait_extension_status(PROBE, "success", seq=3)
    system.fabric.bump_incarnation()
    system.refresh()
    wait_for(lambda: len(system.operations(PROBE)) == 3, what="enable to run again")
    assert ops(system)[-1] == ("enable", "3", "1.0.0")
    # New settings without a status file yet: the old seq's success must not be reported.
    system.fabric.set_extension_settings(PROBE, public={"status": "none"}, seq_no=4)
    system.refresh()
    item = system.wait_extension_status(PROBE, "transitioning", seq=4)
    assert "no status file was reported" in detail(item)["formattedMessage"]["message"]


def test_an_update_runs_the_update_path_and_carries_mrseq(system: System, tmp_path: Path) -> None:
    system.start()
    system.wait_extension_status(PROBE, "success", seq=3)
    system.fabric.update_extension(PROBE, "1.1.0", handler_dir=str(handler_copy(tmp_path, "v11")))
    system.refresh()
    item = system.wait_entry(
        PROBE, lambda i: i["handlerVersion"] == "1.1.0" and i["status"] == "Ready"
    )
    assert detail(item)["status"] == "success"
    assert ops(system)[2:] == [
        ("disable", "3", "1.0.0"),
        ("update", "3", "1.1.0"),
        ("uninstall", "3", "1.0.0"),
        ("install", "3", "1.1.0"),
        ("enable", "3", "1.1.0"),
    ]
    update = system.operations(PROBE)[3]
    assert update["mrseq"] == "3"  # carried over from 1.0.0 before the update command ran
    assert update["env"]["VERSION"] == "1.1.0"
    assert update["env"]["AZURE_GUEST_AGENT_UPDATING_FROM_VERSION"] == "1.0.0"
    assert update["env"]["AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE"] == "0"
    assert system.operations(PROBE)[5]["env"]["AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE"] == "0"
    assert not system.handler_dir(PROBE, "1.0.0").exists()
    assert (system.handler_dir(PROBE, "1.1.0") / "config" / "HandlerState").read_text() == "Enabled"


def test_disable_then_uninstall_do_what_the_reference_says_and_the_directory_is_gone(
    system: System,
) -> None:
    system.start()
    system.wait_extension_status(PROBE, "success", seq=3)
    directory = system.handler_dir(PROBE, "1.0.0")
    system.fabric.set_extension_state(PROBE, "disabled")
    system.refresh()
    item = system.wait_entry(
        PROBE, lambda i: i.get("formattedMessage", {}).get("message") == "Plugin disabled"
    )
    assert item["status"] == "NotReady"
    assert ops(system)[-1] == ("disable", "3", "1.0.0")
    assert (directory / "config" / "HandlerState").read_text() == "Installed"
    system.fabric.set_extension_state(PROBE, "uninstall")
    system.refresh()
    wait_for(lambda: not directory.exists(), what="the handler directory to be removed")
    assert ops(system)[-1] == ("uninstall", "3", "1.0.0")
    wait_for(lambda: system.entry(PROBE) is None, what="the handler to leave the status")


def test_a_handler_removed_from_the_goal_state_loses_its_directory(system: System) -> None:
    system.start()
    system.wait_extension_status(PROBE, "success", seq=3)
    system.fabric.remove_extension(PROBE)
    system.refresh()
    wait_for(lambda: not system.handler_dir(PROBE, "1.0.0").exists(), what="the cleanup")
    wait_for(lambda: system.entry(PROBE) is None, what="the handler to leave the status")
