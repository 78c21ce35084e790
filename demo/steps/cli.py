"""cli: the `waagent` command on a host without systemd: -start, status, a crash, -collect-logs.

This step runs its own private system (tests/cli/system.py): a bus with polkitd, the fabric
simulator and a sandbox root, with nothing activatable, so the services run only because
`waagent -start` runs them.
"""

from __future__ import annotations

import os
import signal

from tests.cli.system import CliSystem, cli_system, installed_services, kill
from tests.harness.environment import Environment
from tests.harness.procs import alive
from tests.harness.wait import wait_for
from waagent.common.names import DISK

from .common import heading, show


def _print(command: str, text: str) -> None:
    print(f"  $ {command}")
    for line in text.splitlines():
        print(f"    {line}")


def _run(system: CliSystem, *args: str) -> str:
    result = system.waagent(*args)
    _print(
        "waagent " + " ".join(a if "-root:" not in a else "-root:<sandbox>" for a in args),
        result.stdout + result.stderr,
    )
    return result.stdout


def _restart(system: CliSystem) -> None:
    before = system.owner(DISK.name)
    assert before is not None
    kill(before)
    after = wait_for(
        lambda: (pid := system.owner(DISK.name)) not in (None, before) and pid,
        timeout=30,
        what="diskd back",
    )
    show("SIGKILL to diskd", f"pid {before} -> pid {after}")
    line = next(
        line for line in system.log_text().splitlines() if "killed by SIGKILL; restarting" in line
    )
    show("waagent.log", line.split(" ", 3)[3])


def run(env: Environment) -> None:
    heading("cli: waagent -start on a host without systemd (own bus, polkitd, fabric, sandbox)")
    if os.geteuid() != 0:
        show("skipped", "needs root (setpriv to the wire user, polkitd)")
        return
    with cli_system() as system:
        root = f"-root:{system.root}"
        _run(system, "-version")
        pid = int(_run(system, "-start", root))
        system.wait_up(installed_services())
        _run(system, "status")
        heading("cli: a service that dies is started again (1 s, 2 s, 4 s ... 60 s)")
        _restart(system)
        heading("cli: -collect-logs, through wire to the fabric")
        _run(system, "-collect-logs", root)
        record = system.fabric.records("log-upload")[-1]
        show("fabric: log-upload files", record["files"])
        heading("cli: SIGTERM stops the daemon and its services")
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not alive(pid), timeout=60, what="the daemon to stop")
        show("services on the bus", [n for n in installed_services() if system.owner(n)])
