"""Running a handler command the classic way (reference §9.9), with hard limits.

`/bin/sh -c <handler dir>/<command>` in the handler directory, in a new session and process
group, stdout and stderr into unnamed files in the handler directory (a daemon the command
leaves behind never blocks us). While it runs, each output file is cut back to nothing whenever
it passes a small bound, after keeping its head: the classic report uses only the first 3200
characters, so a command printing 100 MB costs neither memory nor disk. On timeout every process
of its session is killed and the failure is code 1011.

When a `ScopePlacer` is given (systemd is PID 1), the command is held at a gate until it sits in
a transient scope in its handler's slice, so not one instruction runs outside the limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ..common.root import write_file_atomic
from .errors import Code, ExtensionError

log = logging.getLogger(__name__)

OUTPUT_CHARS = 3200  # classic: what the status and the log keep of a command's output
HEAD_BYTES = OUTPUT_CHARS * 4  # enough bytes for 3200 UTF-8 characters
CUT_AT = 64 * 1024  # an output file larger than this is emptied (its head is kept)
WATCH_INTERVAL = 0.05
COMMAND_LOG_MAX = 10 << 20  # CommandExecution.log is head-truncated at 10 MiB
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Holds the command until the parent closes the gate (its stdin), then runs it as classic does.
GATE = 'read -r _; exec </dev/null; exec /bin/sh -c "$0"'


@dataclass(frozen=True)
class SliceLimits:
    cpu_quota_percent: int | None = None
    memory_max_mb: int | None = None


class ScopePlacer(Protocol):
    async def place(self, pid: int, unit: str, slice_name: str, limits: SliceLimits) -> None: ...


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    output: str
    duration: float


@dataclass(frozen=True)
class CommandSpec:
    """What to run and how the classic agent reports it."""

    operation: str  # Install, Enable, ...
    command: str  # as written in HandlerManifest.json
    cwd: Path
    env: Mapping[str, str]
    timeout: float
    error_code: int
    log_file: Path
    slice_name: str | None = None
    limits: SliceLimits = SliceLimits()

    @property
    def path(self) -> str:
        return str(self.cwd / self.command.lstrip("/"))


def slice_name(handler: str, extension: str | None = None) -> str:
    """`azure-vmextensions-<Handler[.Ext]>.slice`; dashes would nest slices, so they become `_`."""
    name = f"{handler}.{extension}" if extension else handler
    safe = "".join(c if c.isalnum() or c in "._:" else "_" for c in name)
    return f"azure-vmextensions-{safe}.slice"


class _Output:
    """One output stream: an unnamed file the command appends to, watched and cut."""

    def __init__(self, directory: Path) -> None:
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
        try:
            self.fd = os.open(directory, flags | os.O_TMPFILE, 0o600)
        except OSError:
            name = directory / f".output.{os.getpid()}.{time.monotonic_ns()}"
            self.fd = os.open(name, flags | os.O_CREAT | os.O_EXCL, 0o600)
            os.unlink(name)
        self.head: bytes | None = None

    def watch(self) -> None:
        if os.fstat(self.fd).st_size > CUT_AT:
            if self.head is None:
                self.head = os.pread(self.fd, HEAD_BYTES, 0)
            os.ftruncate(self.fd, 0)

    def text(self) -> str:
        data = self.head if self.head is not None else os.pread(self.fd, HEAD_BYTES, 0)
        return data.decode("utf-8", errors="backslashreplace")[:OUTPUT_CHARS]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def combine(stdout: str, stderr: str, limit: int = OUTPUT_CHARS) -> str:
    """`[stdout]\\n...\\n\\n[stderr]\\n...` within `limit` characters, tails kept, the longer
    stream giving up its room first (classic format)."""
    template = "[stdout]\n{}\n\n[stderr]\n{}"
    room = limit - len(template.format("", ""))
    if len(stdout) + len(stderr) > room:
        short, long_ = sorted((stdout, stderr), key=len)
        short_room = min(len(short), room // 2)
        keep = {id(short): short_room, id(long_): room - short_room}
        stdout = stdout[len(stdout) - keep[id(stdout)] :] if keep[id(stdout)] else ""
        stderr = stderr[len(stderr) - keep[id(stderr)] :] if keep[id(stderr)] else ""
    return template.format(stdout, stderr)


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


class RunningCommands:
    """The sessions of the commands running now, on disk: a restarted extd kills what its
    predecessor left running (it redoes those operations) instead of racing with it."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.sessions: dict[int, int] = {}

    def _save(self) -> None:
        if self.path is not None:
            write_file_atomic(self.path, json.dumps(self.sessions), mode=0o600)

    def add(self, pid: int) -> None:
        started = _start_time(pid)
        if started is not None:
            self.sessions[pid] = started
            self._save()

    def remove(self, pid: int) -> None:
        if self.sessions.pop(pid, None) is not None:
            self._save()

    def kill_leftovers(self) -> list[int]:
        """Kill the sessions a previous extd recorded that still run; return their leaders."""
        if self.path is None:
            return []
        try:
            recorded = {int(k): int(v) for k, v in json.loads(self.path.read_text()).items()}
        except (OSError, ValueError, AttributeError):
            recorded = {}
        killed = [pid for pid, started in recorded.items() if _start_time(pid) == started]
        for pid in killed:
            log.warning("killing the command session %d an earlier extd left running", pid)
            kill_session(pid)
        self.sessions = {}
        self._save()
        return killed


def kill_session(leader: int) -> None:
    """SIGKILL the process group and every process of the session `leader` started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, signal.SIGKILL)
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _session_of(int(entry)) == leader:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry), signal.SIGKILL)


def _noexec(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_NOEXEC)
    except OSError:
        return False


def append_command_log(path: Path, text: str) -> None:
    """CommandExecution.log: appended; once past 10 MiB its oldest half is dropped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if path.stat().st_size > COMMAND_LOG_MAX:
            data = path.read_bytes()
            path.write_bytes(data[len(data) // 2 :])
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with open(path, "a", encoding="utf-8", errors="backslashreplace") as log_file:
        log_file.write(f"{stamp} {text}\n")


class HandlerCommands:
    def __init__(
        self, placer: ScopePlacer | None = None, running: RunningCommands | None = None
    ) -> None:
        self.placer = placer
        self.running = running or RunningCommands(None)

    async def run(self, spec: CommandSpec) -> CommandResult:
        """Run the command; a non-zero exit or a timeout raises ExtensionError."""
        env = {"PATH": DEFAULT_PATH, **os.environ, **spec.env}
        command = spec.path
        append_command_log(spec.log_file, f"{spec.operation}: running {command}")
        out, err = _Output(spec.cwd), _Output(spec.cwd)
        started = time.monotonic()
        try:
            exit_code = await self._run(spec, command, env, out, err)
            output = combine(out.text(), err.text())
        finally:
            out.close()
            err.close()
        duration = time.monotonic() - started
        if exit_code is None:
            append_command_log(spec.log_file, f"{spec.operation}: timed out\n{output}")
            raise ExtensionError(
                Code.COMMAND_TIMED_OUT,
                f"Timeout({spec.timeout:g}): {command}\n{output}",
                operation=spec.operation,
            )
        append_command_log(
            spec.log_file, f"{spec.operation}: exit code {exit_code} in {duration:.2f} s\n{output}"
        )
        if exit_code != 0:
            message = f"Non-zero exit code: {exit_code}, {command}\n{output}"
            if exit_code == 126 and _noexec(spec.cwd):
                message += f"\n{spec.cwd} is on a noexec mount: the handler cannot run there"
            raise ExtensionError(
                spec.error_code, message, operation=spec.operation, exit_code=exit_code
            )
        return CommandResult(exit_code, output, duration)

    async def _run(
        self, spec: CommandSpec, command: str, env: dict[str, str], out: _Output, err: _Output
    ) -> int | None:
        """The exit code, or None after a timeout (everything it started is killed)."""
        gate_read, gate_write = os.pipe() if self.placer and spec.slice_name else (-1, -1)
        argv = ["/bin/sh", "-c", command]
        if gate_read >= 0:
            argv = ["/bin/sh", "-c", GATE, command]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=gate_read if gate_read >= 0 else asyncio.subprocess.DEVNULL,
                stdout=out.fd,
                stderr=err.fd,
                cwd=spec.cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            if gate_write >= 0:
                os.close(gate_write)
            raise ExtensionError(
                spec.error_code, f"cannot run {command}: {exc.strerror or exc}"
            ) from None
        finally:
            if gate_read >= 0:
                os.close(gate_read)
        self.running.add(proc.pid)
        if gate_write >= 0:
            await self._place(proc.pid, spec)
            os.close(gate_write)  # EOF opens the gate
        deadline = time.monotonic() + spec.timeout
        try:
            return await self._wait(proc, deadline, out, err)
        finally:
            self.running.remove(proc.pid)

    @staticmethod
    async def _wait(
        proc: asyncio.subprocess.Process, deadline: float, out: _Output, err: _Output
    ) -> int | None:
        try:
            while True:
                out.watch()
                err.watch()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    kill_session(proc.pid)
                    await proc.wait()
                    return None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, WATCH_INTERVAL)):
                        return await proc.wait()
        except asyncio.CancelledError:
            kill_session(proc.pid)
            raise

    async def _place(self, pid: int, spec: CommandSpec) -> None:
        assert self.placer is not None and spec.slice_name is not None
        unit = f"{spec.operation.lower()}_{os.urandom(8).hex()}.scope"
        try:
            await self.placer.place(pid, unit, spec.slice_name, spec.limits)
        except Exception as exc:
            # Classic: when systemd-run fails, cgroups are disabled and commands run directly.
            log.warning(
                "cannot put %s into %s (%s); running commands without resource limits",
                shlex.quote(spec.command),
                spec.slice_name,
                exc,
            )
            self.placer = None
