"""Provisioning telemetry end to end (reference §6.3 steps 9-10, §10.12): the bus-activated
provisioner sends `Provision` and `ProvisionGuestAgent` (the OVF's raw value) through the real
wire's SendEvents, once per provisioning, and the fabric simulator records them as classic's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.wait import wait_for
from waagent.common.names import WIRE

from .vm import Vm, simulated_vm

pytestmark = pytest.mark.integration

SENTINEL = "test sentinel: every event queued before it has reached the fabric"


def agent_events(vm: Vm, operation: str) -> list[dict[str, Any]]:
    return [
        event["params"]
        for record in vm.fabric.records("telemetry")
        for event in record["events"]
        if event["params"].get("Operation") == operation
    ]


def wait_events(vm: Vm, operation: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = wait_for(
        lambda: agent_events(vm, operation), timeout=30, what=f"{operation} telemetry"
    )
    return found


def flush(vm: Vm) -> None:
    """Send a sentinel event after whatever was queued and wait for it at the fabric: wire
    sends its queue in order, so anything queued earlier has arrived by then."""
    event = {
        "parameters": {"Name": "WALinuxAgent", "Operation": "TestSentinel", "Message": SENTINEL}
    }
    reply = vm.env.busctl.call(
        WIRE.name, WIRE.path, WIRE.interface, "SendEvents", "s", json.dumps({"events": [event]})
    )
    assert reply.ok, reply.error
    wait_events(vm, "TestSentinel")


def provision(vm: Vm) -> str:
    vm.prop("State")  # activates the provisioner, which provisions at start
    return vm.wait_state("Provisioned", "Failed")


@pytest.fixture(params=[False, True], ids=["without-agent", "with-agent"])
def provision_guest_agent(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def vm(tmp_path: Path, provision_guest_agent: bool) -> Iterator[Vm]:
    with simulated_vm(tmp_path, provision_guest_agent=provision_guest_agent) as simulated:
        yield simulated


def test_provisioning_sends_provision_and_provision_guest_agent_once(
    vm: Vm, provision_guest_agent: bool
) -> None:
    assert provision(vm) == "Provisioned", vm.prop("FailureReason")
    (agent,) = wait_events(vm, "ProvisionGuestAgent")
    assert agent["Message"] == ("true" if provision_guest_agent else "false")
    assert (agent["Name"], agent["OperationSuccess"]) == ("WALinuxAgent", True)
    (provisioned,) = wait_events(vm, "Provision")
    assert provisioned["OperationSuccess"] is True
    assert provisioned["Message"].startswith("Provisioning succeeded (")
    assert provisioned["Duration"] > 0
    # Asked again, the VM is provisioned already: no new event, as classic.
    assert vm.call("Provision").ok
    flush(vm)
    assert len(agent_events(vm, "ProvisionGuestAgent")) == 1
    assert len(agent_events(vm, "Provision")) == 1


def test_a_failed_provisioning_sends_the_failure(tmp_path: Path) -> None:
    with simulated_vm(tmp_path, user_name="bad;name", ssh_public_keys=[], key_pairs=[]) as vm:
        assert provision(vm) == "Failed"
        (failure,) = wait_events(vm, "Provision")
        assert failure["OperationSuccess"] is False
        assert failure["Message"].startswith("Provisioning failed: ")
        assert vm.prop("FailureReason") in failure["Message"]
        assert agent_events(vm, "ProvisionGuestAgent") == []
