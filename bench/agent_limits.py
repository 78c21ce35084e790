"""What the units' CPUQuota costs: extd's bus activation (the cold start in front of every
goal state with extensions) in the booted system-test VM, with the unit's CPUQuota=50% and with
the quota lifted at runtime (`systemctl set-property --runtime waagent-extd.service CPUQuota=`),
alternating, so both see the same machine load. Prints figures; asserts nothing. Needs root.
Run: .venv/bin/python bench/agent_limits.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness.wait import wait_for
from tests.system.vm import Vm, provisioned_vm
from waagent.common.names import EXTENSIONS

RUNS = 7


def cold_start(vm: Vm) -> float:
    """Seconds from a property read to the answer, extd stopped before."""
    vm.run("systemctl", "stop", "waagent-extd.service")
    wait_for(
        lambda: vm.show("waagent-extd.service", "ActiveState")["ActiveState"] == "inactive",
        timeout=60,
        what="extd stopped",
    )
    started = time.monotonic()
    vm.prop(EXTENSIONS.name, "GoalStateId")
    return time.monotonic() - started


def quota_enforced(vm: Vm) -> bool:
    """Is extd in a cpu cgroup of its own (cgroup v1 `cpu:` line, or v2 with cpu enabled)?"""
    vm.prop(EXTENSIONS.name, "GoalStateId")
    pid = vm.show("waagent-extd.service", "MainPID")["MainPID"]
    lines = vm.run("cat", f"/proc/{pid}/cgroup").stdout.splitlines()
    cpu = [line for line in lines if line.split(":")[1] in ("cpu", "cpu,cpuacct")]
    if cpu:
        return cpu[0].rsplit(":", 1)[1] != "/"
    controllers = vm.run("cat", "/sys/fs/cgroup/cgroup.subtree_control").stdout.split()
    return "cpu" in controllers


def main() -> int:
    figures: dict[str, list[float]] = {"CPUQuota=50%": [], "no quota": []}
    with provisioned_vm({"Services.IdleTimeout": "300"}) as vm:
        if not quota_enforced(vm):
            print("the cpu controller is not delegated to this container (systemd shows the")
            print("quota, the kernel does not apply it): both figures measure the same thing")
        cold_start(vm)  # warm the page cache
        for _ in range(RUNS):
            for label, quota in (("CPUQuota=50%", "50%"), ("no quota", "")):
                vm.run("systemctl", "set-property", "--runtime", "waagent-extd.service",
                       f"CPUQuota={quota}")  # fmt: skip
                figures[label].append(cold_start(vm))
    print(f"extd bus activation in the VM (property read answered), {RUNS} runs: median (min-max)")
    for label, values in figures.items():
        print(
            f"  {label:<14}{statistics.median(values):6.2f} s ({min(values):.2f}-{max(values):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
