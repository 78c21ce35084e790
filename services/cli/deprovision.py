"""`waagent -deprovision[+user] [-force]`: the classic interaction (reference §7.1) over D-Bus.

The warnings come from the provisioner (`PlanDeprovision`), so what is printed is what will be
done. Unless -force, the answer to `Do you want to proceed (y/n)` must start with y. Ctrl-C
before the actions start stops cleanly; once they run it is refused, as classic: the provisioner
does the work in its own process, and a half-made capture is worse than a finished one.
`Deprovision` is sent with interactive authorization allowed, so polkit may ask a password
through the caller's authentication agent.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TextIO

from ..common.bus.client import call, connect_system_bus
from ..common.errors import WaagentError
from ..common.names import PROVISIONER

PROMPT = "Do you want to proceed (y/n)"
# polkit may wait for a person to type a password (300 s), then the work itself.
DEPROVISION_TIMEOUT = 900.0


async def _plan(delete_user: bool) -> list[str]:
    bus = await connect_system_bus()
    try:
        reply = await call(bus, PROVISIONER, "PlanDeprovision", "b", [delete_user])
    finally:
        bus.disconnect()
    return [str(line) for line in reply.body[0]]


async def _deprovision(delete_user: bool) -> None:
    bus = await connect_system_bus()
    try:
        await call(
            bus,
            PROVISIONER,
            "Deprovision",
            "b",
            [delete_user],
            interactive=True,
            timeout=DEPROVISION_TIMEOUT,
        )
    finally:
        bus.disconnect()


def _confirmed(stdin: TextIO, stdout: TextIO) -> bool:
    stdout.write(PROMPT)
    stdout.flush()
    answer = stdin.readline()
    return answer.strip().lower().startswith("y")


def run(
    delete_user: bool,
    force: bool,
    *,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
) -> int:
    try:
        for warning in asyncio.run(_plan(delete_user)):
            stdout.write(warning + "\n")
        if not force and not _confirmed(stdin, stdout):
            return 0
    except KeyboardInterrupt:
        stdout.write("\nDeprovision is interrupted.\n")
        return 0
    except WaagentError as exc:
        stderr.write(f"waagent: {exc.message}\n")
        return 1

    def refuse(signum: int, frame: object) -> None:
        stdout.write("\nDeprovisioning may not be interrupted.\n")
        stdout.flush()

    previous = signal.signal(signal.SIGINT, refuse)
    try:
        asyncio.run(_deprovision(delete_user))
    except WaagentError as exc:
        stderr.write(f"waagent: {exc.message}\n")
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0
