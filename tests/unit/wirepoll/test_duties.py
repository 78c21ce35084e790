"""The poller's schedule and what wakes full wire. The fabric's answers are canned here (the
end-to-end tests in tests/wire/test_poller.py use the simulator over real HTTP)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from waagent.common.telemetry_xml import status_blob_writes
from waagent.wire import documents, hostplugin, imds
from waagent.wire.heartbeats import Periods
from waagent.wire.http import IO_ERROR_CLASSES
from waagent.wirepoll import duties
from waagent.wirepoll.duties import Duties, following
from waagent.wirepoll.http import Http, Reply, TransportError
from waagent.wirepoll.state import PollState, StatusBlob

GOAL_STATE = b"<GoalState><Incarnation>1</Incarnation></GoalState>"


class Canned(Http):
    """Answers by path; what was asked, in order."""

    def __init__(self, answers: dict[str, Reply | Exception]) -> None:
        super().__init__()
        self.answers = answers
        self.asked: list[tuple[str, str, dict[str, str]]] = []
        self.bodies: list[bytes | None] = []

    def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None = None
    ) -> Reply:
        self.asked.append((method, url, headers))
        self.bodies.append(body)
        for key, answer in self.answers.items():
            if key in url:
                if isinstance(answer, Exception):
                    raise answer
                return answer
        return Reply(200, {}, b"")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(answers: dict[str, Reply | Exception], **values: object) -> tuple[Duties, Canned, Clock]:
    fields: dict[str, object] = {
        "endpoint": "10.1.1.1",
        "goal_state_sha256": hashlib.sha256(GOAL_STATE).hexdigest(),
        "next_check": 1030.0,
        "next_telemetry": 2000.0,
        "next_status": 1060.0,
        **values,
    }
    http, clock = Canned({"goalstate": Reply(200, {}, GOAL_STATE), **answers}), Clock()
    return Duties(PollState(**fields), http, clock=clock), http, clock  # type: ignore[arg-type]


def kinds(http: Canned) -> list[str]:
    return [url.split("/", 3)[-1] for _, url, _ in http.asked]


def test_an_unchanged_goal_state_is_one_request_and_no_wake() -> None:
    poll, http, clock = make({})
    assert poll.run_due() is None
    assert kinds(http) == ["machine/?comp=goalstate"]
    assert poll.next_at() == pytest.approx(1006.0)
    clock.now = 1003.0
    assert poll.run_due() is None and len(http.asked) == 1  # nothing due yet


def test_any_change_of_the_goal_state_bytes_wakes_wire() -> None:
    poll, _, _ = make({"goalstate": Reply(200, {}, GOAL_STATE.replace(b"1", b"2"))})
    assert poll.run_due() == "new goal state"


def test_vm_settings_304_is_idle_a_new_etag_or_404_wakes() -> None:
    poll, http, clock = make({"vmSettings": Reply(304, {}, b"")}, vm_settings=True, etag="e1")
    assert poll.run_due() is None
    assert http.asked[-1][2]["if-none-match"] == "e1"
    for answer, reason in (
        (Reply(200, {"etag": "e1"}, b"{}"), None),
        (Reply(200, {"etag": "e2"}, b"{}"), "new vmSettings"),
        (Reply(404, {}, b""), "vmSettings: HTTP 404"),
        (TransportError("refused"), None),
        (Reply(500, {}, b""), None),
    ):
        http.answers["vmSettings"] = answer
        clock.now += 6
        assert poll.run_due() == reason


def test_a_goal_state_failing_for_a_minute_wakes_wire() -> None:
    poll, _, clock = make({"goalstate": TransportError("refused")})
    assert poll.run_due() is None
    clock.now += 30
    assert poll.run_due() is None
    clock.now += 31
    assert (poll.run_due() or "").startswith("goal state failing")
    assert poll.state.goal_state_errors == 3


def test_the_status_is_refreshed_with_a_new_timestamp() -> None:
    status = StatusBlob("https://sa/blob?sig=s", "BlockBlob", json.dumps({"timestampUTC": "old"}))
    poll, http, clock = make({"versions": Reply(200, {}, b"2015-09-01")}, status=status)
    clock.now = 1060.0
    assert poll.run_due() is None
    (put,) = [i for i, (method, _, _) in enumerate(http.asked) if method == "PUT"]
    assert http.asked[put][1] == "http://10.1.1.1:32526/status"
    envelope = json.loads(http.bodies[put] or b"")
    assert envelope["requestUri"] == "https://sa/blob?sig=s"
    assert json.loads(base64.b64decode(envelope["content"]))["timestampUTC"] != "old"
    assert poll.state.host_plugin_available
    assert poll.state.next_status == pytest.approx(1120.0)


def test_a_failed_status_refresh_wakes_wire_for_the_direct_upload() -> None:
    status = StatusBlob("https://sa/blob", "BlockBlob", "{}")
    poll, _, clock = make(
        {"versions": Reply(200, {}, b"2015-09-01"), "/status": Reply(500, {}, b"")}, status=status
    )
    clock.now = 1060.0
    assert (poll.run_due() or "").startswith("status upload failed")


def test_a_heartbeat_round_is_three_requests_and_one_post() -> None:
    instance = {
        "network": {
            "interface": [
                {"ipv4": {"ipAddress": [{"privateIpAddress": "10.0.0.4"}]}, "macAddress": "00AA"}
            ]
        }
    }
    poll, http, clock = make(
        {
            "versions": Reply(200, {}, b"2015-09-01"),
            "metadata": Reply(200, {}, json.dumps(instance).encode()),
        },
        host_plugin_available=True,
    )
    clock.now = 1030.0
    assert poll.run_due() is None
    assert kinds(http)[1:] == [
        "health",
        "metadata/instance?api-version=2021-02-01",
        "HealthService",
    ]
    assert poll.state.next_check == pytest.approx(1090.0)


def test_the_heartbeat_telemetry_counts_on() -> None:
    poll, http, _ = make({}, heartbeat_id="ID", heartbeat_counter=4, next_telemetry=1000.0)
    poll.run_due()
    assert poll.state.heartbeat_counter == 5
    assert any("telemetrydata" in url for _, url, _ in http.asked)


def test_a_page_blob_is_created_then_written_in_pages() -> None:
    writes = status_blob_writes("https://sa/b?sig=1", "PageBlob", b"x" * 700)
    assert [w[0] for w in writes] == ["https://sa/b?sig=1", "https://sa/b?sig=1&comp=page"]
    assert writes[0][2]["x-ms-blob-content-length"] == "1024"
    assert writes[1][2]["x-ms-range"] == "bytes=0-1023"
    assert writes[1][1] == b"x" * 700 + b" " * 324


def test_the_grid_survives_a_long_pause() -> None:
    assert following(100.0, 60.0, 130.0) == 160.0
    assert following(100.0, 60.0, 1000.0) == 1060.0


def test_the_protocol_constants_agree_with_wires() -> None:
    assert duties.WIRE_PROTOCOL_VERSION == documents.WIRE_PROTOCOL_VERSION
    assert duties.HOSTPLUGIN_PORT == hostplugin.PORT
    assert duties.HOSTPLUGIN_API == hostplugin.API_VERSION
    assert duties.IMDS_API == imds.API_VERSION
    assert duties.IMDS_HEALTH_AGENT == imds.HEALTH_AGENT
    assert duties.IO_CLASSES == IO_ERROR_CLASSES
    default = PollState()
    periods = Periods()
    assert (default.heartbeat_period, default.telemetry_period) == (
        periods.check,
        periods.telemetry,
    )
