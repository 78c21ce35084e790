"""Provisioning on the booted system-test VM: the first waagent unit's start to Ready at the fabric.

The figure of issue 17 and of DESIGN.md, measured as the classic agent was on the reference
harness (Debian 12 booted with systemd in a container, the fabric at 168.63.129.16): the clock
starts when systemd starts the first waagent unit (`InactiveExitTimestampMonotonic`) and stops at
the Ready report the fabric recorded. The container shares the host's kernel clocks (no time
namespace), so the VM's monotonic stamps and the fabric's wall-clock records are put on one axis
with the host's offset between the two clocks.

Prints, per run and as min/median/max: container start (systemd's userspace start) → Ready,
unit start → Ready, each waagent unit's start offset, and the provisioner's own steps (its record,
/var/lib/waagent/provisioner.json). Prints figures; asserts nothing. Needs root; each run boots a
VM (about 30-60 s). Run: .venv/bin/python bench/provision_vm.py [--kind ed25519|rsa] [--runs N]
[--variant diskd-first|diskd-after|poller-after|provisioner-nice|provisioner-weight]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness.wait import wait_for
from tests.system.container import Container
from tests.system.vm import booted_vm

# Classic agent 2.15 on the reference harness (issue 17's table): walinuxagent.service start,
# and container start, to Ready.
CLASSIC = {"ed25519": 0.54, "rsa": 0.97}
CLASSIC_CONTAINER = {"ed25519": 0.89}
UNITS = ("diskd", "provisioner", "wire", "extd", "netd", "network-setup", "entropy", "rdma")


# Other boot orders, each as a drop-in, measured on alternate runs under the same load
# (`--variant`): until issue 17 the provisioner was ordered after diskd; "diskd-after" leaves
# the provisioner's start-up (interpreter and imports) the cores to itself, as the classic agent
# formats the resource disk only after provisioning.
VARIANTS = {
    "diskd-first": ("waagent-provisioner.service", "[Unit]\nAfter=waagent-diskd.service\n"),
    "diskd-after": ("waagent-diskd.service", "[Unit]\nAfter=waagent-provisioner.service\n"),
    # The poller only waits for wire's lock while wire runs its first goal state: its start-up
    # (~0.1 s of CPU) after the provisioner's READY=1.
    "poller-after": ("waagent-wirepoll.service", "[Unit]\nAfter=waagent-provisioner.service\n"),
    # The provisioner's start-up is the path to Ready while wire, the poller and the DHCP routes'
    # unit start beside it on the same cores: it first, by priority or by cgroup weight.
    "provisioner-nice": ("waagent-provisioner.service", "[Service]\nNice=-10\n"),
    "provisioner-weight": ("waagent-provisioner.service", "[Service]\nStartupCPUWeight=1000\n"),
}


def with_variant(name: str) -> Callable[[Container], None]:
    unit, text = VARIANTS[name]

    def prepare(box: Container) -> None:
        dropin = box.path(f"/etc/systemd/system/{unit}.d/bench-{name}.conf")
        dropin.parent.mkdir(parents=True, exist_ok=True)
        dropin.write_text(text)

    return prepare


def one_run(kind: str, variant: str | None = None) -> dict[str, float]:
    config = {"Provisioning.SshHostKeyPairType": kind}
    with booted_vm(config, with_variant(variant) if variant else None) as vm:
        ready = wait_for(
            lambda: [r for r in vm.fabric.client.records("health") if r["state"] == "Ready"],
            timeout=180,
            interval=0.05,
            what="the Ready report",
        )[0]
        wait_for(
            lambda: vm.box.path("/var/lib/waagent/provisioner.json").exists(),
            timeout=60,
            what="the provisioner's record",
        )
        offset = time.time() - time.monotonic()  # the host's, and so the VM's, clocks
        ready_mono = ready.timestamp.timestamp() - offset
        starts = {u: vm.monotonic(f"waagent-{u}.service") for u in UNITS}
        started = {u: s for u, s in starts.items() if s is not None}
        first = min(started.values())
        userspace = vm.run("systemctl", "show", "-P", "UserspaceTimestampMonotonic").stdout
        figures = {
            "unit start -> Ready": ready_mono - first,
            "container start -> Ready": ready_mono - int(userspace.strip()) / 1e6,
        }
        for unit, at in sorted(started.items(), key=lambda item: item[1]):
            figures[f"start of waagent-{unit} (after the first)"] = at - first
        record = json.loads(vm.box.path("/var/lib/waagent/provisioner.json").read_text())
        for step in record.get("steps", []):
            figures[f"provisioner step: {step['name']}"] = step["seconds"]
        return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--kind", choices=("ed25519", "rsa"), action="append")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variant", choices=sorted(VARIANTS), help="also this order, alternately")
    args = parser.parse_args()
    for kind in args.kind or ["ed25519", "rsa"]:
        runs: dict[str, list[float]] = defaultdict(list)
        old: list[float] = []
        for n in range(args.runs):
            figures = one_run(kind)
            total = figures["unit start -> Ready"]
            print(f"run {n + 1} ({kind}): unit start -> Ready {total:.3f} s")
            for name, value in figures.items():
                runs[name].append(value)
            if args.variant:
                old.append(one_run(kind, args.variant)["unit start -> Ready"])
                print(f"run {n + 1} ({kind}), {args.variant}: {old[-1]:.3f} s")
        budget = CLASSIC[kind] / 3
        print(f"\nhost keys {kind}, {args.runs} runs: min / median / max, in seconds")
        for name, values in runs.items():
            line = f"  {name:<48} {min(values):7.3f} {statistics.median(values):7.3f} "
            line += f"{max(values):7.3f}"
            if name == "unit start -> Ready":
                line += f"   classic {CLASSIC[kind]:.2f} s, budget {budget:.2f} s"
            elif name == "container start -> Ready" and kind in CLASSIC_CONTAINER:
                line += f"   classic {CLASSIC_CONTAINER[kind]:.2f} s"
            print(line)
        if old:
            line = f"  {'the same, ' + str(args.variant):<48} {min(old):7.3f} "
            print(line + f"{statistics.median(old):7.3f} {max(old):7.3f}")
        print("  (classic figures: classic 2.15 measured on the reference harness, issue 17)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
