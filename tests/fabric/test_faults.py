"""Programmed faults are served in order, then normal service resumes (issue 3, item 7)."""

from __future__ import annotations

import time

import httpx
import pytest

from waagent.fabric.faults import ENDPOINTS, FaultError
from waagent.fabric.server import Fabric

from .helpers import H1, Agentish, parse


def test_a_fault_sequence_503_503_then_200_is_served_in_order(
    agent: Agentish, fabric: Fabric
) -> None:
    fabric.program_faults("goalstate", [503, 503])
    url = f"{agent.wire}/machine/?comp=goalstate"
    assert [agent.get(url, H1).status_code for _ in range(3)] == [503, 503, 200]
    served = [(r.status, r.fault) for r in fabric.requests() if r.endpoint == "goalstate"]
    assert served == [(503, "503"), (503, "503"), (200, None)]


def test_faults_are_per_endpoint(agent: Agentish, fabric: Fabric) -> None:
    fabric.program_faults("versions", [500])
    assert agent.goal_state().findtext("Incarnation") == "1"
    assert agent.versions().status_code == 500
    assert agent.versions().status_code == 200


@pytest.mark.parametrize("code", [500, 503, 429, 410, 404])
def test_status_code_steps_answer_with_that_status(
    agent: Agentish, fabric: Fabric, code: int
) -> None:
    fabric.program_faults("sharedconfig", [code])
    assert agent.document("SharedConfig").status_code == code


def test_invalid_container_is_a_400_naming_invalid_container_configuration(
    agent: Agentish, fabric: Fabric
) -> None:
    fabric.program_faults("hgap-vmsettings", ["400-invalid-container"])
    response = agent.get(f"{agent.hgap}/vmSettings", agent.hgap_headers())
    assert response.status_code == 400
    assert "InvalidContainerConfiguration" in response.text


def test_a_delay_outlasts_the_clients_timeout_and_then_service_resumes(
    agent: Agentish, fabric: Fabric
) -> None:
    fabric.program_faults("versions", [{"delay": 2}])
    with pytest.raises(httpx.ReadTimeout):
        agent.http.get(f"{agent.wire}/?comp=versions", timeout=0.3)
    assert agent.versions().status_code == 200


def test_a_drip_sends_the_body_one_byte_at_a_time_and_no_read_times_out(
    agent: Agentish, fabric: Fabric
) -> None:
    fabric.program_faults("versions", [{"drip": 0.2}])
    url = f"{agent.wire}/?comp=versions"
    started = time.monotonic()
    with agent.http.stream("GET", url, timeout=httpx.Timeout(1.0)) as response:
        assert response.status_code == 200
        assert int(response.headers["content-length"]) > 5
        received = b""
        for chunk in response.iter_raw():
            assert len(chunk) == 1  # one byte per write: every read is quick
            received += chunk
            if len(received) == 5:
                break
    elapsed = time.monotonic() - started
    assert received == agent.versions().content[:5]  # the same answer, only slower
    assert 0.7 < elapsed < 10, elapsed
    assert agent.versions().status_code == 200  # the next request is served normally


def test_a_drip_step_wants_a_number_of_seconds(fabric: Fabric) -> None:
    with pytest.raises(FaultError, match="drip must be a number of seconds"):
        fabric.program_faults("goalstate", [{"drip": "slow"}])
    fabric.program_faults("storage-package", [{"drip": 2}])
    assert fabric.faults.pending() == {"storage-package": ["drip 2s"]}


def test_a_dropped_connection_gets_no_response(agent: Agentish, fabric: Fabric) -> None:
    fabric.program_faults("goalstate", ["drop"])
    with pytest.raises(httpx.RemoteProtocolError):
        agent.get(f"{agent.wire}/machine/?comp=goalstate", H1)
    dropped = next(r for r in fabric.requests() if r.endpoint == "goalstate")
    assert (dropped.status, dropped.fault) == (None, "drop")


def test_a_truncated_body_is_shorter_than_its_content_length(
    agent: Agentish, fabric: Fabric
) -> None:
    fabric.program_faults("extensionsconfig", ["truncate"])
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete|without sending complete"):
        agent.document("ExtensionsConfig")


def test_a_malformed_xml_body_is_not_well_formed(agent: Agentish, fabric: Fabric) -> None:
    fabric.program_faults("goalstate", ["malformed"])
    response = agent.get(f"{agent.wire}/machine/?comp=goalstate", H1)
    assert response.status_code == 200
    with pytest.raises(SyntaxError):  # ElementTree's ParseError
        parse(response.content)


def test_a_malformed_json_body_is_not_json(agent: Agentish, fabric: Fabric) -> None:
    fabric.program_faults("imds", ["malformed"])
    response = agent.get(
        f"{agent.wire}/metadata/instance?api-version=2021-02-01", {"Metadata": "true"}
    )
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_ok_steps_serve_normally_in_between(agent: Agentish, fabric: Fabric) -> None:
    fabric.program_faults("versions", [500, "ok", 503])
    assert [agent.versions().status_code for _ in range(4)] == [500, 200, 503, 200]


def test_clear_faults_drops_every_pending_step(agent: Agentish, fabric: Fabric) -> None:
    fabric.program_faults("versions", [500, 500])
    fabric.clear_faults()
    assert agent.versions().status_code == 200


def test_a_bad_program_is_refused_whole(fabric: Fabric) -> None:
    with pytest.raises(FaultError, match="unknown fault endpoint"):
        fabric.program_faults("nowhere", [500])
    with pytest.raises(FaultError, match="not a fault step"):
        fabric.program_faults("versions", [500, "explode"])
    assert fabric.faults.pending() == {}


def test_every_documented_endpoint_accepts_a_program(fabric: Fabric) -> None:
    for endpoint in ENDPOINTS:
        fabric.program_faults(endpoint, [503])
    assert set(fabric.faults.pending()) == set(ENDPOINTS)


def test_the_fabric_can_vanish_and_come_back_on_the_same_ports(
    agent: Agentish, fabric: Fabric
) -> None:
    fabric.go_down()
    for url in (
        f"{agent.wire}/?comp=versions",
        f"{agent.hgap}/versions",
        f"{agent.storage}/status/x?sv=1&sig=1",
    ):
        with pytest.raises(httpx.ConnectError):
            agent.http.get(url)
    fabric.come_back()
    assert agent.versions().status_code == 200
    assert agent.get(f"{agent.hgap}/versions").status_code == 200


def test_stopping_the_fabric_ends_a_delayed_request_without_an_answer() -> None:
    import threading

    from tests.harness.fabric import fabric_for
    from tests.harness.wait import wait_for
    from waagent.fabric.scenario import Scenario

    outcome: list[BaseException | int] = []
    with fabric_for(None, Scenario.default()) as fabric:
        fabric.program_faults("versions", [{"delay": 600}])
        url = f"http://{fabric.address}:{fabric.wire_port}/?comp=versions"

        def ask() -> None:
            try:
                outcome.append(httpx.get(url, timeout=120, trust_env=False).status_code)
            except httpx.HTTPError as exc:
                outcome.append(exc)

        client = threading.Thread(target=ask)
        client.start()
        wait_for(lambda: fabric.faults.pending() == {}, what="the delayed request to arrive")
    client.join(timeout=60)
    assert not client.is_alive()
    assert isinstance(outcome[0], httpx.RemoteProtocolError | httpx.ReadError)
