"""The provisioning gate (wire/provisioning_gate.py): which answers of the provisioner and which
health reports count as "provisioning done", so no mode blocks extensions forever. The gate is
driven by hand-written answers here; tests/extd/test_integration_agent_disabled.py runs the race
with the real services."""

from __future__ import annotations

import asyncio

import pytest

from waagent.common.bus.client import ServiceUnavailable
from waagent.wire.provisioning_gate import ProvisioningGate


def opened_after(answer: str | Exception, *reports: tuple[str, str]) -> bool:
    async def scenario() -> bool:
        answered = asyncio.Event()

        async def ask() -> str:
            answered.set()  # the gate takes the answer before this task yields again
            if isinstance(answer, Exception):
                raise answer
            return answer

        gate = ProvisioningGate(ask)
        waiting = asyncio.ensure_future(gate.wait())
        await answered.wait()
        for state, substatus in reports:
            gate.health_reported(state, substatus)
        await asyncio.sleep(0)
        opened = waiting.done()
        waiting.cancel()
        await gate.close()
        return opened

    return asyncio.run(scenario())


@pytest.mark.parametrize("state", ["Provisioned", "Failed", "NotProvisioned"])
def test_a_provisioner_that_is_not_provisioning_opens_the_gate(state: str) -> None:
    assert opened_after(state)


def test_while_provisioning_the_gate_stays_closed_until_ready() -> None:
    assert not opened_after("Provisioning")
    assert not opened_after("Provisioning", ("NotReady", "Provisioning"))
    assert opened_after("Provisioning", ("NotReady", "Provisioning"), ("Ready", ""))


def test_a_failed_provisioning_opens_the_gate_as_classic_goes_on() -> None:
    assert opened_after("Provisioning", ("NotReady", "ProvisioningFailed"))


def test_without_a_provisioner_installed_the_gate_opens() -> None:
    missing = ServiceUnavailable(
        "org.waagent.Provisioner1", "not found", "org.freedesktop.DBus.Error.ServiceUnknown"
    )
    assert opened_after(missing)


def test_a_provisioner_failing_to_start_is_asked_again_not_let_through() -> None:
    crashed = ServiceUnavailable(
        "org.waagent.Provisioner1", "exited", "org.freedesktop.DBus.Error.Spawn.ChildExited"
    )
    assert not opened_after(crashed)
