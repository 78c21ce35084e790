"""SCVMM in the booted VM (DetectScvmmEnv=y): the provisioner unit hands the DVD's bootstrap to
systemd as waagent-scvmm.service, which runs it outside the provisioner's sandbox and cgroup with
its one-hour limit; nothing is provisioned and nothing reported."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.wait import wait_for
from tests.system.container import missing_tools
from tests.system.vm import Vm, booted_vm
from waagent.fabric.scenario import Scenario

pytestmark = pytest.mark.system
if reason := missing_tools():
    pytestmark = [pytest.mark.system, pytest.mark.skip(reason=reason)]

RECORD = "/var/tmp/scvmm-install-args"
PROVISIONER = "org.waagent.Provisioner1"


@pytest.fixture(scope="module")
def vm() -> Iterator[Vm]:
    default = Scenario.default()
    provisioning = default.provisioning.model_copy(update={"scvmm_record": RECORD})
    scenario = default.model_copy(update={"provisioning": provisioning})
    with booted_vm({"DetectScvmmEnv": "y"}, scenario=scenario) as booted:
        wait_for(
            lambda: booted.run("test", "-e", RECORD).returncode == 0,
            timeout=120,
            what="the SCVMM bootstrap to run",
        )
        yield booted


def test_the_bootstrap_ran_with_the_private_copy_of_the_dvd(vm: Vm) -> None:
    assert vm.run("cat", RECORD).stdout.splitlines() == ["-p", "/run/waagent/scvmm"]
    listing = vm.run("stat", "-c", "%a %U", "/run/waagent/scvmm").stdout.strip()
    assert listing == "700 root"


def test_it_ran_as_its_own_transient_unit_outside_the_provisioner(vm: Vm) -> None:
    cgroup = vm.run("cat", f"{RECORD}.cgroup").stdout
    assert "/waagent-scvmm.service" in cgroup
    assert "waagent-provisioner.service" not in cgroup
    # A transient unit is gone once it ended; the journal keeps its run (the one-hour limit
    # it was given is checked in tests/provisioner/test_scvmm.py).
    journal = vm.run("journalctl", "--no-pager", "-u", "waagent-scvmm.service").stdout
    assert "Started waagent-scvmm.service" in journal
    assert "waagent-scvmm.service: Deactivated successfully" in journal


def test_nothing_was_provisioned_and_the_state_says_scvmm(vm: Vm) -> None:
    assert vm.prop(PROVISIONER, "State") == "SCVMM"
    assert vm.run("id", "azureuser").returncode != 0
    assert vm.run("test", "-e", "/var/lib/waagent/provisioned").returncode != 0
    health = vm.fabric.client.records("health")
    assert [r for r in health if r["state"] == "Ready"] == []
