"""The hand-over: extd gets a goal state with everything it needs in wire's one call, and makes at
most one call to wire per goal state before it starts work (counted on the bus)."""

from __future__ import annotations

import json

import pytest

from tests.harness.bus_monitor import BusMonitor
from tests.harness.wait import wait_for
from waagent.common.names import EXTENSIONS, WIRE
from waagent.extd.state import FILE_NAME
from waagent.fabric.scenario import Scenario

from .system import PROBE, System, probe_extension

pytestmark = pytest.mark.integration

TO_WIRE = f"type='method_call',destination='{WIRE.name}'"
# What extd sends wire while it works; anything else is a question asked before the work.
WORK = ("Download", "UploadStatus", "SendEvents")


@pytest.fixture
def scenario(scenario: Scenario) -> Scenario:
    return scenario.model_copy(update={"extensions": [probe_extension(seq_no=1)]})


def asked_before_work(calls: list[str]) -> list[str]:
    first_work = next((n for n, member in enumerate(calls) if member in WORK), len(calls))
    return calls[:first_work]


def next_extd_after(system: System, field: str, what: str) -> tuple[str, list[str]]:
    """Set `field` of extd's state to false while no extd runs, as an extd killed at that moment
    leaves it; wake the next extd with a status read and wait for it to make `field` true again.
    Returns that extd's bus name and its calls to wire."""
    state_file = system.lib_dir / FILE_NAME
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**state, field: False}))
    with BusMonitor(system.env.bus, TO_WIRE) as monitor:
        reply = system.env.busctl.call(
            EXTENSIONS.name, EXTENSIONS.path, EXTENSIONS.interface, "GetStatus"
        )
        assert reply.ok, reply.error
        wait_for(lambda: json.loads(state_file.read_text())[field], timeout=30, what=what)
        extd = monitor.owner_of(EXTENSIONS.name)
        return extd, monitor.calls_from(extd, WIRE.name)


def test_a_goal_state_handed_over_needs_no_call_back_to_wire(system: System) -> None:
    with BusMonitor(system.env.bus, TO_WIRE) as monitor:
        system.start()
        system.wait_extension_status(PROBE, "success", seq=1)
        extd = monitor.owner_of(EXTENSIONS.name)
        calls = monitor.calls_from(extd, WIRE.name)
    assert extd
    assert calls[0] == "Download"  # the handler manifest: the work itself
    assert asked_before_work(calls) == []
    assert not {"GetExtensionsGoalState", "GetGoalState", "GetCertificates"} & set(calls)
    # What extd wrote from the hand-over alone: the classic Lib.Dir files.
    assert (system.lib_dir / "SharedConfig.xml").exists()
    assert list(system.lib_dir.glob("*.prv"))


def test_an_extd_that_resumes_on_its_own_asks_wire_once(system: System) -> None:
    system.start()
    system.wait_extension_status(PROBE, "success", seq=1)
    wait_for(lambda: not system.extd_running(), timeout=15, what="extd to exit when idle")
    # As if extd had died between taking the goal state and finishing it.
    extd, calls = next_extd_after(system, "completed", "extd to finish the goal state it resumed")
    assert extd
    assert asked_before_work(calls) == ["GetHandover"]
    assert calls.count("GetHandover") == 1


def test_a_status_lost_to_a_kill_after_the_goal_state_ended_is_sent_by_the_next_extd(
    system: System,
) -> None:
    system.start()
    system.wait_extension_status(PROBE, "success", seq=1)
    state_file = system.lib_dir / FILE_NAME
    wait_for(
        lambda: json.loads(state_file.read_text())["reported"],
        timeout=15,
        what="wire to take the status of the completed goal state",
    )
    wait_for(lambda: not system.extd_running(), timeout=15, what="extd to exit when idle")
    # As if extd had been killed after it recorded the end of the goal state, before wire got
    # its status (seen once in the booted VM's kill test: the fabric kept "transitioning").
    _, calls = next_extd_after(system, "reported", "the next extd to hand the status to wire")
    assert "UploadStatus" in calls
    assert "GetHandover" not in calls  # nothing is processed again
    assert "did not reach wire: sending it" in system.service_log()
