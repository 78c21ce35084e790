"""On-demand services under `waagent -daemon`: the bus daemon's own activation, no systemd.

The supervisor writes one activation file per service into a directory its dbus-daemon lists as
a `<servicedir>`. Without systemd, dbus-daemon honours `Exec=` itself: the first call to a name
nobody owns starts the service, which exits again when idle (`Services.IdleTimeout`), as under
systemd. `Exec=` carries the same setpriv prefix the supervisor uses for its own children (the
service's user, no capabilities for wire, a parent-death signal), because `User=` is applied only
by the distribution's launch helper, which reads the distribution's service directories alone.
So the bus daemon keeps root: it is the one that starts the root services.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import shutil
import signal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..common import minibus
from ..common.xml_text import escape

log = logging.getLogger(__name__)

SERVICE_DIR = "/run/waagent/bus-services"
# diskd may format the resource disk before it takes its name (the supervisor's READY_TIMEOUT).
START_TIMEOUT = 120.0
POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class Activatable:
    """One activation file: the bus name, the command line, the user it runs as."""

    name: str
    argv: Sequence[str]
    user: str = "root"

    def exec_argv(self) -> list[str]:
        # dbus-daemon does not search PATH: the program by its full path.
        program, *args = self.argv
        return [shutil.which(program) or program, *args]

    def text(self) -> str:
        exec_line = " ".join(shlex.quote(arg) for arg in self.exec_argv())
        # User= is informative here: no launch helper reads this directory (see above).
        return f"[D-BUS Service]\nName={self.name}\nExec={exec_line}\nUser={self.user}\n"


def write_services(directory: Path, services: Iterable[Activatable]) -> list[Path]:
    """Write the activation files (each whole, then renamed); the paths to remove at stop."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for service in services:
        path = directory / f"{service.name}.service"
        partial = path.with_suffix(".tmp")
        partial.write_text(service.text())
        os.chmod(partial, 0o644)
        partial.rename(path)
        written.append(path)
    return written


def servicedir_config(directory: Path) -> str:
    """The bus configuration's lines for activation from `directory`."""
    timeout_ms = int(START_TIMEOUT * 1000)
    return (
        f"  <servicedir>{escape(str(directory))}</servicedir>\n"
        f'  <limit name="service_start_timeout">{timeout_ms}</limit>\n'
    )


async def start_service(address: str, name: str, timeout: float = START_TIMEOUT) -> bool:
    """StartServiceByName: True once `name` is owned (started now, or already running)."""
    try:
        await minibus.bus_daemon(address, "StartServiceByName", "su", [name, 0], timeout)
    except minibus.BusError as exc:
        log.error("%s was not started: %s", name, exc.message or exc.name)
        return False
    except TimeoutError:
        log.error("%s was not started within %g s", name, timeout)
        return False
    return True


def remove_services(directory: Path) -> None:
    for path in directory.glob("*.service"):
        path.unlink(missing_ok=True)


async def close(directory: Path, address: str) -> None:
    """Let the bus activate nothing more: the files removed and the configuration read again
    (a service still finishing its work, extd reporting to wire, would start wire again while
    the daemon stops)."""
    remove_services(directory)
    try:
        await minibus.bus_daemon(address, "ReloadConfig")
    except minibus.BusError as exc:
        log.warning("the bus did not reload its configuration: %s", exc)
    except minibus.NO_BUS as exc:
        # The bus is gone already: it activates nothing.
        log.debug("bus not reached to close activation: %s", exc)


def commands(pid: int) -> tuple[str, ...] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return tuple(os.fsdecode(arg) for arg in raw.split(b"\0")[:-1])


def running(services: Iterable[Activatable]) -> list[int]:
    """The pids running one of `services`: as setpriv (starting) or as the service itself.

    Found by command line, not by parent: dbus-daemon starts a service through a babysitter
    process that exits once it is up, so the service is left to init."""
    wanted = set()
    for service in services:
        argv = service.exec_argv()
        wanted.add(tuple(argv))
        wanted.add(tuple(argv[argv.index("--") + 1 :]) if "--" in argv else tuple(argv))
    return [
        int(entry.name)
        for entry in os.scandir("/proc")
        if entry.name.isdigit() and commands(int(entry.name)) in wanted
    ]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


async def stop_activated(services: Sequence[Activatable], grace: float) -> None:
    """SIGTERM every running activated service, SIGKILL what is left after `grace`."""
    pids = running(services)
    for pid in pids:
        log.info("stopping activated service (pid %d)", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for _ in range(int(grace / POLL_INTERVAL)):  # not our children: no wait()
        if not any(_alive(pid) for pid in pids):
            break
        await asyncio.sleep(POLL_INTERVAL)
    for pid in pids:
        if _alive(pid):
            log.warning("activated service (pid %d) ignored SIGTERM; killing it", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
