"""Handler commands as children of extd (no systemd as PID 1, `waagent -daemon`), each leading a
session of its own, so that a timeout kills everything the command started: SIGKILL to its
process group and to every process whose session is the command's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

from .command_spec import CommandSpec
from .errors import ExtensionError

log = logging.getLogger(__name__)


def _stat_fields(pid: int) -> list[bytes]:
    """Fields of /proc/<pid>/stat after the command name (state first); [] when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _session_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[3]) if len(fields) > 3 else None


def _start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if len(fields) > 19 else None


def kill_session(leader: int) -> None:
    """SIGKILL the process group and every process of the session `leader` started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, signal.SIGKILL)
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _session_of(int(entry)) == leader:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry), signal.SIGKILL)


class ChildProcesses:
    """Commands as children of extd, each leading a session of its own (no systemd)."""

    def __init__(self) -> None:
        self._running: dict[str, tuple[asyncio.subprocess.Process, float]] = {}

    def handle_for(self, spec: CommandSpec) -> str | None:
        return None  # a pid, known once started

    async def start(self, spec: CommandSpec, stdout: int, stderr: int, handle: str | None) -> str:
        try:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                spec.path,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                cwd=spec.cwd,
                env=spec.environment(),
                start_new_session=True,
            )
        except OSError as exc:
            raise ExtensionError(
                spec.error_code, f"cannot run {spec.path}: {exc.strerror or exc}"
            ) from None
        handle = f"{proc.pid}:{_start_time(proc.pid)}"
        self._running[handle] = (proc, spec.timeout)
        return handle

    async def wait(self, handle: str) -> int | None:
        proc, timeout = self._running.pop(handle)
        try:
            async with asyncio.timeout(timeout):
                return await proc.wait()
        except TimeoutError:
            kill_session(proc.pid)
            await proc.wait()
            return None
        except asyncio.CancelledError:
            kill_session(proc.pid)
            raise

    async def exists(self, handle: str) -> bool:
        pid, _, started = handle.partition(":")
        return pid.isdigit() and str(_start_time(int(pid))) == started

    async def release(self, handle: str) -> None:
        pass  # a child is reaped by `wait`

    async def keep_leftover(self, handle: str) -> bool:
        log.warning("killing the command session %s an earlier extd left running", handle)
        kill_session(int(handle.partition(":")[0]))
        return False
