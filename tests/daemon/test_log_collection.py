"""Periodic log collection without systemd: `waagent -daemon` runs `waagent -collect-logs` after
Debug.LogCollectorInitialDelay, then every Logs.CollectPeriod (reference §10.13)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.system import CliSystem, cli_system, installed_services
from tests.harness.wait import wait_for
from waagent.common.config import AgentConfig
from waagent.common.root import Root
from waagent.daemon.log_collection import PeriodicCollection, Schedule, collect_argv


def collection_events(system: CliSystem) -> list[dict[str, Any]]:
    return [
        event["params"]
        for record in system.fabric.records("telemetry")
        for event in record["events"]
        if event["params"].get("Operation") == "LogCollection"
    ]


@pytest.mark.integration
def test_the_daemon_uploads_a_bundle_after_the_initial_delay(tmp_path: Path) -> None:
    config = {"Debug.LogCollectorInitialDelay": "1", "Logs.CollectPeriod": "3600"}
    with cli_system(config) as system:
        (system.root / "var/log").mkdir(parents=True, exist_ok=True)
        (system.root / "var/log/syslog").write_text("kernel: booted\n")
        system.start_daemon()
        system.wait_up(installed_services())
        wait_for(
            lambda: system.fabric.records("log-upload"), timeout=60, what="a log bundle upload"
        )
        (record,) = system.fabric.records("log-upload")
        assert {"var/log/syslog", "results.txt"} <= set(record["files"])
        wait_for(lambda: collection_events(system), timeout=30, what="LogCollection telemetry")
        (event,) = collection_events(system)
        assert event["OperationSuccess"] is True
        assert f"({record['size']} bytes)" in event["Message"]
        wait_for(
            lambda: "log collection 1: the bundle was uploaded" in system.log_text(),
            timeout=30,
            what="the daemon's log line",
        )


@pytest.mark.integration
def test_logs_collect_n_schedules_nothing() -> None:
    config = {"Logs.Collect": "n", "Debug.LogCollectorInitialDelay": "0"}
    with cli_system(config) as system:
        system.start_daemon()
        system.wait_up(installed_services())
        # The services are up, so a zero delay would have started the collection by now:
        # the daemon logs its schedule before the services start.
        assert "collecting the logs" not in system.log_text()
        assert system.fabric.records("log-upload") == []


def test_the_schedule_comes_from_the_configuration() -> None:
    config = AgentConfig.model_validate(
        {"Logs.CollectPeriod": "7200", "Debug.LogCollectorInitialDelay": "60"}
    )
    assert Schedule.of(config) == Schedule(delay=60, period=7200)
    assert Schedule.of(AgentConfig()) == Schedule(delay=300, period=3600)  # the classic defaults
    assert Schedule.of(AgentConfig.model_validate({"Logs.Collect": "n"})) is None


def test_the_collector_runs_at_the_lowest_priority_on_the_daemons_root(tmp_path: Path) -> None:
    argv = collect_argv(Root(tmp_path), tmp_path / "etc/waagent.conf")
    assert argv[:3] == ["nice", "-n", "19"]
    assert argv[4:] == [
        "-m",
        "waagent.cli",
        "-collect-logs",
        f"-configuration-path:{tmp_path}/etc/waagent.conf",
        f"-root:{tmp_path}",
    ]


class Stop(Exception):
    pass


def script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "collect.sh"
    path.write_text(f"#!/bin/sh\n{body}\n")
    return ["/bin/sh", str(path)]


def test_runs_come_after_the_delay_then_after_each_period(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 4:
            raise Stop

    collection = PeriodicCollection(
        Schedule(delay=300, period=3600), script(tmp_path, f"echo run >> {runs}"), sleep=sleep
    )
    with pytest.raises(Stop):
        asyncio.run(collection.run())
    assert waits == [300, 3600, 3600, 3600]
    assert runs.read_text() == "run\n" * 3  # one run between each two waits


def test_a_failed_run_is_logged_and_the_next_period_runs_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    argv = script(tmp_path, "echo 'waagent: HostGAPlugin is not available' >&2; exit 1")
    collection = PeriodicCollection(Schedule(0, 0), argv)
    assert asyncio.run(collection.collect_once()) == 1
    assert "failed (1): waagent: HostGAPlugin is not available" in caplog.text
    assert asyncio.run(collection.collect_once()) == 1
    assert collection.runs == 2


def test_a_run_that_hangs_is_killed_at_its_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    argv = [
        sys.executable,
        "-c",
        f"import os,time; open({str(pid_file)!r},'w').write(str(os.getpid())); time.sleep(600)",
    ]
    collection = PeriodicCollection(Schedule(0, 0), argv, run_timeout=1)
    assert asyncio.run(collection.collect_once()) is None
    pid = int(pid_file.read_text())
    assert not Path(f"/proc/{pid}").exists()
