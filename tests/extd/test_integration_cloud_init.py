"""Extensions.WaitForCloudInit=y end to end: a fake `cloud-init` in the sandbox's PATH (one that
finishes after a while, one that hangs past the timeout, none), the probe extension's enable, and
what the fabric receives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.harness.wait import wait_for
from waagent.fabric.scenario import Scenario

from .system import PROBE, System, probe_extension

pytestmark = pytest.mark.integration

TIMEOUT = 3
FINISHES = "sleep 2"
HANGS = "sleep 600"


@pytest.fixture
def scenario(scenario: Scenario) -> Scenario:
    return scenario.model_copy(update={"extensions": [probe_extension(seq_no=1)]})


@pytest.fixture
def env_config(env_config: dict[str, str]) -> dict[str, str]:
    return {
        **env_config,
        "Extensions.WaitForCloudInit": "y",
        "Extensions.WaitForCloudInitTimeout": str(TIMEOUT),
    }


def fake_cloud_init(system: System, body: str) -> Path:
    """`/usr/bin/cloud-init` of the sandbox: notes when it starts and ends in a log."""
    log = system.env.sandbox.path("/var/log/fake-cloud-init.log")
    script = system.env.sandbox.path("/usr/bin/cloud-init")
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        "#!/bin/sh\n"
        f'echo "started $* $(date +%s.%N)" >> {log}\n'
        f"{body}\n"
        f'echo "finished $(date +%s.%N)" >> {log}\n'
        'echo "status: done"\n'
    )
    script.chmod(0o755)
    return log


def times(log: Path, word: str) -> list[float]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [float(line.split()[-1]) for line in lines if line.startswith(word)]


def enabled_at(system: System) -> list[float]:
    return [op["time"] for op in system.operations(PROBE) if op["operation"] == "enable"]


def cloud_init_events(system: System) -> list[dict[str, Any]]:
    events = [e for r in system.fabric.records("telemetry") for e in r["events"]]
    return [e["params"] for e in events if e["params"].get("Operation") == "CloudInit"]


def test_enable_runs_after_cloud_init_finished(system: System) -> None:
    log = fake_cloud_init(system, FINISHES)
    system.start()
    system.wait_extension_status(PROBE, "success", seq=1)
    (finished,) = times(log, "finished")
    assert "status --wait" in log.read_text()
    assert enabled_at(system) and min(enabled_at(system)) > finished
    events = wait_for(lambda: len(cloud_init_events(system)) >= 2 and cloud_init_events(system))
    assert [(e["OperationSuccess"], e["Message"]) for e in events] == [
        (True, "Waiting for cloud-init to complete..."),
        (True, "cloud-init completed\nstatus: done"),
    ]


def test_a_cloud_init_that_hangs_is_given_up_after_the_timeout(system: System) -> None:
    log = fake_cloud_init(system, HANGS)
    system.start()
    # While extd waits, the fabric sees the handler not ready yet, not failed.
    waiting = system.wait_entry(PROBE, lambda e: True)
    # The status is published just before cloud-init is started: wait for its start.
    wait_for(lambda: times(log, "started"), what="cloud-init started")
    assert not enabled_at(system)
    assert waiting["status"] == "NotReady" and waiting.get("code", 0) == 0
    assert "runtimeSettingsStatus" not in waiting and "formattedMessage" not in waiting
    assert system.goal_state_status() is None
    system.wait_extension_status(PROBE, "success", seq=1, timeout=TIMEOUT + 30)
    assert system.wait_goal_state("Success")["code"] == 0
    (started,) = times(log, "started")
    assert times(log, "finished") == []  # killed
    assert min(enabled_at(system)) >= started + TIMEOUT
    failed = wait_for(lambda: [e for e in cloud_init_events(system) if not e["OperationSuccess"]])
    assert failed[0]["Message"].startswith("An error occurred while waiting for cloud-init")
    assert f"within {TIMEOUT} s" in failed[0]["Message"]
    assert "An error occurred while waiting for cloud-init" in system.service_log()


def test_without_cloud_init_extensions_run_at_once(system: System) -> None:
    system.start()
    system.wait_extension_status(PROBE, "success", seq=1)
    assert "cloud-init is not installed" in system.service_log()
    assert cloud_init_events(system) == []


def test_it_waits_once_per_boot_not_at_every_goal_state(system: System) -> None:
    log = fake_cloud_init(system, FINISHES)
    system.start()
    system.wait_extension_status(PROBE, "success", seq=1)
    wait_for(lambda: not system.extd_running(), timeout=30, what="extd to exit when idle")
    system.fabric.set_extension_settings(PROBE, public={}, seq_no=2)
    system.refresh()
    system.wait_extension_status(PROBE, "success", seq=2)
    assert len(times(log, "started")) == 1
    assert len(enabled_at(system)) == 2
