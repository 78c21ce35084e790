"""The agent's own limits in a booted VM (systemd as PID 1, the units as installed), and
`CGroups.Enabled=n` turning the per-extension slices and their limits off."""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterator

import pytest

from tests.harness.paths import REPO, TEST_DATA
from tests.harness.wait import wait_for
from tests.system.container import missing_tools
from tests.system.vm import Vm, provisioned_vm

pytestmark = pytest.mark.system

if reason := missing_tools():
    pytestmark = [pytest.mark.system, pytest.mark.skip(reason=reason)]

PARITY = "Contoso.Probe.Parity"
CONFIG = {
    "Provisioning.RegenerateSshHostKeyPair": "y",
    "Provisioning.SshHostKeyPairType": "ed25519",
    "Services.IdleTimeout": "30",
    "Extensions.GoalStatePeriod": "2",
    "CGroups.Enabled": "n",
    "Extensions.CPUQuota": "37",
    "Extensions.MemoryLimitMB": "333",
}
UNITS = sorted(p.name.removesuffix(".in") for p in (REPO / "systemd/units").glob("*.service.in"))
SUFFIX = {"K": 10, "M": 20, "G": 30}


def configured(unit: str) -> dict[str, str]:
    """The limits the unit file sets, as `systemctl show` prints them."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((REPO / "systemd/units" / f"{unit}.in").read_text())
    service = parser["Service"]
    percent = int(service["CPUQuota"].removesuffix("%"))
    size = {k: service[k] for k in ("MemoryHigh", "MemoryMax")}
    return {
        "CPUQuotaPerSecUSec": f"{percent * 10}ms" if percent < 100 else "1s",
        **{k: str(int(v[:-1]) << SUFFIX[v[-1]]) for k, v in size.items()},
    }


@pytest.fixture(scope="module")
def vm() -> Iterator[Vm]:
    with provisioned_vm(CONFIG) as booted:
        yield booted


@pytest.mark.parametrize("unit", UNITS)
def test_each_unit_runs_with_its_cpu_and_memory_limits(vm: Vm, unit: str) -> None:
    shown = vm.show(unit, "LoadState", "CPUQuotaPerSecUSec", "MemoryHigh", "MemoryMax")
    assert shown.pop("LoadState") == "loaded"
    assert shown == configured(unit)


def test_the_running_wire_is_in_its_limited_cgroup(vm: Vm) -> None:
    vm.prop("org.waagent.Wire1", "State")  # wire exits when idle (its poller stays): wake it
    pid = vm.show("waagent-wire.service", "MainPID")["MainPID"]
    assert pid != "0", "wire is not running"
    cgroup = vm.run("cat", f"/proc/{pid}/cgroup").stdout
    assert re.search(r"/azure\.slice/waagent-wire\.service$", cgroup, re.M), cgroup


def test_with_cgroups_disabled_extension_commands_run_without_per_extension_limits(
    vm: Vm,
) -> None:
    versions = [{"version": "1.0.0", "handler_dir": str(TEST_DATA / "extensions" / "parity")}]
    vm.fabric.client.add_extension(PARITY, version="1.0.0", versions=versions)
    wait_for(
        lambda: vm.run("test", "-s", "/var/tmp/parity/cgroup").returncode == 0,
        timeout=120,
        what="the parity probe's enable",
    )
    cgroup = vm.run("cat", "/var/tmp/parity/cgroup").stdout
    assert re.search(
        r"/azure\.slice/azure-vmextensions\.slice/waagent-extension-enable-[0-9a-f]{16}\.service$",
        cgroup,
        re.M,
    ), cgroup
    limits = vm.show(f"azure-vmextensions-{PARITY}.slice", "CPUQuotaPerSecUSec", "MemoryMax")
    assert limits == {"CPUQuotaPerSecUSec": "infinity", "MemoryMax": "infinity"}
    assert vm.show("azure-vmextensions.slice", "CPUQuotaPerSecUSec", "MemoryMax") == limits
