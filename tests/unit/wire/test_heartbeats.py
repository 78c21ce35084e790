"""The heartbeats' schedule and thresholds (mock fabric, an injected clock): one HealthService POST
a minute with both observations, unhealthy only after 5 min (HostGAPlugin) and 3 min (IMDS) of
continuous failure, IMDS connection errors count as healthy, IOErrors counted by destination,
the HeartBeat telemetry every 30 min."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from waagent.common.models.events import TelemetryEvent
from waagent.wire import health_service
from waagent.wire.agent import Wire
from waagent.wire.health_service import Observation
from waagent.wire.heartbeats import Heartbeats, Periods

from .fabric_mock import HOSTPLUGIN, WIRESERVER, MockFabric, make_wire

IMDS = "http://169.254.169.254/metadata/instance"
HEALTH_SERVICE = f"{WIRESERVER}/HealthService"
HOSTPLUGIN_VERSIONS = b'["2015-09-01", "2012-11-30"]'
INSTANCE = json.dumps(
    {
        "compute": {"vmId": "x"},
        "network": {
            "interface": [
                {
                    "ipv4": {"ipAddress": [{"privateIpAddress": "10.0.0.4"}]},
                    "macAddress": "000D3A1B2C3D",
                }
            ]
        },
    }
).encode()


class Fabric(MockFabric):
    """The mock fabric, with URL prefixes that refuse connections (`down`)."""

    def __init__(self) -> None:
        super().__init__()
        self.down: set[str] = set()
        self.headers: list[tuple[str, httpx.Headers]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.headers.append((str(request.url), request.headers))
        if any(str(request.url).startswith(prefix) for prefix in self.down):
            self.requests.append((request.method, str(request.url), request.content))
            raise httpx.ConnectError("Connection refused", request=request)
        return super().__call__(request)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def healthy_fabric() -> Fabric:
    fabric = Fabric()
    fabric.serve("GET", f"{HOSTPLUGIN}/versions", HOSTPLUGIN_VERSIONS)
    fabric.serve("GET", f"{HOSTPLUGIN}/health", 200)
    fabric.serve("GET", IMDS, INSTANCE)
    fabric.serve("POST", HEALTH_SERVICE, 200)
    return fabric


class Setup:
    def __init__(self, tmp_path: Path, fabric: Fabric) -> None:
        self.fabric = fabric
        self.wire: Wire = make_wire(tmp_path, fabric)
        self.clock = Clock()
        self.events: list[TelemetryEvent] = []
        self.beats = Heartbeats(
            lambda: self.wire.connection,
            self.events.extend,
            lambda: "SelfUpdate",
            clock=self.clock,
        )

    def minutes(self, count: int) -> list[list[dict[str, Any]]]:
        """Run `count` more minutes; the observations of each HealthService POST."""
        before = len(self.fabric.requests)
        for _ in range(count):
            self.clock.now += 60

            async def round_() -> None:
                if self.beats.due():
                    await self.beats.run_due()

            asyncio.run(round_())
        return [
            json.loads(body)["Observations"]
            for method, url, body in self.fabric.requests[before:]
            if method == "POST" and url == HEALTH_SERVICE
        ]

    def operations(self, name: str) -> list[str]:
        return [
            str(e.parameters["Message"]) for e in self.events if e.parameters["Operation"] == name
        ]


def health(posts: list[list[dict[str, Any]]], name: str) -> list[bool]:
    return [o["IsHealthy"] for post in posts for o in post if o["ObservationName"] == name]


def test_nothing_is_sent_before_the_first_minute(tmp_path: Path) -> None:
    setup = Setup(tmp_path, healthy_fabric())
    assert not setup.beats.due()
    assert setup.fabric.requests == []


def test_each_minute_one_post_carries_both_heartbeats(tmp_path: Path) -> None:
    setup = Setup(tmp_path, healthy_fabric())
    posts = setup.minutes(3)
    assert len(posts) == 3
    for post in posts:
        assert [(o["ObservationName"], o["IsHealthy"]) for o in post] == [
            ("GuestAgentPluginHeartbeat", True),
            ("InstanceMetadataHeartbeat", True),
        ]
    # /versions once (then the plugin is known to be available), /health and IMDS every minute.
    assert setup.fabric.count("GET", f"{HOSTPLUGIN}/versions") == 1
    assert setup.fabric.count("GET", f"{HOSTPLUGIN}/health") == 3
    assert setup.fabric.count("GET", IMDS) == 3
    assert len(setup.fabric.requests) == 1 + 3 * 3


def test_the_imds_check_says_it_is_a_health_call(tmp_path: Path) -> None:
    setup = Setup(tmp_path, healthy_fabric())
    setup.minutes(1)
    (headers,) = [h for url, h in setup.fabric.headers if url.startswith(IMDS)]
    assert headers["User-Agent"] == "WALinuxAgent/3.0.0.0+health"
    assert headers["Metadata"] == "true"


def test_the_host_plugin_is_unhealthy_only_after_five_minutes_of_failure(tmp_path: Path) -> None:
    fabric = healthy_fabric()
    fabric.serve("GET", f"{HOSTPLUGIN}/health", 500)
    setup = Setup(tmp_path, fabric)
    posts = setup.minutes(7)
    # Failing since minute 1: minutes 1-5 still healthy, unhealthy from minute 6 (5 min later).
    assert health(posts, "GuestAgentPluginHeartbeat") == [True] * 5 + [False] * 2
    assert health(posts, "InstanceMetadataHeartbeat") == [True] * 7
    assert "500" in posts[-1][0]["Description"]
    # Telemetry when it turns unhealthy, not every minute.
    assert len(setup.operations("HostPluginHeartbeatExtended")) == 1
    (observed,) = setup.operations("HealthObservation")
    assert json.loads(observed)["ObservationName"] == "GuestAgentPluginHeartbeat"
    fabric.serve("GET", f"{HOSTPLUGIN}/health", 200)
    assert health(setup.minutes(1), "GuestAgentPluginHeartbeat") == [True]


def test_a_success_in_between_restarts_the_five_minutes(tmp_path: Path) -> None:
    fabric = healthy_fabric()
    fabric.serve("GET", f"{HOSTPLUGIN}/health", 500, 500, 500, 500, 200, 500)
    setup = Setup(tmp_path, fabric)
    assert health(setup.minutes(9), "GuestAgentPluginHeartbeat") == [True] * 9


@pytest.mark.parametrize(
    "answer",
    [500, b'{"compute": {}}', b'{"network": {"interface": [{"ipv4": {"ipAddress": []}}]}}'],
)
def test_imds_is_unhealthy_after_three_minutes_of_errors_or_documents_without_the_nic(
    tmp_path: Path, answer: int | bytes
) -> None:
    fabric = healthy_fabric()
    fabric.serve("GET", IMDS, answer)
    setup = Setup(tmp_path, fabric)
    posts = setup.minutes(5)
    assert health(posts, "InstanceMetadataHeartbeat") == [True] * 3 + [False] * 2
    assert health(posts, "GuestAgentPluginHeartbeat") == [True] * 5
    assert posts[-1][1]["Description"]


def test_an_imds_connection_error_counts_as_healthy(tmp_path: Path) -> None:
    fabric = healthy_fabric()
    fabric.down.add(IMDS)
    setup = Setup(tmp_path, fabric)
    assert health(setup.minutes(5), "InstanceMetadataHeartbeat") == [True] * 5


def test_observations_are_cut_to_the_service_limits_and_redacted() -> None:
    observation = Observation(
        name="N" * 100,
        is_healthy=False,
        description="https://acct.blob/status?sig=SECRET " + "x" * 300,
        value="v" * 300,
    )
    sent = json.loads(health_service.document([observation]))["Observations"][0]
    assert len(sent["ObservationName"]) == 64
    assert len(sent["Description"]) == 128 and len(sent["Value"]) == 128
    assert "SECRET" not in sent["Description"]


def test_a_status_upload_through_the_plugin_joins_the_next_post_once(tmp_path: Path) -> None:
    fabric = healthy_fabric()
    fabric.serve_incarnation(1)
    fabric.serve("PUT", f"{HOSTPLUGIN}/status", 200)
    setup = Setup(tmp_path, fabric)
    setup.wire.status._host_plugin_outcome = setup.beats.host_plugin_status
    asyncio.run(setup.wire.refresh())
    assert asyncio.run(setup.wire.report_status()) is True
    first, second = setup.minutes(2)
    assert [o["ObservationName"] for o in first] == [
        "GuestAgentPluginHeartbeat",
        "InstanceMetadataHeartbeat",
        "GuestAgentPluginStatus",
    ]
    assert first[2]["IsHealthy"] is True
    assert len(second) == 2


def test_a_failing_health_service_is_logged_once_an_hour_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fabric = healthy_fabric()
    fabric.serve("POST", HEALTH_SERVICE, 500)
    setup = Setup(tmp_path, fabric)
    with caplog.at_level(logging.WARNING, logger="waagent.wire.heartbeats"):
        setup.minutes(61)
    warnings = [r for r in caplog.records if "HealthService" in r.getMessage()]
    assert len(warnings) == 2  # minute 1 and minute 61
    assert fabric.count("POST", HEALTH_SERVICE) == 61


def test_io_errors_are_counted_by_destination_and_reported_every_thirty_minutes(
    tmp_path: Path,
) -> None:
    fabric = healthy_fabric()
    fabric.down |= {f"{HOSTPLUGIN}/health", IMDS}
    setup = Setup(tmp_path, fabric)
    fabric.down.add(f"{WIRESERVER}/machine/?comp=goalstate")
    asyncio.run(setup.wire.poll_once())  # the goal state: two attempts, both refused
    setup.minutes(1)
    (errors,) = setup.operations("HttpErrors")
    assert errors == "hostplugin:1;protocol:2;other:1"
    fabric.down.clear()
    setup.minutes(30)
    assert len(setup.operations("HttpErrors")) == 1  # none counted since: none sent


def test_the_heartbeat_telemetry_every_thirty_minutes_with_the_classic_text(
    tmp_path: Path,
) -> None:
    setup = Setup(tmp_path, healthy_fabric())
    setup.beats.goal_state_failed()
    setup.beats.goal_state_failed()
    setup.minutes(1)
    setup.minutes(29)
    assert len(setup.operations("HeartBeat")) == 1
    setup.minutes(1)
    first, second = setup.operations("HeartBeat")
    beat_id = setup.beats.heartbeat_id
    assert first == (
        f"HeartbeatCounter: 0;HeartbeatId: {beat_id};UpdateGSErrors: 2;AutoUpdate: 0;"
        "UpdateMode: SelfUpdate;"
    )
    assert second.startswith(f"HeartbeatCounter: 1;HeartbeatId: {beat_id};UpdateGSErrors: 0;")
    event = next(e for e in setup.events if e.parameters["Operation"] == "HeartBeat")
    assert event.parameters["Name"] == "WALinuxAgent"
    assert event.parameters["OperationSuccess"] is True


def test_rounds_keep_to_one_a_minute_when_the_loop_wakes_every_six_seconds(
    tmp_path: Path,
) -> None:
    setup = Setup(tmp_path, healthy_fabric())
    rounds = 0
    for _ in range(10 * 60 // 6):
        setup.clock.now += 6
        if setup.beats.due():
            asyncio.run(setup.beats.run_due())
            rounds += 1
    assert setup.fabric.count("POST", HEALTH_SERVICE) == 10
    assert rounds == 10


def test_the_loop_starts_one_round_at_a_time(tmp_path: Path) -> None:
    setup = Setup(tmp_path, healthy_fabric())
    setup.clock.now += 60

    async def go() -> None:
        setup.beats.tick()
        setup.beats.tick()  # a second poll while the round runs
        for _ in range(50):
            await asyncio.sleep(0)

    asyncio.run(go())
    assert setup.fabric.count("POST", HEALTH_SERVICE) == 1


def test_the_scaled_periods_keep_the_classic_ratios() -> None:
    periods = Periods.scaled(1.0)
    assert (periods.host_plugin_unhealthy, periods.imds_unhealthy, periods.telemetry) == (
        5.0,
        3.0,
        30.0,
    )


def test_a_round_in_flight_is_cancelled_when_the_loop_ends(tmp_path: Path) -> None:
    setup = Setup(tmp_path, healthy_fabric())
    setup.clock.now += 60

    async def go() -> None:
        setup.beats.tick()
        setup.beats.stop()
        for _ in range(50):
            await asyncio.sleep(0)

    asyncio.run(go())
    assert setup.fabric.count("POST", HEALTH_SERVICE) == 0
