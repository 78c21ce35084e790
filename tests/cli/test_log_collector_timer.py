"""The systemd generator of periodic log collection: the timer enabled and timed from waagent.conf.

The generator is run as systemd runs it (an output directory as its first argument) on a real
waagent.conf; the system test (tests/system/test_log_collector.py) checks the timer it makes
firing in a booted VM.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.harness.paths import REPO
from waagent.cli.log_collector_timer import DROP_IN, TIMER, WANTS, main
from waagent.common.config import AgentConfig

UNIT_DIR = Path("/usr/lib/systemd/system")


def generate(tmp_path: Path, conf: str) -> Path:
    config = tmp_path / "waagent.conf"
    config.write_text(conf)
    out = tmp_path / "generator.normal"
    assert main([str(out), str(tmp_path / "early"), str(tmp_path / "late")], config, UNIT_DIR) == 0
    return out


def timer_values(text: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in io.StringIO(text):
        if "=" in line and not line.startswith("#"):
            key, value = line.strip().split("=", 1)
            values.setdefault(key, []).append(value)
    return values


def test_the_timer_is_enabled_and_runs_after_the_delay_then_every_period(tmp_path: Path) -> None:
    out = generate(
        tmp_path, "Logs.Collect=y\nLogs.CollectPeriod=7200\nDebug.LogCollectorInitialDelay=60\n"
    )
    link = out / WANTS / TIMER
    assert link.is_symlink() and Path(link.readlink()) == UNIT_DIR / TIMER
    values = timer_values((out / f"{TIMER}.d" / DROP_IN).read_text())
    # One empty assignment, first: it clears all the unit's triggers (of every kind), so a
    # second one would drop the value set before it.
    assert values["OnActiveSec"] == ["", "60s"]
    assert values["OnUnitActiveSec"] == ["7200s"]


def test_logs_collect_n_enables_nothing(tmp_path: Path) -> None:
    out = generate(tmp_path, "Logs.Collect=n\n")
    assert not (out / WANTS).exists()
    assert not (out / f"{TIMER}.d").exists()


def test_a_bad_configuration_enables_nothing_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = generate(tmp_path, "Logs.CollectPeriod=hourly\n")
    assert not out.exists()
    assert "Logs.CollectPeriod=hourly" in capsys.readouterr().err


def test_the_timer_unit_holds_the_classic_defaults_for_a_host_without_the_generator() -> None:
    values = timer_values((REPO / "systemd/units" / TIMER).read_text())
    defaults = AgentConfig()
    assert values["OnActiveSec"] == [str(defaults.debug_log_collector_initial_delay)]
    assert values["OnUnitActiveSec"] == [str(defaults.logs_collect_period)]
