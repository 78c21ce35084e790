"""Extension telemetry within a minute, under real systemd (reference §9.12): a handler leaves a
process behind that writes an event file after extd exited; systemd's path unit (an instance of
waagent-extension-events@.path that extd started) starts extd, which hands the event to wire,
and exits again. Nothing of ours waits in between."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.paths import TEST_DATA
from tests.harness.wait import wait_for
from tests.system.container import missing_tools
from tests.system.test_boot import CONFIG  # an idle time of 5 s
from tests.system.vm import Vm, provisioned_vm

pytestmark = pytest.mark.system

if reason := missing_tools():
    pytestmark = [pytest.mark.system, pytest.mark.skip(reason=reason)]

HANDLER = "Contoso.Probe.Events"
EVENTS = f"/var/log/azure/{HANDLER}/events"
PATH_UNIT = f"waagent-extension-events@var-log-azure-{HANDLER}-events.path"


@pytest.fixture(scope="module")
def vm() -> Iterator[Vm]:
    with provisioned_vm(CONFIG) as booted:
        versions = [{"version": "1.0.0", "handler_dir": str(TEST_DATA / "extensions" / "events")}]
        booted.fabric.client.add_extension(HANDLER, version="1.0.0", versions=versions)
        yield booted


def extd_active(vm: Vm) -> bool:
    return vm.show("waagent-extd.service", "ActiveState")["ActiveState"] == "active"


def read(vm: Vm, path: str) -> str:
    return vm.run("cat", path).stdout.strip()


def late_events(vm: Vm) -> list[dict[str, Any]]:
    events = [e for r in vm.fabric.client.records("telemetry") for e in r["events"]]
    return [e for e in events if e["params"].get("Context3") == "op-late"]


def test_an_event_written_after_extd_exited_reaches_the_fabric(vm: Vm) -> None:
    status = wait_for(lambda: vm.handler_status(HANDLER), timeout=120, what="the handler status")
    wait_for(
        lambda: (found := vm.handler_status(HANDLER)) and found["status"] == "Ready",
        timeout=120,
        what=f"{HANDLER} Ready (last {status})",
    )
    assert vm.show(PATH_UNIT, "ActiveState")["ActiveState"] == "active"
    wait_for(lambda: not extd_active(vm), timeout=60, what="extd to exit when idle")
    started_before = vm.show("waagent-extd.service", "ExecMainStartTimestampMonotonic")

    vm.run("touch", "/var/tmp/events/go")  # the extension's child writes its event now
    written = float(wait_for(lambda: read(vm, "/var/tmp/events/written"), what="the event file"))
    (event,) = wait_for(lambda: late_events(vm), timeout=90, what="the late event at the fabric")
    received = time.time()
    print(f"\nFIGURE event file written -> at the fabric: {received - written:.2f} s")

    assert event["params"]["Context1"] == "written after extd exited"
    assert event["params"]["EventName"] == f"{HANDLER}-1.0.0"
    assert received - written < 60
    # systemd started extd for it, and the file is gone.
    started_after = vm.show("waagent-extd.service", "ExecMainStartTimestampMonotonic")
    assert started_after != started_before
    assert vm.run("sh", "-c", f"ls -A {EVENTS}").stdout.strip() == ""
    # Nothing keeps extd: it exits again, and the path unit waits for the next file.
    wait_for(
        lambda: not extd_active(vm) and vm.show(PATH_UNIT, "SubState")["SubState"] == "waiting",
        timeout=60,
        what="extd to exit again, and the path unit to wait for the next file",
    )
    assert vm.show(PATH_UNIT, "ActiveState")["ActiveState"] == "active"
