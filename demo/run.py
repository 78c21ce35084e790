"""`make demo`: the agent end to end on a private system bus, against real components.

Starts a private dbus-daemon with the project's policy files, a real polkitd with the project's
polkit actions, and a sandbox root; then talks to the services as an admin would (busctl, the
waagent command) and prints what they answer. Nothing on the host is changed, and everything
started is stopped at the end, also on failure.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness.environment import Environment
from tests.harness.paths import PYTHON
from tests.harness.polkitd import name_has_owner
from tests.harness.wait import wait_for
from waagent.common.names import WIRE


def heading(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def show(label: str, value: object) -> None:
    print(f"  {label:<38} {value}", flush=True)


def busctl_demo(env: Environment) -> None:
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
    heading("busctl introspect org.waagent.Wire1 /org/waagent/Wire1 org.waagent.Wire1")
    print(env.busctl.run("introspect", WIRE.name, WIRE.path, WIRE.interface).stdout)


def configuration_demo(env: Environment) -> None:
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


def main() -> int:
    env = Environment(config={"Services.IdleTimeout": "5"})
    heading("Starting a private system: dbus-daemon, polkitd, sandbox root")
    with env:
        show("bus", env.address)
        show("sandbox root", env.sandbox.root)
        busctl_demo(env)
        configuration_demo(env)
        heading("Idle exit: the service leaves the bus when unused")
        started = time.monotonic()
        wait_for(lambda: not name_has_owner(env.bus, WIRE.name), timeout=30, what="idle exit")
        show("Wire1 released its name after", f"{time.monotonic() - started:.1f} s")
    heading("Everything stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
