"""Running a handler command the classic way (reference §9.9), with hard limits.

`/bin/sh -c <handler dir>/<command>` in the handler directory, stdout and stderr into files of
extd's own (0600, in a private directory, so a secret an extension prints is readable by root
only), the classic environment, the operation's timeout. Where the command runs is the
`Launcher`'s business:

- with systemd as PID 1 (`units.TransientServices`), a transient service started by PID 1 in
  the handler's slice: the command sees the host exactly as a root login does, none of extd's
  sandbox, and it survives extd (a restarted extd adopts it and takes its result);
- otherwise (`ChildProcesses`, `waagent -daemon`), a child of extd in a session of its own.

Output files are watched with inotify: past a small bound a file is emptied after keeping its
head (the classic report uses only the first 3200 characters), so a command printing 100 MB
costs neither memory nor disk. On timeout everything the command started is killed (1011).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ..common import inotify
from ..common.root import write_file_atomic
from .errors import Code, ExtensionError

log = logging.getLogger(__name__)

OUTPUT_CHARS = 3200  # classic: what the status and the log keep of a command's output
HEAD_BYTES = OUTPUT_CHARS * 4  # enough bytes for 3200 UTF-8 characters
CUT_AT = 64 * 1024  # an output file larger than this is emptied (its head is kept)
COMMAND_LOG_MAX = 10 << 20  # CommandExecution.log is head-truncated at 10 MiB
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Variables systemd (or the bus daemon) sets for extd itself: meaningless, or misleading, in a
# command's environment, which otherwise inherits extd's (classic: the agent's environment).
PER_PROCESS_VARIABLES = frozenset(
    {
        "INVOCATION_ID",
        "JOURNAL_STREAM",
        "NOTIFY_SOCKET",
        "LISTEN_PID",
        "LISTEN_FDS",
        "LISTEN_FDNAMES",
        "WATCHDOG_PID",
        "WATCHDOG_USEC",
        "SYSTEMD_EXEC_PID",
        "MAINPID",
        "MANAGERPID",
        "RUNTIME_DIRECTORY",
        "STATE_DIRECTORY",
        "CACHE_DIRECTORY",
        "LOGS_DIRECTORY",
        "CONFIGURATION_DIRECTORY",
        "CREDENTIALS_DIRECTORY",
        "DBUS_STARTER_ADDRESS",
        "DBUS_STARTER_BUS_TYPE",
    }
)


@dataclass(frozen=True)
class SliceLimits:
    cpu_quota_percent: int | None = None
    memory_max_mb: int | None = None


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
    handler: str = ""  # Publisher.Type[ version], for names and descriptions

    @property
    def path(self) -> str:
        return str(self.cwd / self.command.lstrip("/"))

    @property
    def key(self) -> str:
        """Identifies the same operation across an extd restart (to adopt, not rerun, it)."""
        return "\0".join(
            (
                self.operation,
                self.path,
                self.env.get("ConfigSequenceNumber", ""),
                self.env.get("ConfigExtensionName", ""),
            )
        )

    def environment(self) -> dict[str, str]:
        """The classic environment: extd's own (less per-process variables), then ours."""
        inherited = {k: v for k, v in os.environ.items() if k not in PER_PROCESS_VARIABLES}
        return {"PATH": DEFAULT_PATH, **inherited, **self.env}


def slice_name(handler: str, extension: str | None = None) -> str:
    """`azure-vmextensions-<Handler[.Ext]>.slice`; dashes would nest slices, so they become `_`."""
    name = f"{handler}.{extension}" if extension else handler
    safe = "".join(c if c.isalnum() or c in "._:" else "_" for c in name)
    return f"azure-vmextensions-{safe}.slice"


# ---- where a command runs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Launch:
    """A command of the goal state being processed, as recorded on disk: while it runs, enough
    for a restarted extd to find it; once it ended, its result, so that a restarted extd that
    reaches the same operation again continues past it instead of running it twice."""

    handle: str  # the unit name, or "<pid>:<start time>" of a child
    key: str
    stdout: str
    stderr: str
    exit_code: int | None = None  # None: killed by its timeout (when `ended`)
    output: str = ""
    ended: bool = False


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


class LaunchRecords:
    """The commands running now, on disk (atomic, 0600)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.launches: dict[str, Launch] = {}
        if path is not None:
            with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
                for item in json.loads(path.read_text()):
                    launch = Launch(**item)
                    self.launches[launch.handle] = launch

    def _save(self) -> None:
        if self.path is not None:
            items = [asdict(launch) for launch in self.launches.values()]
            write_file_atomic(self.path, json.dumps(items), mode=0o600)

    def add(self, launch: Launch) -> None:
        self.launches[launch.handle] = launch
        self._save()

    def remove(self, handle: str) -> None:
        if self.launches.pop(handle, None) is not None:
            self._save()

    def find(self, key: str) -> Launch | None:
        return next((x for x in self.launches.values() if x.key == key), None)

    def end(self, handle: str, exit_code: int | None, output: str) -> None:
        launch = self.launches.get(handle)
        if launch is not None:
            self.launches[handle] = replace(launch, exit_code=exit_code, output=output, ended=True)
            self._save()

    def settle(self) -> None:
        """The goal state's effects are on disk: forget the commands that ended."""
        ended = [handle for handle, launch in self.launches.items() if launch.ended]
        for handle in ended:
            del self.launches[handle]
        if ended:
            self._save()


# ---- output -----------------------------------------------------------------------------------


class _Output:
    """One output stream: a 0600 file of extd's the command appends to, watched and cut."""

    def __init__(self, path: Path, create: bool) -> None:
        self.path = path
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
        if create:
            flags |= os.O_CREAT | os.O_EXCL
        self.fd = os.open(path, flags, 0o600)
        self.head: bytes | None = None

    def cut(self) -> None:
        if os.fstat(self.fd).st_size > CUT_AT:
            if self.head is None:
                self.head = os.pread(self.fd, HEAD_BYTES, 0)
            os.ftruncate(self.fd, 0)

    def text(self) -> str:
        data = self.head if self.head is not None else os.pread(self.fd, HEAD_BYTES, 0)
        return data.decode("utf-8", errors="backslashreplace")[:OUTPUT_CHARS]

    def close(self, remove: bool) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
        if remove:
            self.path.unlink(missing_ok=True)


class Outputs:
    """stdout and stderr of one command, cut as they grow (inotify, no polling)."""

    def __init__(self, out: _Output, err: _Output) -> None:
        self.out, self.err = out, err
        self._watch: inotify.Watch | None = None

    @classmethod
    def create(cls, directory: Path, name: str) -> Outputs:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        out = _Output(directory / f"{name}.stdout", create=True)
        try:
            return cls(out, _Output(directory / f"{name}.stderr", create=True))
        except OSError:
            out.close(remove=True)
            raise

    @classmethod
    def reopen(cls, launch: Launch) -> Outputs:
        out = _Output(Path(launch.stdout), create=False)
        try:
            return cls(out, _Output(Path(launch.stderr), create=False))
        except OSError:
            out.close(remove=False)
            raise

    def _cut(self) -> None:
        with contextlib.suppress(OSError):
            self.out.cut()
            self.err.cut()

    def watch(self) -> None:
        self._cut()
        try:
            self._watch = inotify.Watch(self._cut)
            self._watch.add(self.out.path)
            self._watch.add(self.err.path)
        except OSError as exc:  # the output is still cut once the command ends
            log.warning("cannot watch command output (%s)", exc)

    def combined(self) -> str:
        self._cut()
        return combine(self.out.text(), self.err.text())

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
        self.out.close(remove=True)
        self.err.close(remove=True)


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


def append_command_log(path: Path, text: str) -> None:
    """CommandExecution.log: appended, root-only (commands print secrets); once past 10 MiB
    its oldest half is dropped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if path.stat().st_size > COMMAND_LOG_MAX:
            data = path.read_bytes()
            write_file_atomic(path, data[len(data) // 2 :], mode=0o600)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(path, flags, 0o600)
    with open(fd, "a", encoding="utf-8", errors="backslashreplace") as log_file:
        os.fchmod(fd, 0o600)  # a log an earlier version made world-readable
        log_file.write(f"{stamp} {text}\n")


def _noexec(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_NOEXEC)
    except OSError:
        return False


# ---- children of extd (no systemd) ------------------------------------------------------------


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


# ---- running one command ----------------------------------------------------------------------


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
            try:
                exit_code = await self.launcher.wait(handle)
            except BaseException:
                self.records.remove(handle)
                raise
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
        except BaseException:
            if planned is not None:
                self.records.remove(planned)
            outputs.close()
            raise
        if planned is None:
            self.records.add(Launch(handle, spec.key, str(outputs.out.path), str(outputs.err.path)))
        return handle, outputs

    def _new_outputs(self, spec: CommandSpec) -> Outputs:
        directory = self.output_dir or spec.cwd
        return Outputs.create(directory, f"{spec.operation.lower()}-{os.urandom(8).hex()}")
