"""The handler lifecycle end to end: the fabric simulator, the real bus, wire and extd."""

from __future__ import annotations

import json

import pytest

from waagent.fabric.scenario import Scenario

from .system import PROBE, System, detail, probe_extension

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


def test_an_extension_is_installed_enabled_and_its_success_reaches_the_fabric(
    system: System,
) -> None:
    system.start()
    item = system.wait_extension_status(PROBE, "success", seq=3)
    assert item["handlerVersion"] == "1.0.0"
    assert item["status"] == "Ready"
    reported = json.loads(detail(item)["formattedMessage"]["message"])
    assert reported == {"public": {"greeting": "hello"}, "protected": {"secret": "s3cr3t-value"}}
    operations = [(o["operation"], o["seq"]) for o in system.operations(PROBE)]
    assert operations == [("install", "3"), ("enable", "3")]
    goal_state = system.wait_goal_state("Success")
    assert goal_state["code"] == 0
    assert goal_state["inSvdSeqNo"] == "1"
