"""What wire sends: health, the status blob (both channels, both blob types), events, downloads."""

from __future__ import annotations

import fcntl
import io
import json
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbus_fast import MessageType

from tests.harness.callers import UNPRIVILEGED
from tests.harness.paths import PYTHON
from tests.harness.users import as_user
from tests.harness.wait import wait_for
from tests.wire.system import WireSystem, dbus_call, read_fd, wire_system
from waagent.common.models.status import ExtensionsStatus, HandlerStatus
from waagent.fabric.scenario import Scenario

pytestmark = pytest.mark.integration


def extensions_status(name: str = "Fabric.Samples.Hello") -> str:
    handler = HandlerStatus(handler_version="1.0.0", handler_name=name, status="Ready")
    return ExtensionsStatus(handler_aggregate_status=(handler,)).model_dump_json(by_alias=True)


def test_report_health_reaches_the_fabric_in_the_documented_shape(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    reply = wire.call("ReportHealth", "sss", "NotReady", "Provisioning", "Starting")
    assert reply.ok, reply.error
    assert wire.call("ReportHealth", "sss", "Ready", "", "").ok
    first, second = wire.records("health")[-2:]
    identity = wire.fabric.scenario.identity
    assert first.fields | {"raw": None} == {
        "incarnation": str(identity.incarnation),
        "container_id": identity.container_id,
        "role_instance_id": identity.role_instance_id,
        "state": "NotReady",
        "substatus": "Provisioning",
        "description": "Starting",
        "raw": None,
    }
    assert second["state"] == "Ready"
    assert not second["substatus"]


def test_a_health_report_at_start_waits_for_the_goal_state_document_only() -> None:
    """The provisioner's Ready report arrives while wire's first fetch is under way: it names
    the GoalState.xml already fetched, not waiting for the certificates (slow here), and the
    goal state is not fetched a second time for it."""
    with wire_system() as wire:
        wire.fabric.program_faults("certificates", [{"delay": 4}])
        assert wire.call("ReportHealth", "sss", "Ready", "", "").ok  # activates wire
        wire.wait_prop("Incarnation", "1", timeout=60)
        requests = wire.fabric.requests()
        by_endpoint = [r.endpoint for r in requests]
        health = by_endpoint.index("health")
        assert "certificates" in by_endpoint[health:], "the report waited for the certificates"
        assert by_endpoint.count("certificates") == 1, by_endpoint
        assert by_endpoint.count("extensionsconfig") == 1, by_endpoint
        assert wire.records("health")[-1]["state"] == "Ready"


def test_report_health_checks_its_arguments(wire: WireSystem) -> None:
    reply = wire.call("ReportHealth", "sss", "Sleepy", "", "")
    assert "invalid health state 'Sleepy'" in reply.error
    reply = wire.call("ReportHealth", "sss", "Ready", "Provisioning", "")
    assert "a substatus goes with the NotReady state" in reply.error


def test_members_for_services_only_are_closed_to_other_users_by_the_bus_policy(
    wire: WireSystem,
) -> None:
    for method, signature, args in (
        ("ReportHealth", "sss", ("Ready", "", "")),
        ("UploadStatus", "s", ("{}",)),
        ("SendEvents", "s", ('{"events": []}',)),
        ("GetSharedConfig", "", ()),
    ):
        reply = wire.call(method, signature, *args, user=UNPRIVILEGED)
        assert "Access denied" in reply.error, method
    assert wire.call("GetGoalState", user=UNPRIVILEGED).ok


def test_status_goes_through_the_host_plugin_and_is_refreshed_every_period(
    wire: WireSystem,
) -> None:
    wire.wait_prop("State", "Ready")
    assert wire.call("UploadStatus", "s", extensions_status()).ok
    uploads = wait_for(
        lambda: (
            [r for r in wire.records("status") if r["channel"] == "hostgaplugin"][-3:]
            if len(wire.records("status")) >= 3
            else None
        ),
        timeout=20,
        what="three status uploads",
    )
    document = uploads[-1]["document"]
    handlers = document["aggregateStatus"]["handlerAggregateStatus"]
    assert handlers[0]["handlerName"] == "Fabric.Samples.Hello"
    assert document["aggregateStatus"]["guestAgentStatus"]["status"] == "Ready"
    assert document["version"] == "1.1"


def test_an_unchanged_status_waits_for_the_refresh_period() -> None:
    with wire_system(extra={"Status.RefreshPeriod": "30"}) as wire:
        # Only this test's uploads count: extd, which would hand over its own, is not there.
        (wire.env.bus.servicedir / "org.waagent.Extensions1.service").unlink()
        wire.wait_prop("State", "Ready")
        assert wire.call("UploadStatus", "s", extensions_status()).ok
        uploads = len(wire.records("status"))
        wait_for(
            lambda: sum(r.endpoint == "goalstate" for r in wire.fabric.requests()) >= 8,
            timeout=30,
            what="several polls",
        )
        assert len(wire.records("status")) == uploads
        assert wire.call("UploadStatus", "s", extensions_status("Another.Handler")).ok
        assert len(wire.records("status")) == uploads + 1


def test_status_goes_directly_to_storage_when_the_host_plugin_fails(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    wire.fabric.program_faults("hgap-status", [500] * 50)
    assert wire.call("UploadStatus", "s", extensions_status()).ok
    direct = wait_for(
        lambda: [r for r in wire.records("status") if r["channel"] == "direct"],
        timeout=20,
        what="a direct status upload",
    )
    assert direct[-1]["blob_type"] == "BlockBlob"
    assert direct[-1]["document"]["aggregateStatus"]["handlerAggregateStatus"]


@pytest.fixture
def page_blob_wire() -> Iterator[WireSystem]:
    with wire_system(Scenario.default().model_copy(update={"status_blob_type": "PageBlob"})) as s:
        yield s


@pytest.mark.parametrize("channel_fault", [[], [500] * 50], ids=["hostgaplugin", "direct"])
def test_page_blobs_are_written_in_pages_on_both_channels(
    page_blob_wire: WireSystem, channel_fault: list[int]
) -> None:
    wire = page_blob_wire
    wire.wait_prop("State", "Ready")
    wire.fabric.program_faults("hgap-status", channel_fault)
    channel = "direct" if channel_fault else "hostgaplugin"
    assert wire.call("UploadStatus", "s", extensions_status()).ok
    uploads = wait_for(
        lambda: [r for r in wire.records("status") if r["channel"] == channel],
        timeout=20,
        what=f"a page blob status through {channel}",
    )
    assert uploads[-1]["blob_type"] == "PageBlob"
    assert uploads[-1]["document"]["aggregateStatus"]["handlerAggregateStatus"]


def test_upload_status_refuses_json_of_another_shape(wire: WireSystem) -> None:
    reply = wire.call("UploadStatus", "s", json.dumps({"handlers": 3}))
    assert "invalid extensions status" in reply.error


def test_events_reach_the_fabric_with_the_common_fields(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    batch = {
        "events": [
            {
                "parameters": {
                    "Name": "Fabric.Samples.Hello",
                    "Operation": "Enable",
                    "OperationSuccess": True,
                    "Duration": 12,
                }
            }
        ]
    }
    assert wire.call("SendEvents", "s", json.dumps(batch)).ok
    record = wait_for(lambda: wire.records("telemetry"), timeout=20, what="telemetry")[-1]
    params = record["events"][0]["params"]
    assert params["Name"] == "Fabric.Samples.Hello"
    assert params["OperationSuccess"] in (True, "True")
    assert params["GAVersion"] == "WALinuxAgent-3.0.0.0"
    assert params["ContainerId"] == wire.fabric.scenario.identity.container_id


def test_download_returns_a_read_only_descriptor_of_the_verified_package(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    goal_state = wire.json("GetExtensionsGoalState")
    manifest_uris = [goal_state["plugins"][0]["location"]]
    manifest = read_fd(dbus_call(wire.env.address, "Download", "ass", [manifest_uris, "manifest"]))
    assert b"<PluginVersionManifest" in manifest
    package_uri = manifest.split(b"<Uri>")[1].split(b"</Uri>")[0].decode().replace("&amp;", "&")
    reply = dbus_call(wire.env.address, "Download", "ass", [[package_uri], "package"])
    fd = reply.unix_fds[reply.body[0]]
    assert os.fstat(fd).st_nlink == 0  # an unnamed file
    assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
    os.close(fd)
    data = read_fd(dbus_call(wire.env.address, "Download", "ass", [[package_uri], "package"]))
    assert "HandlerManifest.json" in zipfile.ZipFile(io.BytesIO(data)).namelist()


def test_a_download_that_fails_on_every_channel_says_so(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    uri = f"http://{wire.fabric.address}:10000/packages/none.zip?sv=1&sig=x"
    reply = dbus_call(wire.env.address, "Download", "ass", [[uri], "package"])
    assert reply.message_type == MessageType.ERROR
    assert reply.error_name == "org.waagent.Error.FabricUnavailable"
    assert "Failed to download package from all URIs" in reply.body[0]


def test_download_checks_its_arguments(wire: WireSystem) -> None:
    reply = dbus_call(wire.env.address, "Download", "ass", [["file:///etc/shadow"], "package"])
    assert reply.error_name == "org.waagent.Error.InvalidArgs"
    reply = dbus_call(wire.env.address, "Download", "ass", [["http://x/y"], "secrets"])
    assert reply.error_name == "org.waagent.Error.InvalidArgs"


def test_instance_metadata_is_served_from_imds(wire: WireSystem) -> None:
    wire.wait_prop("State", "Ready")
    data = json.loads(wire.call("GetInstanceMetadata", user=UNPRIVILEGED).data[0])
    assert data["compute"]["vmId"] == wire.fabric.scenario.identity.vm_id


def _zip_fd(tmp_path: Path) -> int:
    bundle = tmp_path / "logs.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("var/log/waagent.log", "a log line\n")
    return os.open(bundle, os.O_RDONLY)


def test_a_log_bundle_is_uploaded_through_the_host_plugin(wire: WireSystem, tmp_path: Path) -> None:
    wire.wait_prop("State", "Ready")
    fd = _zip_fd(tmp_path)
    try:
        reply = dbus_call(wire.env.address, "UploadLogs", "h", [0], unix_fds=[fd])
    finally:
        os.close(fd)
    assert reply.message_type == MessageType.METHOD_RETURN, reply.body
    record = wire.records("log-upload")[-1]
    assert record["files"] == ["var/log/waagent.log"]
    assert record["size"] == reply.body[0]
    assert record["headers"]["x-ms-vmagentlog-deploymentid"]


def test_log_upload_needs_polkit_for_other_users(wire: WireSystem) -> None:
    # busctl cannot pass a descriptor: a small client does, as nobody (its interpreter is
    # Debian's, which any user may run).
    bundle = wire.env.base / "logs.zip"  # a directory nobody can read (pytest's tmp is 0700)
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("x", "y")
    bundle.chmod(0o644)
    script = (
        "import asyncio, os, sys\n"
        "from dbus_fast import Message\n"
        "from dbus_fast.aio import MessageBus\n"
        "async def go():\n"
        "    bus = await MessageBus(bus_address=sys.argv[1], negotiate_unix_fd=True).connect()\n"
        "    fd = os.open(sys.argv[2], os.O_RDONLY)\n"
        "    r = await bus.call(Message(destination='org.waagent.Wire1', path='/org/waagent/Wire1',"
        " interface='org.waagent.Wire1', member='UploadLogs', signature='h', body=[0],"
        " unix_fds=[fd]))\n"
        "    print(r.error_name, r.body)\n"
        "asyncio.run(go())\n"
    )
    result = subprocess.run(
        [*as_user(UNPRIVILEGED), PYTHON, "-c", script, wire.env.address, str(bundle)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" in result.stdout
    assert "org.waagent.collect-logs" in result.stdout
    assert wire.records("log-upload") == []
