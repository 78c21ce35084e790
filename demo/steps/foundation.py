"""Bus activation, introspection, the configuration, idle exit (the foundation)."""

from __future__ import annotations

import subprocess
import time

from tests.harness.environment import Environment
from tests.harness.paths import PYTHON
from tests.harness.polkitd import name_has_owner
from tests.harness.wait import wait_for
from waagent.common.names import DISK, WIRE

from .common import heading, show


def run(env: Environment) -> None:
    heading("Bus activation: nothing runs until the first call")
    started = time.monotonic()
    reply = env.busctl.call(WIRE.name, WIRE.path, WIRE.interface, "Ping", user="nobody")
    show(
        "busctl call Wire1 Ping (as nobody)", f"{reply.data} in {time.monotonic() - started:.3f} s"
    )
    for prop in ("Version", "State"):
        show(f"Wire1.{prop}", env.busctl.get_property(WIRE.name, WIRE.path, WIRE.interface, prop))
    owner = env.busctl.call(
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "GetConnectionUnixUser",
        "s",
        WIRE.name,
    )
    show("Wire1 runs as uid", owner.data[0])
    heading(f"busctl introspect {WIRE.name} {WIRE.path} {WIRE.interface}")
    print(env.busctl.run("introspect", WIRE.name, WIRE.path, WIRE.interface).stdout)

    heading("waagent -show-configuration (first lines)")
    result = subprocess.run(
        [
            PYTHON,
            "-m",
            "waagent.cli",
            "-show-configuration",
            f"-configuration-path:{env.sandbox.config_path}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for line in result.stdout.splitlines()[:6]:
        print("  " + line)
    print(f"  ... {len(result.stdout.splitlines())} keys")

    heading("Idle exit: a bus-activated service leaves the bus when unused")
    state = env.busctl.get_property(DISK.name, DISK.path, DISK.interface, "State", user="nobody")
    show("Disk1.State (read as nobody, activates diskd)", state)
    started = time.monotonic()
    wait_for(lambda: not name_has_owner(env.bus, DISK.name), timeout=60, what="idle exit")
    show("Disk1 released its name after", f"{time.monotonic() - started:.1f} s")
    show("Wire1 (resident: it polls the goal state)", "still on the bus")
