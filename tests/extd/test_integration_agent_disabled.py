"""ProvisionGuestAgent=false end to end: the fabric's OVF says so, the provisioner (bus-activated
with the DVD) writes disable_agent, and the goal state's extension never runs; the fabric
receives a status that says why, and an operation by hand is refused."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.harness.environment import Environment
from tests.harness.fabric import fabric_for
from tests.harness.wait import wait_for
from tests.provisioner import samples
from tests.provisioner.system import build_system, product_uuid_tree
from tests.provisioner.vm import CONFIG as PROVISIONING_CONFIG
from tests.provisioner.vm import scenario as provisioning_scenario
from waagent.common.names import PROVISIONER

from .system import PROBE, System, detail, message, probe_extension

pytestmark = pytest.mark.integration

WHY = "the VM was deployed without the guest agent (ProvisionGuestAgent=false)"


@contextlib.contextmanager
def deployed_vm(
    base: Path, *, provision_guest_agent: bool, provisioner_delay: float = 0
) -> Iterator[System]:
    """A VM booting from the fabric's DVD with one extension in its goal state; the provisioner
    starts `provisioner_delay` seconds after it is asked for (a slow boot)."""
    scenario = provisioning_scenario(provision_guest_agent=provision_guest_agent).model_copy(
        update={"extensions": [probe_extension(seq_no=1)]}
    )
    with fabric_for(None, scenario) as fabric:
        config = {**PROVISIONING_CONFIG, "Extensions.GoalStatePeriod": "2"}
        with Environment(config=config, endpoint=fabric.address) as env:
            build_system(env.sandbox.root)
            dev, sysfs = base / "dev", product_uuid_tree(base / "sys", samples.VM_ID)
            dev.mkdir(parents=True)
            fabric.write_ovf_image(dev / "sr0")
            argv = env.service_argv(
                PROVISIONER.program, "--dev-root", str(dev), "--sysfs-root", str(sysfs)
            )
            if provisioner_delay:
                argv = ["/bin/sh", "-c", f'sleep {provisioner_delay:g}; exec "$0" "$@"', *argv]
            env.bus.add_service(PROVISIONER.name, argv)
            yield System(env, fabric)


def boot(system: System) -> None:
    """What a boot does: the provisioner starts (any call activates it) and reports Ready."""
    busctl = system.env.busctl

    def state() -> Any:
        return busctl.get_property(
            PROVISIONER.name, PROVISIONER.path, PROVISIONER.interface, "State"
        )

    assert wait_for(lambda: state() in ("Provisioned", "Failed") and state(), timeout=60) == (
        "Provisioned"
    )


@pytest.fixture
def without_agent(tmp_path: Path) -> Iterator[System]:
    with deployed_vm(tmp_path, provision_guest_agent=False) as system:
        boot(system)
        yield system


def test_the_extension_never_runs_and_the_fabric_is_told_why(without_agent: System) -> None:
    system = without_agent
    assert system.lib_dir.joinpath("disable_agent").read_bytes() == b""
    system.refresh()
    outcome = system.wait_goal_state("Failed")
    assert WHY in outcome["formattedMessage"]["message"]
    assert outcome["code"] == 1000
    entry = system.wait_entry(PROBE, lambda e: e["status"] == "NotReady")
    assert message(entry) == f"Extension '{PROBE}' will not be processed: {WHY}"
    assert (detail(entry)["status"], detail(entry)["code"]) == ("error", 1009)
    assert WHY in detail(entry)["formattedMessage"]["message"]
    # Nothing was downloaded, unpacked or run.
    assert system.operations(PROBE) == []
    assert not system.handler_dir(PROBE, "1.0.0").exists()
    assert [r for r in system.fabric.records("artifact") if r.fields["name"] == PROBE] == []
    assert "ProvisionGuestAgent=false" in system.service_log()


def test_agent_disabled_telemetry_reaches_the_fabric(without_agent: System) -> None:
    system = without_agent
    system.refresh()
    system.wait_goal_state("Failed")

    def disabled() -> list[dict[str, Any]]:
        events = [e for r in system.fabric.records("telemetry") for e in r["events"]]
        return [e for e in events if e["params"].get("Operation") == "AgentDisabled"]

    (event,) = wait_for(disabled, timeout=20, what="the AgentDisabled event")
    assert WHY in event["params"]["Message"]


def test_an_operation_by_hand_is_refused_with_the_reason(without_agent: System) -> None:
    system = without_agent
    system.refresh()
    system.wait_entry(PROBE, lambda e: e["status"] == "NotReady")
    reply = system.call_extension(PROBE, "Enable")
    assert not reply.ok
    assert reply.error == f"Call failed: extensions are not processed: {WHY}"
    assert system.operations(PROBE) == []


def test_with_the_agent_provisioned_the_same_goal_state_runs(tmp_path: Path) -> None:
    with deployed_vm(tmp_path, provision_guest_agent=True) as system:
        boot(system)
        assert not system.lib_dir.joinpath("disable_agent").exists()
        system.refresh()
        system.wait_extension_status(PROBE, "success", seq=1)
        assert system.wait_goal_state("Success")["code"] == 0
        assert {r.fields["name"] for r in system.fabric.records("artifact")} >= {PROBE}


def test_on_first_boot_extensions_wait_for_a_slow_provisioner(tmp_path: Path) -> None:
    """The first-boot race: wire starts first and has the goal state with the extension at once,
    the provisioner takes seconds to start; extd gets the goal state only after provisioning
    wrote disable_agent and reported Ready, so the extension never runs."""
    with deployed_vm(tmp_path, provision_guest_agent=False, provisioner_delay=3) as system:
        system.start()  # only wire: it fetches the goal state and would hand it over at once
        outcome = system.wait_goal_state("Failed", timeout=60)
        assert WHY in outcome["formattedMessage"]["message"]
        entry = system.wait_entry(PROBE, lambda e: e["status"] == "NotReady")
        assert message(entry) == f"Extension '{PROBE}' will not be processed: {WHY}"
        assert system.operations(PROBE) == []
        assert not system.handler_dir(PROBE, "1.0.0").exists()
        assert [r for r in system.fabric.records("artifact") if r.fields["name"] == PROBE] == []
        # Wire had the goal state long before provisioning was done, and held it back.
        (ready,) = [r for r in system.fabric.records("health") if r["state"] == "Ready"]
        first_goal_state = next(r for r in system.fabric.requests() if r.endpoint == "goalstate")
        assert first_goal_state.timestamp < ready.timestamp - timedelta(seconds=2)
        assert "extensions wait until provisioning is done" in system.service_log()
