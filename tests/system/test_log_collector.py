"""Periodic log collection in the booted VM (issue 16 acceptance): the timer the generator made
from waagent.conf is active, a bundle reaches the fabric, and the collector ran as
waagent-logcollector.service in azure-walinuxagent-logcollector.slice with the classic limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.wait import wait_for
from tests.system.container import missing_tools
from tests.system.vm import Vm, provisioned_vm

pytestmark = pytest.mark.system
if reason := missing_tools():
    pytestmark = [pytest.mark.system, pytest.mark.skip(reason=reason)]

MiB = 1 << 20
SLICE = "azure-walinuxagent-logcollector.slice"
SERVICE = "waagent-logcollector.service"
TIMER = "waagent-logcollector.timer"
# A short initial delay so the test does not wait the classic 5 minutes; long enough that the
# boot has settled (a run at 5% of a CPU takes a while, and a boot is not done while it runs).
CONFIG = {"Debug.LogCollectorInitialDelay": "30", "Logs.CollectPeriod": "3600"}


@pytest.fixture(scope="module")
def vm() -> Iterator[Vm]:
    with provisioned_vm(CONFIG) as booted:
        yield booted


def uploads(vm: Vm) -> list[dict[str, Any]]:
    return vm.fabric.client.records("log-upload")  # type: ignore[no-any-return]


def test_the_timer_is_active_with_the_configured_period(vm: Vm) -> None:
    assert vm.run("systemctl", "is-active", TIMER).stdout.strip() == "active"
    assert vm.show(TIMER, "Unit")["Unit"] == SERVICE
    # One TimersMonotonic= line per trigger.
    triggers = vm.run("systemctl", "show", TIMER, "--property=TimersMonotonic").stdout
    assert "OnUnitActiveUSec=1h " in triggers
    unit = vm.run("systemctl", "cat", TIMER).stdout
    assert "OnActiveSec=30s\n" in unit and "OnUnitActiveSec=3600s\n" in unit


def test_a_bundle_reaches_the_fabric(vm: Vm) -> None:
    wait_for(lambda: uploads(vm), timeout=180, what="a log bundle at the fabric")
    files = set(uploads(vm)[0]["files"])
    assert {"var/log/waagent.log", "etc/waagent.conf", "results.txt"} <= files


def test_the_collector_ran_in_its_slice_with_the_classic_limits(vm: Vm) -> None:
    wait_for(lambda: uploads(vm), timeout=180, what="a log bundle at the fabric")
    wait_for(
        lambda: (
            vm.show(SERVICE, "Result")["Result"] == "success"
            and vm.show(SERVICE, "ActiveState")["ActiveState"] == "inactive"
        ),
        timeout=60,
        what="the collector run to end",
    )
    shown = vm.show(
        SERVICE,
        "Slice",
        "CPUQuotaPerSecUSec",
        "MemoryHigh",
        "MemoryMax",
        "ExecMainStatus",
        "ExecMainStartTimestampMonotonic",
    )
    assert shown["Slice"] == SLICE
    assert shown["CPUQuotaPerSecUSec"] == "50ms"  # CPUQuota=5%
    assert (int(shown["MemoryHigh"]), int(shown["MemoryMax"])) == (170 * MiB, 180 * MiB)
    assert shown["ExecMainStatus"] == "0"
    assert int(shown["ExecMainStartTimestampMonotonic"]) > 0  # it ran, not only configured
    limits = vm.show(SLICE, "CPUQuotaPerSecUSec", "MemoryMax")
    assert (limits["CPUQuotaPerSecUSec"], int(limits["MemoryMax"])) == ("50ms", 180 * MiB)


def test_the_upload_is_reported_in_telemetry(vm: Vm) -> None:
    wait_for(lambda: uploads(vm), timeout=180, what="a log bundle at the fabric")

    def events() -> list[dict[str, Any]]:
        return [
            event["params"]
            for record in vm.fabric.client.records("telemetry")
            for event in record["events"]
            if event["params"].get("Operation") == "LogCollection"
        ]

    found = wait_for(events, timeout=60, what="LogCollection telemetry")
    assert found[0]["OperationSuccess"] is True
