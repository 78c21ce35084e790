"""Handler commands as transient services started by PID 1 (what `systemd-run --unit=...
--slice=... --property=...` does), when systemd is PID 1.

An extension is root code the VM owner asked for: it must see the system a root login sees,
not extd's sandbox. A forked child moved into a scope would keep extd's mount namespace,
capability bounding set, seccomp filter and private /tmp; a service started by systemd has none
of them. The unit:

- runs `/bin/sh -c <command>` as root (`User=root` gives the login's HOME, USER, SHELL) in the
  handler directory, with the classic environment, stdout/stderr on extd's capped files (passed
  as file descriptors), in `azure-vmextensions-<Handler>.slice` with the handler's limits;
- `RemainAfterExit=yes` keeps the unit, and with it the exit status, until extd has read it,
  even across an extd restart; `KillMode=process` lets daemons the command leaves behind live
  on (classic extensions such as run-command start them and exit);
- `RuntimeMaxSec=` is the operation's timeout, enforced by systemd whether or not extd runs;
  a timed-out unit then has its whole control group killed (`KillUnit`, by systemd).

With `CGroups.Enabled=n` the per-extension slices and their limits are not used: every command
runs in `azure-vmextensions.slice` itself, which accounts but does not limit.

extd learns the end from the unit's PropertiesChanged signals (no polling) and reads `Result`,
`ExecMainCode` and `ExecMainStatus`. It signals no process itself, so it needs no CAP_KILL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import time
from typing import Any

from dbus_fast.aio import MessageBus

from ..common.clients.systemd import SERVICE, UNIT, Systemd
from ..common.clients.systemd_units import INFINITY, Limits, ServiceUnit
from .command_spec import CommandSpec, SliceLimits
from .errors import ExtensionError

log = logging.getLogger(__name__)

CLD_EXITED = 1  # ExecMainCode: the si_code of the main process's end
UNIT_PREFIX = "waagent-extension-"
UNLIMITED_SLICE = "azure-vmextensions.slice"  # the parent of the per-extension slices


def unit_name(spec: CommandSpec) -> str:
    return f"{UNIT_PREFIX}{spec.operation.lower()}-{os.urandom(8).hex()}.service"


def slice_limits(limits: SliceLimits) -> Limits:
    return Limits(limits.cpu_quota_percent, limits.memory_max_mb)


def service_unit(spec: CommandSpec, stdout: int, stderr: int) -> ServiceUnit:
    """The transient service of one command, its output on the files `stdout` and `stderr`."""
    return ServiceUnit(
        argv=("/bin/sh", "-c", spec.path),
        description=f"Azure VM extension {spec.handler}: {spec.operation}",
        type="exec",
        remain_after_exit=True,
        kill_mode="process",
        kill_signal=signal.SIGKILL,
        runtime_max=spec.timeout,
        working_directory=str(spec.cwd),
        user="root",
        environment=spec.environment(),
        standard_input="null",
        stdout_fd=stdout,
        stderr_fd=stderr,
        # As in a login shell: SIGPIPE is not ignored, no task limit of a system service.
        ignore_sigpipe=False,
        tasks_max=INFINITY,
        slice=spec.slice_name or None,
    )


def _ended(unit: dict[str, Any], service: dict[str, Any]) -> bool:
    """The main process is gone (exited, killed, or never started)."""
    return bool(service.get("ExecMainExitTimestampMonotonic")) or unit.get("ActiveState") in (
        "failed",
        "inactive",
    )


class TransientServices:
    """Launcher (see commands.Launcher) of commands as transient services of systemd."""

    def __init__(self, bus: MessageBus, *, limits: bool = True) -> None:
        self.systemd = Systemd(bus)
        self.limits = limits  # CGroups.Enabled

    def handle_for(self, spec: CommandSpec) -> str | None:
        return unit_name(spec)

    async def start(self, spec: CommandSpec, stdout: int, stderr: int, handle: str | None) -> str:
        unit = handle or unit_name(spec)
        if not self.limits:
            spec = dataclasses.replace(spec, slice_name=UNLIMITED_SLICE)
        elif spec.slice_name:
            # Limits first: not one instruction of the command runs outside them.
            await self.systemd.set_limits(spec.slice_name, slice_limits(spec.limits))
        try:
            await self.systemd.start_transient(unit, service_unit(spec, stdout, stderr))
        except Exception as exc:
            raise ExtensionError(
                spec.error_code, f"systemd could not start {spec.path} as {unit}: {exc}"
            ) from None
        return unit

    async def exists(self, handle: str) -> bool:
        return await self.systemd.loaded(handle)

    async def keep_leftover(self, handle: str) -> bool:
        return True  # systemd runs it on; a restarted extd waits for it

    async def wait(self, handle: str) -> int | None:
        started = time.monotonic()
        changed = asyncio.Event()
        async with self.systemd.watching(handle, changed.set):
            while True:
                changed.clear()
                unit = await self.systemd.properties(handle, UNIT)
                service = await self.systemd.properties(handle, SERVICE)
                if _ended(unit, service):
                    break
                await changed.wait()
        result = str(service.get("Result", ""))
        log.debug("%s ended: %s after %.2f s", handle, result, time.monotonic() - started)
        if result == "timeout":
            await self._kill_all(handle)
            return None
        code, status = int(service.get("ExecMainCode", 0)), int(service.get("ExecMainStatus", 0))
        return status if code == CLD_EXITED else -status

    async def _kill_all(self, unit: str) -> None:
        """What the timed-out command left behind goes too (its main process is gone)."""
        try:
            await self.systemd.kill(unit, signal.SIGKILL)
        except Exception as exc:
            log.debug("nothing left of %s to kill (%s)", unit, exc)

    async def release(self, handle: str) -> None:
        """Let systemd unload the unit (once its result is journalled); processes the command
        left behind keep running."""
        try:
            state = (await self.systemd.properties(handle, UNIT)).get("ActiveState")
            if state == "active":
                await self.systemd.stop(handle)
            else:
                await self.systemd.reset_failed(handle)
        except Exception as exc:
            log.warning("could not release %s: %s", handle, exc)
