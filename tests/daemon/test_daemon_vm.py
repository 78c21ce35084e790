"""A fresh VM under `waagent -daemon`: provisioned from its DVD, Ready received by the fabric.

This is why wire starts before the provisioner: nothing bus-activates wire in this mode, and
the provisioner reports through it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.system import CliSystem, cli_system, installed_services
from tests.harness.wait import wait_for
from tests.provisioner import samples
from tests.provisioner.machine import require_accounts
from tests.provisioner.system import build_system, product_uuid_tree
from tests.provisioner.vm import CONFIG, scenario
from waagent.common.names import PROVISIONER

pytestmark = pytest.mark.integration


@pytest.fixture
def vm() -> Iterator[CliSystem]:
    require_accounts()
    with cli_system({**CONFIG, "Provisioning.Agent": "waagent"}, scenario()) as system:
        build_system(system.root)
        product_uuid_tree(system.root / "sys", samples.VM_ID)
        system.fabric.write_ovf_image(system.root / "dev" / "sr0")
        yield system


def test_a_fresh_vm_is_provisioned_and_the_fabric_hears_ready(vm: CliSystem) -> None:
    vm.start_daemon()
    vm.wait_up(installed_services())
    states = wait_for(
        lambda: (s := [r["state"] for r in vm.fabric.records("health")]) and "Ready" in s and s,
        timeout=60,
        what="Ready at the fabric",
    )
    assert "NotReady" not in states[states.index("Ready") :]
    state = vm.env.busctl.get_property(
        PROVISIONER.name, PROVISIONER.path, PROVISIONER.interface, "State"
    )
    assert state == "Provisioned"
    assert (vm.root / "home" / samples.USER).is_dir()


def test_on_its_own_bus_the_provisioner_started_on_demand_provisions_and_reports_ready(
    vm: CliSystem,
) -> None:
    address = f"unix:path={vm.env.base}/own-bus/system_bus_socket"
    vm.start_daemon(address=address)
    wait_for(
        lambda: "Ready" in [r["state"] for r in vm.fabric.records("health")],
        timeout=90,
        what="Ready at the fabric",
    )
    assert f"{PROVISIONER.name} is up (started on demand)" in vm.log_text()
    assert (vm.root / "home" / samples.USER).is_dir()
