"""daemon_on_demand: `waagent -daemon` without systemd, services started on demand by the bus.

Its own private system (tests/cli/system.py) with no system bus where the daemon looks, so the
daemon runs a dbus-daemon of its own whose activation files it wrote: only wire stays resident,
every other service is started by a call and leaves when idle.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from tests.cli.system import NO_FIREWALL, NO_PROVISIONING, QUIET, CliSystem, cli_system
from tests.harness.environment import Environment
from tests.harness.procs import alive, pids_with_marker
from tests.harness.wait import wait_for
from waagent.common.names import DISK, WIRE

from .common import heading, show

IDLE_TIMEOUT = 3


def _processes(system: CliSystem) -> list[str]:
    found = []
    for pid in sorted(pids_with_marker(str(system.root))):
        if alive(pid):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            program = next((a.decode() for a in argv if a.startswith(b"waagent.")), "")
            found.append(f"{pid} {program or os.path.basename(argv[0].decode())}")
    return found


def run(env: Environment) -> None:
    heading("daemon: waagent -daemon without systemd, services on demand (bus activation)")
    if os.geteuid() != 0:
        show("skipped", "needs root (setpriv to the wire user, polkitd)")
        return
    with cli_system() as system:
        config = {**QUIET, **NO_PROVISIONING, **NO_FIREWALL}
        system.env.sandbox.write_config(config | {"Services.IdleTimeout": str(IDLE_TIMEOUT)})
        address = f"unix:path={system.env.base}/own-bus/system_bus_socket"
        daemon = system.start_daemon(address=address)
        system.wait_up(["org.freedesktop.DBus", WIRE.name], address=address)
        wait_for(
            lambda: "extd idle: releasing" in system.log_text(),
            timeout=60,
            what="the services started at boot to leave when idle",
        )
        show("at boot, then idle", "diskd, provisioner, extd ran once and exited")
        wait_for(lambda: len(_processes(system)) == 3, timeout=30, what="three processes")
        show("processes at idle", ", ".join(_processes(system)))
        started = time.perf_counter()
        subprocess.run(
            ["busctl", f"--address={address}", "get-property", DISK.name, DISK.path,
             DISK.interface, "Mounted"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        pid = system.owner(DISK.name, address)
        show("busctl get-property Disk1 Mounted", f"diskd activated (pid {pid}) in "
             f"{time.perf_counter() - started:.2f} s")  # fmt: skip
        wait_for(lambda: pid is None or not alive(pid), timeout=60, what="diskd to exit")
        show(f"Services.IdleTimeout={IDLE_TIMEOUT}", f"diskd exited after "
             f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        show("SIGTERM: processes left", _processes(system) or "none")
