"""A fabric that drips its answers (a byte every few seconds, each read under the read timeout):
every request has a wall-clock deadline, so wire says FabricUnavailable instead of hanging."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbus_fast import MessageType

from tests.harness.wait import wait_for
from tests.wire.system import WireSystem, dbus_call, read_fd, wire_system
from waagent.common.names import WIRE

pytestmark = pytest.mark.integration

DEADLINE = 2.0  # wire's --request-deadline here; the classic budgets are 30-300 s
BUDGET = 3.0  # wire's --download-budget here; 300 s by default
DRIP = {"drip": 3}  # one byte every 3 s: a goal state would take over an hour
HANG = 60.0  # "did not hang": far above the deadlines, far below a dripped answer


@pytest.fixture
def wire() -> Iterator[WireSystem]:
    args = ("--request-deadline", f"{DEADLINE:g}", "--download-budget", f"{BUDGET:g}")
    with wire_system(wire_args=args) as system:
        yield system


def drip(wire: WireSystem, *endpoints: str) -> None:
    for endpoint in endpoints:
        wire.fabric.program_faults(endpoint, [DRIP] * 100)


def test_wire_runs_with_the_deadlines_of_its_command_line(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    pid = wire.env.busctl.owner_pid(WIRE.name)
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"--request-deadline" in argv


def test_a_dripping_goal_state_becomes_fabric_unavailable_and_wire_recovers(
    wire: WireSystem,
) -> None:
    wire.wait_prop("State", "Ready")
    statuses = len(wire.records("status"))
    drip(wire, "goalstate")
    started = time.monotonic()
    wait_for(
        lambda: wire.prop("State") == "FabricUnavailable", timeout=HANG, what="FabricUnavailable"
    )
    print(f"\ndripping goal state: FabricUnavailable after {time.monotonic() - started:.1f} s")
    assert "goal state: no complete answer within" in wire.prop("LastError")
    # The loop goes on: the status blob is still uploaded while the goal state drips.
    wait_for(
        lambda: len(wire.records("status")) >= statuses + 2, timeout=HANG, what="status uploads"
    )
    wire.fabric.clear_faults()
    recovered = time.monotonic()
    wire.wait_prop("State", "Ready", timeout=HANG)
    print(f"recovered {time.monotonic() - recovered:.1f} s after the fault was cleared")
    assert wire.prop("LastError") == ""


def test_refresh_answers_with_an_error_within_the_deadline(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    drip(wire, "goalstate")
    started = time.monotonic()
    reply = wire.call("Refresh")
    elapsed = time.monotonic() - started
    print(f"\nRefresh with a dripping goal state failed after {elapsed:.1f} s: {reply.error}")
    assert not reply.ok
    assert "no complete answer within" in reply.error
    assert elapsed < HANG


def test_a_dripping_package_download_fails_within_its_budget(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    goal_state = wire.json("GetExtensionsGoalState")
    manifest_uris = [goal_state["plugins"][0]["location"]]
    manifest = read_fd(dbus_call(wire.env.address, "Download", "ass", [manifest_uris, "manifest"]))
    package_uri = manifest.split(b"<Uri>")[1].split(b"</Uri>")[0].decode().replace("&amp;", "&")
    drip(wire, "storage-package", "hgap-artifact")  # both channels
    started = time.monotonic()
    reply = dbus_call(wire.env.address, "Download", "ass", [[package_uri], "package"])
    elapsed = time.monotonic() - started
    print(f"\ndripping package: Download failed after {elapsed:.1f} s: {reply.body}")
    assert reply.message_type == MessageType.ERROR
    assert reply.error_name == "org.waagent.Error.FabricUnavailable"
    assert "Failed to download package" in reply.body[0]
    assert elapsed < HANG
    wire.fabric.clear_faults()
    assert read_fd(dbus_call(wire.env.address, "Download", "ass", [[package_uri], "package"]))
