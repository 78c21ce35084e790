"""Running a handler command the classic way (reference §9.9), with hard limits.

`/bin/sh -c <handler dir>/<command>` in the handler directory, stdout and stderr into files of
extd's own (`command_output`), the classic environment (`command_spec`), the operation's
timeout. Where the command runs is the `Launcher`'s business:

- with systemd as PID 1 (`units.TransientServices`), a transient service started by PID 1 in
  the handler's slice: the command sees the host exactly as a root login does, none of extd's
  sandbox, and it survives extd (a restarted extd adopts it and takes its result);
- otherwise (`child_processes.ChildProcesses`, `waagent -daemon`), a child of extd in a session
  of its own.

Every command is journalled in `launch_records` from its start to the end of its goal state, so
that an extd stopped in the middle (killed, or stopped by systemd) is followed by one that
adopts the command or takes its result rather than running it twice. On timeout everything the
command started is killed (1011).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Protocol

from .child_processes import ChildProcesses
from .command_output import Outputs, append_command_log
from .command_spec import CommandResult, CommandSpec
from .errors import Code, ExtensionError
from .launch_records import Launch, LaunchRecords

log = logging.getLogger(__name__)


class Launcher(Protocol):
    """Starts commands and waits for them."""

    def handle_for(self, spec: CommandSpec) -> str | None:
        """The handle the next start will have, when it can be known before (then it is
        recorded before the start: a crash in between leaves a record, not a stray unit)."""
        ...

    async def start(
        self, spec: CommandSpec, stdout: int, stderr: int, handle: str | None
    ) -> str: ...

    async def wait(self, handle: str) -> int | None:
        """The exit code (-N: killed by signal N), or None when the timeout killed it all."""
        ...

    async def exists(self, handle: str) -> bool: ...

    async def keep_leftover(self, handle: str) -> bool:
        """A command an earlier extd left running: True when it outlives extd and `wait` can
        be called on it; otherwise it is killed (and its operation runs again)."""
        ...

    async def release(self, handle: str) -> None:
        """Forget a command whose result is journalled."""
        ...


def _noexec(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_NOEXEC)
    except OSError:
        return False


class HandlerCommands:
    def __init__(
        self,
        launcher: Launcher | None = None,
        records: LaunchRecords | None = None,
        output_dir: Path | None = None,
    ) -> None:
        self.launcher: Launcher = launcher or ChildProcesses()
        self.records = records or LaunchRecords(None)
        self.output_dir = output_dir

    async def recover(self) -> list[Launch]:
        """At start: what an earlier extd left running, kept for `run` to wait for where the
        launcher can (systemd), otherwise killed (the operations run again)."""
        left = [launch for launch in self.records.launches.values() if not launch.ended]
        for launch in left:
            if not await self.launcher.exists(launch.handle):
                log.info("command %s of an earlier extd is gone", launch.handle)
                self._forget(launch)
            elif not await self.launcher.keep_leftover(launch.handle):
                self._forget(launch)
        return left

    def _forget(self, launch: Launch) -> None:
        self.records.remove(launch.handle)
        for name in (launch.stdout, launch.stderr):
            Path(name).unlink(missing_ok=True)

    def settle(self) -> None:
        """Call once the effects of the commands run so far are recorded (goal state done)."""
        self.records.settle()

    def launched_under(self, directory: Path) -> bool:
        """A command of the goal state in progress ran (or runs) from `directory`."""
        inside = f"{directory}/"
        return any(x.key.split("\0")[1].startswith(inside) for x in self.records.launches.values())

    async def run(self, spec: CommandSpec) -> CommandResult:
        """Run the command (or wait for the same one an earlier extd started, or take the
        result it recorded); a non-zero exit or a timeout raises ExtensionError."""
        started = time.monotonic()
        earlier = self.records.find(spec.key)
        if earlier is not None and earlier.ended:
            log.info("%s of %s ended before extd restarted", spec.operation, spec.handler)
            append_command_log(
                spec.log_file,
                f"{spec.operation}: ended before extd restarted, with exit code "
                f"{earlier.exit_code} (logged above)",
            )
            return self._outcome(spec, earlier.exit_code, earlier.output, 0.0)
        handle, outputs = await self._start_or_adopt(spec, earlier)
        try:
            outputs.watch()
            exit_code = await self.launcher.wait(handle)
        except BaseException:
            # extd is stopped (SIGTERM cancels this wait) while the command may run on (systemd):
            # its record and output files stay for the next extd to adopt it or take its result,
            # as after a SIGKILL. Forgetting them would run the command a second time.
            outputs.close(remove=False)
            raise
        try:
            output = outputs.combined()
            duration = time.monotonic() - started
            ended = (
                "timed out" if exit_code is None else f"exit code {exit_code} in {duration:.2f} s"
            )
            append_command_log(spec.log_file, f"{spec.operation}: {ended}\n{output}")
            # Journalled before the launcher forgets it: a crash in between must find one or
            # the other, or the operation would run again.
            self.records.end(handle, exit_code, output)
            await self.launcher.release(handle)
        finally:
            outputs.close()
        return self._outcome(spec, exit_code, output, duration)

    @staticmethod
    def _outcome(
        spec: CommandSpec, exit_code: int | None, output: str, duration: float
    ) -> CommandResult:
        """The result, or the classic error for a timeout or a non-zero exit."""
        command = spec.path
        if exit_code is None:
            raise ExtensionError(
                Code.COMMAND_TIMED_OUT,
                f"Timeout({spec.timeout:g}): {command}\n{output}",
                operation=spec.operation,
            )
        if exit_code != 0:
            message = f"Non-zero exit code: {exit_code}, {command}\n{output}"
            if exit_code == 126 and _noexec(spec.cwd):
                message += f"\n{spec.cwd} is on a noexec mount: the handler cannot run there"
            raise ExtensionError(
                spec.error_code, message, operation=spec.operation, exit_code=exit_code
            )
        return CommandResult(exit_code, output, duration)

    async def _start_or_adopt(
        self, spec: CommandSpec, earlier: Launch | None
    ) -> tuple[str, Outputs]:
        if earlier is not None:
            try:
                outputs = Outputs.reopen(earlier)
            except OSError:
                log.warning("the output of %s is gone; waiting without it", earlier.handle)
                outputs = self._new_outputs(spec)
            append_command_log(
                spec.log_file, f"{spec.operation}: waiting for {earlier.handle} (extd restarted)"
            )
            log.info("%s: adopting %s, started by an earlier extd", spec.operation, earlier.handle)
            return earlier.handle, outputs
        append_command_log(spec.log_file, f"{spec.operation}: running {spec.path}")
        outputs = self._new_outputs(spec)
        planned = self.launcher.handle_for(spec)
        if planned is not None:
            self.records.add(
                Launch(planned, spec.key, str(outputs.out.path), str(outputs.err.path))
            )
        try:
            handle = await self.launcher.start(spec, outputs.out.fd, outputs.err.fd, planned)
        except BaseException as exc:
            # Stopped while systemd may be starting the unit: its record stays, for the next
            # extd to find out. Any other failure means nothing started.
            kept = planned is not None and isinstance(exc, asyncio.CancelledError)
            if planned is not None and not kept:
                self.records.remove(planned)
            outputs.close(remove=not kept)
            raise
        if planned is None:
            self.records.add(Launch(handle, spec.key, str(outputs.out.path), str(outputs.err.path)))
        return handle, outputs

    def _new_outputs(self, spec: CommandSpec) -> Outputs:
        directory = self.output_dir or spec.cwd
        return Outputs.create(directory, f"{spec.operation.lower()}-{os.urandom(8).hex()}")
