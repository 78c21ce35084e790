"""A private system for the `waagent` command: bus, polkitd, sandbox root, fabric simulator.

The services are not made activatable (`Environment(activatable=False)`): under `waagent
-daemon` the supervisor starts them. Everything started is stopped at teardown, by PID (the
sandbox directory is in every command line), also when the test fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.environment import Environment
from tests.harness.fabric import fabric_for
from tests.harness.paths import PYTHON
from tests.harness.procs import pids_with_marker, terminate
from tests.harness.users import as_user
from tests.harness.wait import wait_for
from waagent.common.names import SERVICES
from waagent.fabric.scenario import Scenario
from waagent.fabric.server import Fabric

# wire polls once and then stays put, so properties read twice agree.
QUIET = {"Extensions.GoalStatePeriod": "3600", "Status.RefreshPeriod": "3600"}
# No provisioning media here: the provisioner only writes its marker and reports Ready.
NO_PROVISIONING = {"Provisioning.Agent": "disabled"}
# `waagent -daemon` sets up the WireServer firewall of the namespace it runs in: here the host's.
# tests/daemon/test_daemon_firewall.py runs it in a VM namespace instead.
NO_FIREWALL = {"OS.EnableFirewall": "n"}
# The kernel keeps 15 bytes of a name: the poller forked under -daemon names itself so.
POLLER_COMM = "waagent-wirepoll"[:15]


def installed_services() -> list[str]:
    from waagent.daemon.launch import START_ORDER, installed

    return [SERVICES[p].name for p in START_ORDER if p in SERVICES and installed(p)]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(b")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != b"Z":
            found.append(int(entry.name))
    return found


@dataclass
class CliSystem:
    env: Environment
    fabric: Fabric
    daemons: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.env.sandbox.root

    @property
    def log(self) -> Path:
        return self.env.sandbox.path("/var/log/waagent.log")

    @property
    def pid_file(self) -> Path:
        return self.env.sandbox.path("/var/run/waagent.pid")

    def environ(self, address: str | None = None) -> dict[str, str]:
        environ = self.env.bus.env()
        if address is not None:
            environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
        return environ

    def waagent(
        self, *args: str, user: str | None = None, address: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        argv = [PYTHON, "-m", "waagent.cli", *args]
        if user is not None:
            argv = [*as_user(user), *argv]
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=self.environ(address),
            timeout=timeout,
            check=False,
        )

    def start_daemon(self, *args: str, address: str | None = None) -> subprocess.Popen[bytes]:
        """`waagent -daemon -root:<sandbox>` in the foreground of a child; output to a file."""
        with open(self.env.base / f"daemon-{len(self.daemons)}.out", "wb") as out:
            proc = subprocess.Popen(
                [PYTHON, "-m", "waagent.cli", "-daemon", f"-root:{self.root}", *args],
                env=self.environ(address),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.daemons.append(proc)
        return proc

    def output(self, index: int = 0) -> str:
        return (self.env.base / f"daemon-{index}.out").read_text(errors="replace")

    def owner(self, name: str, address: str | None = None) -> int | None:
        """The pid owning `name` on the private bus (or the bus at `address`)."""
        result = subprocess.run(
            [
                "busctl",
                f"--address={address or self.env.address}",
                "call",
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "GetConnectionUnixProcessID",
                "s",
                name,
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return int(result.stdout.split()[1]) if result.returncode == 0 else None

    def poller(self) -> int | None:
        """The pid of this system's resident wire poller (it has no bus name). Forked from the
        supervisor (daemon/forked.py), it has the supervisor's command line: its kernel name
        (comm, 15 bytes) tells them apart."""
        for pid in pids_with_marker(str(self.root)):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == POLLER_COMM:
                    return pid
        return None

    def wait_up(
        self, names: list[str], address: str | None = None, timeout: float = 60
    ) -> dict[str, int]:
        def owners() -> dict[str, int] | None:
            found = {name: self.owner(name, address) for name in names}
            return found if all(found.values()) else None  # type: ignore[return-value]

        result: dict[str, int] = wait_for(owners, timeout=timeout, what=f"{names} on the bus")
        return result

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop_daemons(self) -> None:
        for proc in self.daemons:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@contextlib.contextmanager
def cli_system(
    config: Mapping[str, str] | None = None,
    scenario: Scenario | None = None,
    *,
    activatable: bool = False,
) -> Iterator[CliSystem]:
    """`activatable`: the services are bus-activated as on systemd (no daemon needed)."""
    with fabric_for(None, scenario or Scenario.default()) as fabric:
        env = Environment(
            endpoint=fabric.address,
            config={**QUIET, **NO_PROVISIONING, **NO_FIREWALL, **(config or {})},
            activatable=activatable,
        )
        with env:
            # The daemon looks for devices and firmware inside the root: empty here.
            for inner in ("/sys", "/dev"):
                env.sandbox.path(inner).mkdir(exist_ok=True)
            system = CliSystem(env, fabric)
            try:
                yield system
            finally:
                system.stop_daemons()
                terminate(pids_with_marker(str(env.base)))


def kill(pid: int, signum: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
