"""wire's lean resident path end to end: the stdlib poller polls while full wire is gone, and
wakes it (`Wire1.Poll`, bus activation) only when there is work. The fabric simulator over real
HTTP, wire bus-activated on a private bus, the poller as the waagent-wire user."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Iterator

import pytest

from tests.harness.callers import UNPRIVILEGED
from tests.harness.wait import wait_for
from tests.wire.poller import PollerSystem, poller_system
from tests.wire.system import WireSystem
from waagent.common.names import WIRE_USER
from waagent.fabric.scenario import Scenario

pytestmark = pytest.mark.integration


@pytest.fixture
def polling() -> Iterator[PollerSystem]:
    with poller_system() as system:
        system.start()
        system.wait_wire_gone()
        yield system


def test_the_poller_starts_wire_once_then_polls_alone(polling: PollerSystem) -> None:
    state = polling.state()
    assert state["endpoint"] == polling.wire.fabric.address
    assert state["goal_state_sha256"] and state["incarnation"]
    assert polling.state_path.stat().st_mode & 0o777 == 0o600
    wakes = polling.wakes()
    polls = lambda: sum(r.endpoint == "goalstate" for r in polling.wire.fabric.requests())  # noqa: E731
    before = polls()
    wait_for(lambda: polls() >= before + 4, timeout=30, what="the poller's goal-state polls")
    assert not polling.wire_running()
    assert polling.wakes() == wakes


def test_a_new_incarnation_wakes_wire_which_processes_it(polling: PollerSystem) -> None:
    old = polling.state()["incarnation"]
    new = str(polling.wire.fabric.bump_incarnation())
    assert new != old
    wait_for(lambda: "poll now: new goal state" in polling.wire.log(), timeout=30, what="a wake")
    polling.wait_wire_gone()
    wait_for(
        lambda: polling.state()["incarnation"] == new, timeout=30, what="wire to leave incarnation"
    )
    assert not polling.wire_running()
    # The first wire learnt provisioning was done; the woken one hands the new goal state over
    # on that, without asking (and so starting) the provisioner again.
    assert polling.state()["provisioned_boot"]
    log = polling.wire.log()
    assert log.count("org.waagent.Provisioner1 ready on the system bus") == 1
    assert "provisioning is done (an earlier wire of this boot saw it done)" in log


def test_heartbeats_reach_the_fabric_while_wire_is_gone(polling: PollerSystem) -> None:
    count = len(polling.wire.records("healthservice"))
    wait_for(
        lambda: len(polling.wire.records("healthservice")) >= count + 3,
        timeout=30,
        what="three HealthService POSTs from the poller",
    )
    assert not polling.wire_running()
    last = polling.wire.records("healthservice")[-1]
    names = [o["name"] for o in last["observations"]]
    assert names[:2] == ["GuestAgentPluginHeartbeat", "InstanceMetadataHeartbeat"]
    assert all(o["healthy"] for o in last["observations"])
    requests = polling.wire.fabric.requests()
    assert any(r.endpoint == "hgap-health" for r in requests[-20:])
    assert any(r.endpoint == "hgap-status" for r in requests[-20:])  # the status refresh


def test_a_vm_settings_304_storm_costs_no_wake_up() -> None:
    scenario = Scenario(fast_track=True, publish_through="vmsettings")
    with poller_system(scenario) as system:
        system.start()
        system.wait_wire_gone()
        assert system.state()["vm_settings"] and system.state()["etag"]
        wakes = system.wakes()

        def not_modified() -> int:
            return sum(
                r.endpoint == "hgap-vmsettings" and r.status == 304
                for r in system.wire.fabric.requests()
            )

        before = not_modified()
        wait_for(lambda: not_modified() >= before + 5, timeout=30, what="five 304 answers")
        asked = [r for r in system.wire.fabric.requests() if r.endpoint == "hgap-vmsettings"]
        assert asked[-1].headers.get("if-none-match") == system.state()["etag"]
        assert system.wakes() == wakes
        assert not system.wire_running()


def test_kill_9_of_the_poller_mid_write_leaves_a_valid_state(polling: PollerSystem) -> None:
    polling.stop()
    rng = random.Random(17)
    for _ in range(12):
        proc = polling.start()
        time.sleep(rng.uniform(0.2, 1.5))  # each round rewrites the state
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        state = json.loads(polling.state_path.read_text())
        assert state["endpoint"] == polling.wire.fabric.address
        leftovers = [p for p in polling.state_path.parent.iterdir() if p.name.startswith(".poll")]
        for leftover in leftovers:  # a temporary file is never read: the next round replaces it
            assert leftover.name != "poll_state.json"


def test_only_root_and_the_wire_user_may_call_poll(wire: WireSystem) -> None:
    assert wire.call("Poll", "s", "a test").ok
    assert wire.call("Poll", "s", "the poller", user=WIRE_USER).ok
    refused = wire.call("Poll", "s", "anyone", user=UNPRIVILEGED)
    assert not refused.ok
    assert "Access denied" in refused.error
    # Refused by the bus policy, before wire's own check (which backs it up).
    assert 'member="Poll"' in wire.env.bus.log.read_text()
    assert "poll now: the poller" in wire.log()


def test_a_woken_wire_does_not_announce_the_cached_goal_state_to_extd_again(
    polling: PollerSystem,
) -> None:
    assert polling.state()["extensions_told_boot"]  # told once this boot, by the first wire
    told = polling.wire.log().count("processing goal state")
    assert told == 1
    assert polling.wire.call("Poll", "s", "a test").ok  # bus-activates a new wire
    polling.wait_wire_gone()
    wait_for(lambda: "poll now: a test" in polling.wire.log(), timeout=10, what="the wake")
    assert polling.wire.log().count("processing goal state") == told
