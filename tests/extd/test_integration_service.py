"""extd as a service: its objects, who may call what, idle exit, restarts, Extensions.Enabled."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.harness.callers import UNPRIVILEGED
from tests.harness.procs import alive
from tests.harness.wait import WaitTimeout, wait_for
from waagent.common.names import EXTENSIONS
from waagent.extd.bus import object_path
from waagent.fabric.scenario import Scenario

from .system import (
    PROBE,
    System,
    detail,
    heartbeat_probe,
    message,
    probe_extension,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def scenario(scenario: Scenario) -> Scenario:
    return scenario.model_copy(update={"extensions": [probe_extension(seq_no=1)]})


def managed_objects(system: System) -> dict[str, Any]:
    reply = system.env.busctl.call(
        EXTENSIONS.name, EXTENSIONS.path, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"
    )
    assert reply.ok, reply.error
    return dict(reply.data[0])


def test_each_handler_is_an_object_with_its_state_under_the_object_manager(
    system: System,
) -> None:
    system.start()
    system.wait_extension_status(PROBE, "success", seq=1)
    objects = managed_objects(system)
    properties = objects[object_path(PROBE)]["org.waagent.Extensions1.Extension"]
    values = {name: value["data"] for name, value in properties.items()}
    assert values == {
        "Name": PROBE,
        "Handler": PROBE,
        "Version": "1.0.0",
        "State": "Enabled",
        "Status": "success",
        "Code": 0,
        "SequenceNumber": 1,
        "LastOperation": "Enable",
    }
    message = system.call_extension(PROBE, "GetMessage")
    assert message.ok, message.error
    assert json.loads(message.data[0]) == {"protected": None, "public": {}}


def test_extension_messages_and_substatus_text_are_for_root_only(system: System) -> None:
    """The probe puts its decrypted protected settings in its message, as a careless
    run-command extension puts command output there: no local user may read them."""
    system.start()
    system.wait_extension_status(PROBE, "success", seq=1)

    def get_status(user: str | None) -> str:
        reply = system.env.busctl.call(
            EXTENSIONS.name, EXTENSIONS.path, EXTENSIONS.interface, "GetStatus", user=user
        )
        assert reply.ok, reply.error
        return str(reply.data[0])

    as_root = get_status(None)
    assert "protected" in as_root  # the probe's message is there for root
    unprivileged = get_status(UNPRIVILEGED)
    handler = json.loads(unprivileged)["handlerAggregateStatus"][0]
    status = handler["runtimeSettingsStatus"]["settingsStatus"]["status"]
    assert (handler["handlerName"], handler["handlerVersion"], status["status"]) == (
        PROBE,
        "1.0.0",
        "success",
    )
    assert status["formattedMessage"].get("message") is None
    assert "protected" not in unprivileged
    refused = system.call_extension(PROBE, "GetMessage", user=UNPRIVILEGED)
    assert not refused.ok and "org.waagent.manage-extensions" in refused.error
    objects = system.env.busctl.call(
        EXTENSIONS.name,
        EXTENSIONS.path,
        "org.freedesktop.DBus.ObjectManager",
        "GetManagedObjects",
        user=UNPRIVILEGED,
    )
    assert objects.ok, objects.error
    assert "protected" not in json.dumps(objects.data)


def test_an_unprivileged_disable_is_refused_by_polkit_and_root_may_disable(
    system: System,
) -> None:
    system.start()
    system.wait_extension_status(PROBE, "success", seq=1)
    refused = system.call_extension(PROBE, "Disable", user=UNPRIVILEGED)
    assert not refused.ok
    assert "org.waagent.manage-extensions" in refused.error
    assert [o["operation"] for o in system.operations(PROBE)] == ["install", "enable"]
    allowed = system.call_extension(PROBE, "Disable")
    assert allowed.ok, allowed.error
    assert system.operations(PROBE)[-1]["operation"] == "disable"
    assert system.extension_property(PROBE, "State") == "Installed"
    assert system.extension_property(PROBE, "LastOperation") == "Disable"
    assert system.call_extension(PROBE, "Enable").ok
    assert system.extension_property(PROBE, "State") == "Enabled"


def test_only_wire_and_root_may_ask_for_goal_state_processing(system: System) -> None:
    reply = system.env.busctl.call(
        EXTENSIONS.name,
        EXTENSIONS.path,
        EXTENSIONS.interface,
        "ProcessGoalState",
        user=UNPRIVILEGED,
    )
    assert not reply.ok
    assert "Access denied" in reply.error  # the bus policy refuses it before extd sees it


def test_root_may_uninstall_a_handler_by_hand(system: System) -> None:
    system.start()
    system.wait_extension_status(PROBE, "success", seq=1)
    assert system.call_extension(PROBE, "Uninstall").ok
    assert not system.handler_dir(PROBE, "1.0.0").exists()
    assert system.operations(PROBE)[-2:][0]["operation"] == "disable"
    assert system.operations(PROBE)[-1]["operation"] == "uninstall"
    assert object_path(PROBE) not in managed_objects(system)


def test_extd_exits_when_idle_once_every_extension_is_terminal(system: System) -> None:
    system.start()
    system.wait_extension_status(PROBE, "success", seq=1)
    wait_for(lambda: not system.extd_running(), timeout=15, what="extd to exit when idle")


def test_a_new_incarnation_starts_extd_while_wire_still_fetches_its_documents(
    system: System,
) -> None:
    """extd's start (interpreter, imports, bus) overlaps wire's fetch of a new incarnation's
    documents instead of following it: here the certificates take 5 s to come."""
    system.start()
    system.wait_extension_status(PROBE, "success", seq=1)
    wait_for(lambda: not system.extd_running(), timeout=15, what="extd to exit when idle")
    certificates = sum(1 for r in system.fabric.requests() if r.endpoint == "certificates")
    system.fabric.program_faults("certificates", [{"delay": 5}])
    system.fabric.set_extension_settings(PROBE, public={"n": 2})
    refresh = threading.Thread(target=system.refresh)
    refresh.start()
    try:
        wait_for(system.extd_running, timeout=30, what="extd started")
        answered = sum(1 for r in system.fabric.requests() if r.endpoint == "certificates")
        assert answered == certificates, "extd started only after the certificates came"
    finally:
        refresh.join()
    system.wait_extension_status(PROBE, "success", seq=2)


class TestTransitioning:
    @pytest.fixture
    def scenario(self, scenario: Scenario) -> Scenario:
        probe = probe_extension(seq_no=1, public_settings={"status": "transitioning"})
        return scenario.model_copy(update={"extensions": [probe]})

    def test_extd_stays_while_an_extension_is_transitioning(self, system: System) -> None:
        system.start()
        system.wait_extension_status(PROBE, "transitioning", seq=1)
        with pytest.raises(WaitTimeout):
            wait_for(lambda: not system.extd_running(), timeout=6, what="extd to leave")
        # The extension finishes: its status is picked up and reported without a new goal state.
        status_file = system.handler_dir(PROBE, "1.0.0") / "status" / "1.status"
        document = json.loads(status_file.read_text())
        document[0]["status"]["status"] = "success"
        status_file.write_text(json.dumps(document))
        system.wait_extension_status(PROBE, "success", seq=1)
        wait_for(lambda: not system.extd_running(), timeout=15, what="extd to exit when idle")


class TestRestart:
    @pytest.fixture
    def scenario(self, scenario: Scenario) -> Scenario:
        probe = probe_extension(seq_no=1, public_settings={"sleep_once": {"enable": 60}})
        return scenario.model_copy(update={"extensions": [probe]})

    def test_a_restart_in_the_middle_of_an_enable_resumes_and_finishes(
        self, system: System
    ) -> None:
        system.start()
        started = wait_for(
            lambda: next((o for o in system.operations(PROBE) if o["operation"] == "enable"), None),
            what="the enable to start",
        )
        os.kill(system.extd_pid(), signal.SIGKILL)
        wait_for(lambda: not system.extd_running(), what="extd to be gone")
        # Any call activates extd again; it finds the goal state unfinished and resumes it.
        assert managed_objects(system) is not None
        system.wait_extension_status(PROBE, "success", seq=1)
        assert not alive(started["pid"]), "the interrupted enable was left running"
        enables = [o for o in system.operations(PROBE) if o["operation"] == "enable"]
        assert len(enables) == 2
        assert [o["operation"] for o in system.operations(PROBE)].count("install") == 1


class TestStoppedByItsExtension:
    @pytest.fixture
    def scenario(self, scenario: Scenario) -> Scenario:
        probe = probe_extension(seq_no=1, public_settings={"stop_agent_once": ["enable"]})
        return scenario.model_copy(update={"extensions": [probe]})

    def test_an_enable_that_stops_extd_ends_cleanly_and_the_next_extd_finishes_the_goal_state(
        self, system: System
    ) -> None:
        """An enable that restarts the agent and ends at once: its end races extd's exit. The
        exit is orderly (no step announces its result on the closed bus), and the next extd
        finishes the goal state."""
        system.start()
        stopper = wait_for(
            lambda: next((o for o in system.operations(PROBE) if "stopped_agent" in o), None),
            what="the enable to stop extd",
        )
        assert stopper["stopped_agent"] is not None
        wait_for(lambda: not alive(stopper["stopped_agent"]), what="the stopped extd to exit")
        log = system.service_log()
        assert "stopping: releasing org.waagent.Extensions1" in log
        assert "Traceback" not in log and "failed unexpectedly" not in log, log
        assert managed_objects(system) is not None  # activates extd again; it resumes
        system.wait_extension_status(PROBE, "success", seq=1)
        assert "Traceback" not in system.service_log()


class TestExtensionsDisabled:
    @pytest.fixture
    def env_config(self, env_config: dict[str, str]) -> dict[str, str]:
        return {**env_config, "Extensions.Enabled": "n"}

    def test_nothing_runs_and_the_status_says_extension_processing_is_disabled(
        self, system: System
    ) -> None:
        system.start()
        item = system.wait_extension_status(PROBE, "error", seq=1)
        assert item["status"] == "NotReady"
        assert item["code"] == 1009
        assert "will not be processed since extension processing is disabled" in message(item)
        assert "Extensions.Enabled=y" in detail(item)["formattedMessage"]["message"]
        assert detail(item)["code"] == 1009
        assert system.operations(PROBE) == []
        assert not system.handler_dir(PROBE, "1.0.0").exists()


class TestOnHold:
    @pytest.fixture
    def scenario(self, scenario: Scenario) -> Scenario:
        return scenario.model_copy(update={"on_hold": True})

    def test_a_goal_state_on_hold_runs_nothing(self, system: System) -> None:
        system.start()
        wait_for(
            lambda: "Extension handling is on hold" in system.service_log(),
            what="extd to see the goal state on hold",
        )
        assert system.operations(PROBE) == []
        assert system.goal_state_status() is None


class TestHeartbeat:
    @pytest.fixture
    def scenario(self, scenario: Scenario, tmp_path: Path) -> Scenario:
        return scenario.model_copy(update={"extensions": [heartbeat_probe(tmp_path)]})

    def test_a_heartbeat_handler_reports_its_heartbeat_and_keeps_extd_watching(
        self, system: System
    ) -> None:
        system.start()
        item = system.wait_entry(PROBE, lambda i: i["status"] == "ready")
        assert message(item) == "beating"
        assert detail(item)["status"] == "success"
        with pytest.raises(WaitTimeout):
            wait_for(lambda: not system.extd_running(), timeout=6, what="extd to leave")
