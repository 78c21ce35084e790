"""Bad input and faults: wire stays up, says what is wrong, logs it once, recovers, loses nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.environment import Environment
from tests.harness.wait import wait_for
from tests.wire.system import WireSystem, capture_raw, config
from waagent.fabric.network import allocate_loopback
from waagent.fabric.scenario import Scenario
from waagent.fabric.server import fabric_thread

pytestmark = pytest.mark.integration


def test_a_sequence_of_500_503_429_then_200_is_ridden_out(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    wire.fabric.program_faults("goalstate", [500, 503, 429, "ok"])
    wire.fabric.bump_incarnation()
    wire.wait_prop("Incarnation", "2", timeout=60)
    assert wire.prop("State") == "Ready"


def test_a_410_mid_cycle_is_followed_by_a_fresh_goal_state(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    wire.fabric.program_faults("extensionsconfig", [410])
    wire.fabric.bump_incarnation()
    wire.wait_prop("Incarnation", "2", timeout=60)
    wire.wait_prop("State", "Ready")
    assert wire.json("GetExtensionsGoalState")["id"] == "incarnation_2"


def test_the_fabric_down_for_a_while_then_back(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    before = wire.json("GetGoalState")
    wire.fabric.go_down()
    wire.wait_prop("State", "FabricUnavailable", timeout=60)
    assert "goal state" in wire.prop("LastError")
    time.sleep(3)  # several poll periods while it is down
    # The last good goal state is still served, and the problem was logged once.
    assert wire.json("GetGoalState") == before
    log_lines = [
        line for line in wire.log().splitlines() if "WARNING" in line and "goal state" in line
    ]
    assert len(log_lines) == 1, log_lines
    wire.fabric.come_back()
    wire.wait_prop("State", "Ready", timeout=60)
    assert wire.prop("LastError") == ""
    assert "fabric reachable again" in wire.log()


def test_a_document_cut_short_is_retried(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    wire.fabric.program_faults("hostingenv", ["truncate", "drop"])
    wire.fabric.bump_incarnation()
    wire.wait_prop("Incarnation", "2", timeout=60)


@pytest.fixture
def raw(tmp_path: Path) -> Iterator[tuple[WireSystem, Path]]:
    """A raw-mode fabric whose documents the test rewrites while wire polls."""
    address = allocate_loopback()
    directory = tmp_path / "raw"
    capture_raw(directory, address)
    with (
        fabric_thread(Scenario.raw(directory), address=address) as fabric,
        Environment(endpoint=address, config=config()) as env,
    ):
        yield WireSystem(env, fabric), directory


def set_incarnation(directory: Path, incarnation: int) -> None:
    for name in ("GoalState.xml", "ExtensionsConfig.xml", "HostingEnvironmentConfig.xml"):
        path = directory / name
        text = path.read_text()
        for old in range(1, incarnation):
            text = text.replace(
                f"<Incarnation>{old}</Incarnation>", f"<Incarnation>{incarnation}</Incarnation>"
            )
            text = text.replace(f"incarnation={old}", f"incarnation={incarnation}")
        path.write_text(text)


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    "<GoalState><Incarnation>&c;</Incarnation></GoalState>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE g [<!ENTITY x SYSTEM "file:///etc/shadow">]>'
    "<GoalState><Incarnation>&x;</Incarnation></GoalState>"
)


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("<GoalState><Incarnation>2</GoalState", "not well-formed"),
        (BOMB, "refused"),
        (XXE, "refused"),
        (
            "<GoalState><Container><ContainerId>x</ContainerId></Container></GoalState>",
            "no Incarnation",
        ),
        ("<GoalState>" + "<Pad>" + "x" * (20 << 20) + "</Pad></GoalState>", "larger than"),
    ],
    ids=["malformed", "entity-expansion", "external-entity", "missing-elements", "20-MB"],
)
def test_a_bad_goal_state_is_reported_and_the_last_good_one_kept(
    raw: tuple[WireSystem, Path], bad: str, expected: str
) -> None:
    wire, directory = raw
    wire.wait_prop("Incarnation", "1", timeout=60)
    good = (directory / "GoalState.xml").read_text()
    summary = wire.json("GetGoalState")
    (directory / "GoalState.xml").write_text(bad)
    wait_for(
        lambda: expected in wire.prop("LastError"), timeout=60, what=f"LastError with {expected!r}"
    )
    assert wire.prop("State") in ("GoalStateError", "FabricUnavailable")
    assert wire.json("GetGoalState") == summary
    (directory / "GoalState.xml").write_text(good)
    set_incarnation(directory, 2)
    wire.wait_prop("Incarnation", "2", timeout=60)
    wire.wait_prop("State", "Ready")


def test_certificates_encrypted_to_another_certificate_leave_the_rest_working(
    raw: tuple[WireSystem, Path],
) -> None:
    wire, _ = raw
    wire.wait_prop("Incarnation", "1", timeout=60)
    wire.wait_prop("State", "Ready")
    assert wire.json("GetGoalState")["certificates"] == []
    assert "Cannot download certificates" in wire.log()
    assert "encrypted to another certificate" in wire.log()
