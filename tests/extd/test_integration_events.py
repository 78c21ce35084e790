"""Extension events while extd runs (no systemd here: the periodic collection, which is also
what `waagent -daemon` relies on): a file that appears is at the fabric within
min(Debug.EtpCollectionPeriod, 60) seconds, not only when extd exits. The path units that start
extd when it is not running are booted in tests/system/test_extension_events.py."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.harness.wait import wait_for
from waagent.fabric.scenario import Scenario

from .system import PROBE, System, heartbeat_probe
from .test_telemetry import EVENT

pytestmark = pytest.mark.integration

PERIOD = 2


@pytest.fixture
def scenario(scenario: Scenario, tmp_path: Path) -> Scenario:
    """The probe reports a heartbeat, which keeps extd running (it watches it)."""
    return scenario.model_copy(update={"extensions": [heartbeat_probe(tmp_path)]})


@pytest.fixture
def env_config(env_config: dict[str, str]) -> dict[str, str]:
    return {**env_config, "Debug.EtpCollectionPeriod": str(PERIOD)}


def generic_events(system: System) -> list[dict[str, Any]]:
    events = [e for r in system.fabric.records("telemetry") for e in r["events"]]
    return [e["params"] for e in events if e["params"].get("EventName") == f"{PROBE}-1.0.0"]


def test_an_event_written_while_extd_runs_is_collected_within_the_period(
    system: System,
) -> None:
    system.start()
    system.wait_entry(PROBE, lambda i: i["status"] == "ready")
    pid = system.extd_pid()
    events = system.log_dir(PROBE) / "events"
    (events / "1.json.tmp").write_text(json.dumps({**EVENT, "Message": "while extd runs"}))
    (events / "1.json.tmp").rename(events / "1.json")
    written = time.monotonic()
    (event,) = wait_for(lambda: generic_events(system), timeout=20, what="the event at the fabric")
    print(f"\nFIGURE event file -> fabric while extd runs: {time.monotonic() - written:.2f} s")
    assert event["Context1"] == "while extd runs"
    assert system.extd_pid() == pid  # the same extd: it did not have to exit first
    assert list(events.iterdir()) == []
