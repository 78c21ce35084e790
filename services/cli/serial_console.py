"""`waagent -serialconsole[=off] [-dry-run]`: ttyS0 as the boot console (reference §10.8).

It asks the provisioner (`Provisioner1.ConfigureSerialConsole`, polkit action
org.waagent.serial-console, so polkit may ask for a password). With `-root:<dir>` (an image
being built, a test tree), or where no bus answers and the caller is root, the provisioner's
own code runs in this process against that root; a sandbox root's GRUB configuration is never
regenerated. `=off` takes out what an earlier run added. Status 1 on failure.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TextIO

from ..common.bus.client import ServiceUnavailable, call, connect_system_bus
from ..common.commands import Runner
from ..common.config import AgentConfig
from ..common.errors import WaagentError
from ..common.names import PROVISIONER
from ..common.root import Root
from ..provisioner.boot_settings import BootResult, BootSettings

# polkit may wait for a password (300 s), then grub-mkconfig runs (up to 300 s).
CALL_TIMEOUT = 900.0
VALUES = {"": True, "on": True, "off": False}


async def _over_bus(enable: bool, dry_run: bool) -> BootResult:
    bus = await connect_system_bus()
    try:
        reply = await call(
            bus,
            PROVISIONER,
            "ConfigureSerialConsole",
            "bb",
            [enable, dry_run],
            interactive=True,
            timeout=CALL_TIMEOUT,
        )
    finally:
        bus.disconnect()
    changed, diff, regeneration, message = reply.body
    return BootResult(changed=tuple(changed), diff=diff, regeneration=regeneration, message=message)


def show(result: BootResult, out: TextIO) -> None:
    out.write(result.diff)
    for path in result.changed:
        out.write(f"{'would change' if result.message == 'dry run' else 'changed'} {path}\n")
    if result.regeneration:
        out.write(f"GRUB configuration: {result.regeneration}\n")
    if not result.changed:
        out.write(result.message + "\n")


def run(
    enable: bool,
    dry_run: bool,
    root: Root | None,
    config: AgentConfig,
    *,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
) -> int:
    try:
        if root is None:
            try:
                result = asyncio.run(_over_bus(enable, dry_run))
            except (OSError, ServiceUnavailable) as exc:
                if os.geteuid() != 0:
                    stderr.write(f"waagent: -serialconsole: {exc}\n")
                    return 1
                root = Root("/")
        if root is not None:
            local = BootSettings(root, Runner(), config.lib_dir)
            result = asyncio.run(local.serial_console(enable, dry_run))
    except WaagentError as exc:
        stderr.write(f"waagent: {exc.message}\n")
        return 1
    show(result, stdout)
    return 0
