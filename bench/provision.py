"""provisioner: time from the service start to the Ready report the fabric recorded, by step.

A simulated VM per run with the fabric simulator's default provisioning (a user with an SSH key
by value and custom data; host keys regenerated; the root password locked; a sandbox root), the
provisioner bus-activated by a property read, as at boot.
Measured for Provisioning.SshHostKeyPairType rsa and ed25519, and for three states of wire:
up with its goal state (the provisioner's own cost), just started (as at boot, where
waagent.target starts both at once), and started on demand by the provisioner's first report.
Steps come from the provisioner's record (<Lib.Dir>/provisioner.json). Prints figures; asserts
nothing. Needs root. Run: .venv/bin/python bench/provision.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness.wait import wait_for
from tests.provisioner.vm import simulated_vm
from waagent.common.names import WIRE
from waagent.fabric.scenario import Scenario

RUNS = 3
CLASSIC_READY = 0.50  # classic agent, ed25519 host keys, this kind of machine (DESIGN.md)


WIRE_STATES = {
    "wire up with its goal state": "Refresh",
    "wire just started": "Ping",
    "wire started on demand": None,
}


def one_run(kind: str, wire_call: str | None) -> tuple[float, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="bench-provision-") as tmp:
        config = {"Provisioning.SshHostKeyPairType": kind, "Services.IdleTimeout": "30"}
        default = Scenario.default().provisioning
        provisioning = {
            "password": None,
            "key_pairs": [],
            "ssh_public_keys": default.ssh_public_keys,
            "custom_data": default.custom_data,
        }
        with simulated_vm(Path(tmp), config=config, **provisioning) as vm:
            if wire_call is not None:
                assert vm.env.busctl.call(WIRE.name, WIRE.path, WIRE.interface, wire_call).ok
            started = time.time()
            vm.prop("State")  # activates the provisioner, which provisions at start
            ready = wait_for(
                lambda: [r for r in vm.fabric.records("health") if r["state"] == "Ready"],
                timeout=120,
                interval=0.002,
                what="the Ready report",
            )[0]
            total = ready.timestamp.timestamp() - started
            assert vm.wait_state("Provisioned") == "Provisioned"
            record = json.loads(vm.path("/var/lib/waagent/provisioner.json").read_text())
            steps = {step["name"]: step["seconds"] for step in record["steps"]}
    return total, steps


def main() -> int:
    print(f"provisioning: service start -> Ready recorded by the fabric ({RUNS} runs, median)")
    budget = CLASSIC_READY / 3
    print(f"classic agent: {CLASSIC_READY:.2f} s (ed25519); budget, 1/3 of it: {budget:.3f} s")
    for wire, wire_call in WIRE_STATES.items():
        for kind in ("ed25519", "rsa"):
            totals: list[float] = []
            steps: dict[str, list[float]] = defaultdict(list)
            for _ in range(RUNS):
                total, timings = one_run(kind, wire_call)
                totals.append(total)
                for name, seconds in timings.items():
                    steps[name].append(seconds)
            print(
                f"\nhost keys {kind}, {wire}: {statistics.median(totals):.3f} s "
                f"(min {min(totals):.3f}, max {max(totals):.3f})"
            )
            accounted = 0.0
            for name, values in steps.items():
                median = statistics.median(values)
                accounted += median
                print(f"  {name:<30} {median * 1000:8.1f} ms")
            rest = statistics.median(totals) - accounted
            print(f"  {'(process start, imports, bus)':<30} {rest * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
