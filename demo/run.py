"""`make demo`: the agent end to end on a private system bus, against real components.

Starts a private dbus-daemon with the project's policy files, a real polkitd with the project's
polkit actions, and a sandbox root; then each step in demo/steps talks to the services as an
admin would (busctl, the waagent command) and prints what they answer. Nothing on the host is
changed, and everything started is stopped at the end, also on failure.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.steps import (
    boot,
    cli,
    daemon_on_demand,
    dhcp,
    diskd,
    extensions,
    fabric,
    fast_track,
    foundation,
    hostname,
    jit_users,
    kvp,
    log_collection,
    network,
    provisioner,
    scvmm,
    system_files,
)
from demo.steps.common import heading, show
from tests.harness.environment import Environment
from tests.harness.fabric import fabric_for

# Each capability adds its step here, in the order a VM meets them.
STEPS = [foundation, diskd, provisioner, boot, jit_users, scvmm, fabric, extensions, fast_track]
STEPS += [network, kvp, dhcp, hostname, system_files, cli, log_collection]
STEPS += [daemon_on_demand]

CONFIG = {"Services.IdleTimeout": "5", "Extensions.GoalStatePeriod": "2"}
CONFIG["OS.RootDeviceScsiTimeout"] = "300"  # diskd's udev rule for disks attached later


def main() -> int:
    heading("Starting a private system: fabric simulator, dbus-daemon, polkitd, sandbox root")
    with fabric_for() as fabric, Environment(endpoint=fabric.address, config=CONFIG) as env:
        env.fabric = fabric
        show("bus", env.address)
        show("sandbox root", env.sandbox.root)
        show("fabric simulator", fabric.address)
        for step in STEPS:
            step.run(env)
    heading("Everything stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
