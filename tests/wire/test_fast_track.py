"""Fast Track end to end (§2.8, §2.9, §4.3): the fabric simulator over real HTTP, wire and extd
bus-activated on a private bus. Goal states published through vmSettings alone reach the
extensions; each answer of /vmSettings does what the protocol says."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.extd.system import PROBE, System, detail, probe_extension
from tests.harness.environment import Environment
from tests.harness.fabric import fabric_for
from tests.harness.wait import wait_for
from waagent.common.names import WIRE
from waagent.fabric.scenario import CertificateSpec, Scenario
from waagent.fabric.server import Fabric

pytestmark = pytest.mark.integration

SECOND = "Waagent.Test.Second"
CONFIG = {
    "Extensions.GoalStatePeriod": "1",
    "Status.RefreshPeriod": "1",
    "Extensions.EnableTimeout": "20",
    "Extensions.InstallTimeout": "20",
    "Services.IdleTimeout": "3",
}


def fast_track_scenario(**changes: Any) -> Scenario:
    probe = probe_extension(seq_no=1, public_settings={"greeting": "hello"})
    fields: dict[str, Any] = {"fast_track": True, "publish_through": "vmsettings", **changes}
    return Scenario(certificates=[CertificateSpec(name="tenant")], extensions=[probe], **fields)


@contextlib.contextmanager
def running(  # the probe enabled (seqNo 1) and reported
    scenario: Scenario, config: dict[str, str] | None = None
) -> Iterator[System]:
    with (
        fabric_for(None, scenario) as fabric,
        Environment(config={**CONFIG, **(config or {})}, endpoint=fabric.address) as env,
    ):
        system = System(env, fabric)
        system.start()
        system.wait_extension_status(PROBE, "success", seq=1)
        yield system


@pytest.fixture
def system() -> Iterator[System]:
    with running(fast_track_scenario()) as started:
        yield started


def wire_prop(system: System, name: str) -> Any:
    return system.env.busctl.get_property(WIRE.name, WIRE.path, WIRE.interface, name)


def extensions_goal_state(system: System) -> dict[str, Any]:
    reply = system.env.busctl.call(WIRE.name, WIRE.path, WIRE.interface, "GetExtensionsGoalState")
    assert reply.ok, reply.error
    document: dict[str, Any] = json.loads(reply.data[0])
    return document


def vm_settings_reads(fabric: Fabric) -> list[tuple[int, str | None]]:
    return [
        (r["status"], r["goal_state_id"])
        for r in fabric.records("extensions-goal-state")
        if r["channel"] == "HostGAPlugin"
    ]


def history(system: System) -> list[str]:
    directory = system.env.sandbox.path("/var/lib/waagent-wire/history")
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_a_fast_track_only_extension_is_enabled_and_its_status_names_the_svd_sequence(
    system: System,
) -> None:
    fabric = system.fabric
    incarnation = fabric.info()["incarnation"]

    assert fabric.add_extension(SECOND, **_second()) == incarnation  # vmSettings alone
    published = fabric.info()["vm_settings"]
    system.wait_extension_status(SECOND, "success", seq=0)
    goal_state = wait_for(
        lambda: (
            (found := system.goal_state_status())
            and found["inSvdSeqNo"] == str(published["in_svd_seq_no"])
            and found
        ),
        timeout=30,
        what="the goal state status of the vmSettings",
    )
    assert goal_state["status"] == "Success"
    assert extensions_goal_state(system)["id"] == f"etag_{published['etag']}"
    assert wire_prop(system, "Incarnation") == str(incarnation)
    assert wire_prop(system, "ExtensionsChannel") == "HostGAPlugin"
    assert wire_prop(system, "FastTrack") == "supported"
    features = system.documents()[-1]["supportedFeatures"]
    assert {"Key": "FastTrack", "Value": "1.0"} in features
    assert f"etag_{published['etag']}" in vm_settings_reads(fabric)[-1][1]


def _second(**fields: Any) -> dict[str, Any]:
    probe = probe_extension(SECOND, seq_no=0, public_settings={"greeting": "fast"}, **fields)
    return probe.model_dump(exclude={"name"})


def test_artifacts_of_a_fast_track_goal_state_through_the_plugin_are_verified_there(
    system: System,
) -> None:
    fabric = system.fabric
    fabric.program_faults("storage-package", [404] * 20)  # direct fails: the plugin serves it
    fabric.add_extension(SECOND, **_second())
    system.wait_extension_status(SECOND, "success", seq=0)
    through_plugin = [
        r
        for r in fabric.requests()
        if r.endpoint == "hgap-artifact" and SECOND in r.headers.get("x-ms-artifact-location", "")
    ]
    assert through_plugin
    assert all(r.headers.get("x-ms-verify-from-artifacts-blob") == "true" for r in through_plugin)


def test_a_304_storm_parses_and_writes_nothing(system: System) -> None:
    fabric = system.fabric
    wait_for(lambda: len(vm_settings_reads(fabric)) >= 3, timeout=20, what="a few polls")
    folders = history(system)
    polls = len(vm_settings_reads(fabric))
    wait_for(
        lambda: len(vm_settings_reads(fabric)) >= polls + 5, timeout=20, what="five more polls"
    )
    reads = vm_settings_reads(fabric)
    assert [status for status, _ in reads].count(200) == 1
    assert {status for status, _ in reads[1:]} == {304}
    assert history(system) == folders
    extensions_config = [
        r for r in fabric.records("extensions-goal-state") if r["channel"] == "WireServer"
    ]
    assert len(extensions_config) == 1  # fetched once, for the one incarnation


def test_a_410_mid_cycle_refreshes_the_goal_state_and_the_change_is_applied(
    system: System,
) -> None:
    fabric = system.fabric
    fabric.program_faults("hgap-vmsettings", [410])
    fabric.set_extension_settings(PROBE, public={"greeting": "after 410"})
    system.wait_extension_status(PROBE, "success", seq=2)
    gone = [r for r in fabric.requests() if r.endpoint == "hgap-vmsettings" and r.status == 410]
    assert len(gone) == 1
    later = [r for r in fabric.requests() if r.seq > gone[0].seq]
    assert [r.endpoint for r in later][:2] == ["goalstate", "hgap-vmsettings"]  # then the retry


def test_an_invalid_document_keeps_the_goal_state_and_is_saved_once(system: System) -> None:
    fabric = system.fabric
    before, folders = extensions_goal_state(system)["id"], history(system)
    fabric.program_faults("hgap-vmsettings", ["invalid"] * 3)
    wait_for(lambda: _served(fabric), timeout=20, what="the invalid documents served")
    assert extensions_goal_state(system)["id"] == before
    [invalid] = sorted(set(history(system)) - set(folders))  # one folder for three answers
    saved = system.env.sandbox.path(f"/var/lib/waagent-wire/history/{invalid}/VmSettings.json")
    assert '"sideways"' in saved.read_text()
    assert "vmSettings" in system.service_log() and "invalid" in system.service_log()


def _served(fabric: Fabric) -> bool:
    return sum(1 for r in fabric.requests() if r.fault == "invalid") >= 3


def test_support_stopping_falls_back_to_extensions_config_that_is_newer(
    system: System,
) -> None:
    fabric = system.fabric
    fabric.set_extension_settings(PROBE, public={"greeting": "fast"})  # vmSettings only
    system.wait_extension_status(PROBE, "success", seq=2)
    fabric.set_publishing(fast_track=False, publish_through="both")
    wait_for(lambda: wire_prop(system, "FastTrack") == "support-stopped", timeout=20,
             what="support stopped")  # fmt: skip
    # ExtensionsConfig still has seqNo 1, older than the Fast Track goal state: not executed.
    assert extensions_goal_state(system)["channel"] == "HostGAPlugin"
    assert [o["seq"] for o in system.operations(PROBE)].count("1") == 2  # install+enable, once
    fabric.set_extension_settings(PROBE, public={"greeting": "wire"}, seq_no=3)  # newer
    system.wait_extension_status(PROBE, "success", seq=3)
    assert extensions_goal_state(system)["channel"] == "WireServer"
    assert wire_prop(system, "ExtensionsChannel") == "WireServer"


def test_an_old_plugin_is_not_supported() -> None:
    with running(fast_track_scenario(hgap_version="1.0.8.132")) as system:
        assert wire_prop(system, "FastTrack") == "not-supported"
        assert extensions_goal_state(system)["id"].startswith("incarnation_")
        features = system.documents()[-1]["supportedFeatures"]
        assert all(f["Key"] != "FastTrack" for f in features)


def test_disabled_fast_track_asks_no_vm_settings_at_all() -> None:
    scenario = fast_track_scenario(publish_through="both")
    with running(scenario, {"Debug.EnableFastTrack": "n"}) as system:
        wait_for(lambda: len(system.documents()) >= 3, timeout=20, what="a few status uploads")
        assert not [r for r in system.fabric.requests() if r.endpoint == "hgap-vmsettings"]
        assert wire_prop(system, "FastTrack") == "disabled"
        assert all(f["Key"] != "FastTrack" for f in system.documents()[-1]["supportedFeatures"])


def test_a_fast_track_goal_state_naming_a_new_certificate_fetches_the_certificates_again(
    system: System,
) -> None:
    fabric = system.fabric
    fabric.add_certificate("rotated")  # served from now on, without a new incarnation
    [thumbprint] = [t for t, c in fabric.tenant_certificates().items() if c["name"] == "rotated"]
    secret = {"secret": "rotated-secret"}
    fabric.add_extension(SECOND, **_second(protected_settings=secret, certificate="rotated"))
    item = system.wait_extension_status(SECOND, "success", seq=0)
    assert json.loads(detail(item)["formattedMessage"]["message"])["protected"] == secret
    summary = json.loads(
        system.env.busctl.call(WIRE.name, WIRE.path, WIRE.interface, "GetGoalState").data[0]
    )
    assert thumbprint in {c["thumbprint"] for c in summary["certificates"]}
    assert f"certificate(s) {thumbprint} this VM lacks" in system.service_log()


def certificate_fetches(fabric: Fabric) -> list[int]:
    return [r.seq for r in fabric.requests() if r.endpoint == "certificates"]


def add_late_certificate(fabric: Fabric, withheld: int) -> str:
    """A certificate the next `withheld` Certificates documents leave out, and a Fast Track
    extension whose protected settings are encrypted for it; its thumbprint."""
    fabric.add_certificate("rotated", withheld=withheld)
    [thumbprint] = [t for t, c in fabric.tenant_certificates().items() if c["name"] == "rotated"]
    secret = {"secret": "rotated-secret"}
    fabric.add_extension(SECOND, **_second(protected_settings=secret, certificate="rotated"))
    return thumbprint


def test_a_certificate_still_missing_is_fetched_a_third_time_one_poll_later(
    system: System,
) -> None:
    """Classic's wrapper (§2.9): a new Fast Track goal state naming a missing certificate makes
    the documents come again at once and, still missing, once more one poll later; the
    extension runs only then, with the certificate."""
    before = len(certificate_fetches(system.fabric))
    thumbprint = add_late_certificate(system.fabric, withheld=1)
    item = system.wait_extension_status(SECOND, "success", seq=0)
    assert json.loads(detail(item)["formattedMessage"]["message"])["protected"] == {
        "secret": "rotated-secret"
    }
    assert len(certificate_fetches(system.fabric)) - before == 2
    log = system.service_log()
    assert f"certificate(s) {thumbprint} still missing; fetching again" in log
    assert "processing it anyway" not in log
    # One enable only: extd never saw the goal state without its certificate.
    assert [o["seq"] for o in system.operations(SECOND)].count("0") == 2  # install + enable


def test_a_certificate_missing_after_the_third_fetch_is_reported_by_the_extension(
    system: System,
) -> None:
    before = len(certificate_fetches(system.fabric))
    thumbprint = add_late_certificate(system.fabric, withheld=10)
    item = system.wait_entry(SECOND, lambda e: e["status"] == "NotReady")
    assert thumbprint in json.dumps(item)
    wait_for(lambda: "processing it anyway" in system.service_log(), what="the warning")
    # Two fetches more than the first, and no more: the following polls' 304s ask nothing.
    polls = len(goal_state_polls(system.fabric))
    wait_for(lambda: len(goal_state_polls(system.fabric)) >= polls + 3, what="three more polls")
    assert len(certificate_fetches(system.fabric)) - before == 2
    assert system.operations(SECOND) == []


def goal_state_polls(fabric: Fabric) -> list[int]:
    return [r.seq for r in fabric.requests() if r.endpoint == "goalstate"]


def test_support_sees_which_channel_each_goal_state_came_through(system: System) -> None:
    """Classic's ExtensionProcessing telemetry (§9.8 step 10) names the goal state's channel
    and source: a Fast Track one says HostGAPlugin / FastTrack."""
    system.fabric.add_extension(SECOND, **_second())
    system.wait_extension_status(SECOND, "success", seq=0)

    def processed() -> list[dict[str, Any]]:
        events = [e["params"] for r in system.fabric.records("telemetry") for e in r["events"]]
        return [
            e
            for e in events
            if e.get("Operation") == "ExtensionProcessing"
            and "channel: HostGAPlugin source: FastTrack" in e["Message"]
        ]

    event = wait_for(processed, timeout=30, what="ExtensionProcessing telemetry")[-1]
    assert event["Message"].startswith("ProcessExtensionsGoalState completed [etag_")
    assert event["OperationSuccess"] is True and event["Duration"] >= 0
