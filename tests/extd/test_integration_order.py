"""Processing order: dependencies by level and by name, and multi-config handlers."""

from __future__ import annotations

import pytest

from tests.harness.wait import wait_for
from waagent.fabric.scenario import MultiConfigExtension, Scenario

from .system import PROBE, System, detail, message, probe_extension

pytestmark = pytest.mark.integration

FIRST = "Waagent.Test.First"
SECOND = "Waagent.Test.Second"


class TestDependencies:
    @pytest.fixture
    def scenario(self, scenario: Scenario) -> Scenario:
        # SECOND is listed first, but it depends on FIRST, whose status comes late.
        second = probe_extension(SECOND, dependency_level=1, depends_on=[FIRST])
        first = probe_extension(FIRST, dependency_level=0, public_settings={"status_delay": 1.5})
        return scenario.model_copy(update={"extensions": [second, first]})

    def test_an_extension_starts_only_after_its_dependency_reported_success(
        self, system: System
    ) -> None:
        system.start()
        system.wait_extension_status(SECOND, "success", seq=0)
        written = next(o for o in system.operations(FIRST) if o.get("written"))
        enabled = next(o for o in system.operations(SECOND) if o["operation"] == "enable")
        installed = next(o for o in system.operations(SECOND) if o["operation"] == "install")
        assert installed["time"] > written["time"]
        assert enabled["time"] > written["time"]


class TestMultiConfig:
    @pytest.fixture
    def scenario(self, scenario: Scenario) -> Scenario:
        probe = probe_extension(
            multi_config=[
                MultiConfigExtension(name="first", seq_no=1, public_settings={"n": 1}),
                MultiConfigExtension(name="second", seq_no=2, public_settings={"n": 2}),
            ]
        )
        return scenario.model_copy(update={"extensions": [probe]})

    def test_a_multi_config_handler_runs_two_extensions_each_with_its_own_status(
        self, system: System
    ) -> None:
        system.start()
        first = system.wait_extension_status(PROBE, "success", seq=1, extension="first")
        second = system.wait_extension_status(PROBE, "success", seq=2, extension="second")
        assert '"n": 1' in detail(first)["formattedMessage"]["message"]
        assert '"n": 2' in detail(second)["formattedMessage"]["message"]
        directory = system.handler_dir(PROBE, "1.0.0")
        assert (directory / "status" / "first.1.status").exists()
        assert (directory / "config" / "second.2.settings").exists()
        assert (directory / "config" / "first.HandlerState").read_text() == "enabled"
        enables = [o for o in system.operations(PROBE) if o["operation"] == "enable"]
        assert [(o["extension"], o["seq"]) for o in enables] == [("first", "1"), ("second", "2")]
        installs = [o for o in system.operations(PROBE) if o["operation"] == "install"]
        assert len(installs) == 1
        logs = system.log_dir(PROBE)
        assert (logs / "CommandExecution_first.log").exists()

    def test_disabling_one_extension_removes_its_files_and_its_status(self, system: System) -> None:
        system.start()
        system.wait_extension_status(PROBE, "success", seq=2, extension="second")
        system.fabric.set_extension_state(PROBE, "disabled", extension_name="second")
        system.refresh()
        wait_for(
            lambda: system.entry(PROBE, "second") is None and system.entry(PROBE, "first"),
            what="the second extension to leave the status",
        )
        directory = system.handler_dir(PROBE, "1.0.0")
        assert not (directory / "status" / "second.2.status").exists()
        assert not (directory / "config" / "second.HandlerState").exists()
        assert (directory / "config" / "first.HandlerState").read_text() == "enabled"
        # Removals first, then enable runs again for the extension that stays.
        wait_for(
            lambda: (
                [(o["operation"], o["extension"]) for o in system.operations(PROBE)][2:]
                == [("enable", "second"), ("disable", "second"), ("enable", "first")]
            ),
            what="the disable of second, then the enable of first",
        )
        wait_for(lambda: message(system.entry(PROBE, "first") or {}) == "Plugin enabled")
