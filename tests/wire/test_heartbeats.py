"""The heartbeats and the RSM status, as the fabric sees them: wire on a private bus, the fabric
simulator over real HTTP, the heartbeat period shortened with wire's `--heartbeat-period`
(the thresholds scale with it: unhealthy after 5 and 3 periods, HeartBeat every 30)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.wait import wait_for
from tests.wire.system import WireSystem, wire_system
from waagent.fabric.scenario import Scenario

pytestmark = pytest.mark.integration

PERIOD = "1"  # seconds: unhealthy after 5 s (HostGAPlugin) and 3 s (IMDS)
OURS = "3.0.0.0"


@pytest.fixture
def beating() -> Iterator[WireSystem]:
    with wire_system(wire_args=["--heartbeat-period", PERIOD]) as system:
        yield system


def observations(wire: WireSystem) -> list[list[tuple[str, bool]]]:
    return [
        [(o["name"], o["healthy"]) for o in record["observations"]]
        for record in wire.records("healthservice")
    ]


def events(wire: WireSystem, operation: str) -> list[dict[str, Any]]:
    return [
        event["params"]
        for record in wire.records("telemetry")
        for event in record["events"]
        if event["params"].get("Operation") == operation
    ]


def test_each_round_is_one_health_service_post_with_both_heartbeats(beating: WireSystem) -> None:
    beating.wait_prop("State", "Ready")
    wait_for(lambda: len(observations(beating)) >= 3, timeout=30, what="three HealthService POSTs")
    for posted in observations(beating):
        assert posted[:2] == [
            ("GuestAgentPluginHeartbeat", True),
            ("InstanceMetadataHeartbeat", True),
        ]
    requests = beating.fabric.requests()
    imds_health = [
        r for r in requests if r.endpoint == "imds" and r.headers["user-agent"].endswith("+health")
    ]
    assert imds_health
    posts = sum(r.endpoint == "healthservice" for r in requests)
    assert sum(r.endpoint == "hgap-health" for r in requests) in (posts, posts + 1)


def test_the_heartbeat_telemetry_reaches_the_fabric_in_the_classic_text(
    beating: WireSystem,
) -> None:
    beating.wait_prop("State", "Ready")
    (first, *_) = wait_for(lambda: events(beating, "HeartBeat"), timeout=30, what="HeartBeat")
    assert first["Name"] == "WALinuxAgent"
    fields = dict(part.split(": ", 1) for part in first["Message"].rstrip(";").split(";"))
    assert list(fields) == [
        "HeartbeatCounter",
        "HeartbeatId",
        "UpdateGSErrors",
        "AutoUpdate",
        "UpdateMode",
    ]
    assert (fields["HeartbeatCounter"], fields["AutoUpdate"], fields["UpdateMode"]) == (
        "0",
        "0",
        "SelfUpdate",
    )
    assert "[HEARTBEAT]" in beating.log()


def test_a_failing_host_plugin_turns_unhealthy_after_five_periods_and_is_told(
    beating: WireSystem,
) -> None:
    beating.wait_prop("State", "Ready")
    beating.fabric.program_faults("hgap-health", [500] * 1000)

    def unhealthy() -> bool:
        return ("GuestAgentPluginHeartbeat", False) in [o for p in observations(beating) for o in p]

    wait_for(unhealthy, timeout=60, what="GuestAgentPluginHeartbeat unhealthy")
    first_failure = next(
        r.timestamp
        for r in beating.fabric.requests()
        if r.endpoint == "hgap-health" and r.status == 500
    )
    first_unhealthy = next(
        r.timestamp for r in beating.records("healthservice") if not r["observations"][0]["healthy"]
    )
    # Not at the first failures: only after 5 periods of failure without a success.
    assert (first_unhealthy - first_failure).total_seconds() >= 5 * float(PERIOD)
    (extended,) = wait_for(
        lambda: events(beating, "HostPluginHeartbeatExtended"), timeout=30, what="telemetry"
    )
    assert extended["OperationSuccess"] in (False, "False")
    observed = wait_for(lambda: events(beating, "HealthObservation"), timeout=30, what="event")
    assert "GuestAgentPluginHeartbeat" in observed[0]["Message"]
    # The poll goes on: wire is Ready, its goal state is fetched as before.
    assert beating.prop("State") == "Ready"
    warnings = [line for line in beating.log().splitlines() if "health check failed" in line]
    assert len(warnings) == 1, warnings


# ---- RSM ------------------------------------------------------------------------------------


def guest_agent_status(wire: WireSystem, incarnation: str) -> dict[str, Any]:
    """guestAgentStatus of the first status uploaded once wire has `incarnation`."""
    wire.wait_prop("Incarnation", incarnation, timeout=60)
    mark = wire.fabric.requests()[-1].seq

    def uploaded() -> dict[str, Any] | None:
        later = [r for r in wire.records("status") if r.seq > mark and r["document"]]
        return later[0]["document"]["aggregateStatus"]["guestAgentStatus"] if later else None

    status: dict[str, Any] = wait_for(uploaded, timeout=30, what="a status after the goal state")
    return status


def request_version(wire: WireSystem, version: str) -> str:
    incarnation = wire.fabric.set_agent_family(
        version=version, is_version_from_rsm=True, is_vm_enabled_for_rsm_upgrades=True
    )
    return str(incarnation)


def test_rsm_requests_are_reported_in_the_status_and_the_agent_stays_ready(
    wire: WireSystem,
) -> None:
    wire.wait_prop("State", "Ready")
    assert "updateStatus" not in guest_agent_status(wire, "1")

    other = guest_agent_status(wire, request_version(wire, "9.9.9.10"))
    assert other["status"] == "Ready"
    update = other["updateStatus"]
    assert (update["expectedVersion"], update["status"], update["code"]) == (OURS, "Error", 1)
    assert "9.9.9.10" in update["formattedMessage"]["message"]
    assert "distribution package" in update["formattedMessage"]["message"]

    ours = guest_agent_status(wire, request_version(wire, OURS))
    assert ours["updateStatus"]["status"] == "Success"
    assert ours["updateStatus"]["code"] == 0
    # Nothing was downloaded: no agent manifest, no agent package.
    kinds = {r["name"] for r in wire.records("artifact")}
    assert not any("waagent" in str(name) for name in kinds)
    log = wire.log()
    assert log.count("RSM requested agent version 9.9.9.10") == 1


def test_with_auto_update_disabled_an_rsm_request_is_not_reported() -> None:
    with wire_system(Scenario.default(), extra={"AutoUpdate.Enabled": "n"}) as wire:
        wire.wait_prop("State", "Ready")
        status = guest_agent_status(wire, request_version(wire, "9.9.9.10"))
        assert status["status"] == "Ready"
        assert "updateStatus" not in status
