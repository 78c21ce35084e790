"""`waagent -daemon` on a host without systemd: start-up, restart, memory, `waagent status`.

1. Daemon start to every service on the bus, on a private system bus and on a bus of its own
   (the dbus-daemon it starts), median of a few runs.
2. SIGKILL to diskd until a new diskd owns its name (the first backoff delay is 1 s).
3. Memory once everything is up and idle (RSS and PSS): the supervisor, each service, the sum
   (under the daemon every service stays resident; with systemd only wire does).
4. `waagent status` and `waagent status --json`, wall time per call.

Run as root: .venv/bin/python bench/cli_daemon.py
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cli.system import CliSystem, children_of, cli_system, installed_services, kill
from tests.harness.wait import wait_for
from waagent.common.names import DISK

RUNS = 5
STATUS_CALLS = 10


def memory_mib(pid: int) -> tuple[float, float]:
    """(RSS, PSS): PSS shares the interpreter's pages among the processes that map them."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            values[key] = int(rest.split()[0]) / 1024
    return values["Rss"], values["Pss"]


def stop(daemon: subprocess.Popen[bytes]) -> None:
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(60)


def start_up(system: CliSystem, address: str | None) -> float:
    started = time.perf_counter()
    daemon = system.start_daemon(address=address)
    names = installed_services() + (["org.freedesktop.DBus"] if address else [])
    system.wait_up(names, address=address, timeout=60)
    elapsed = time.perf_counter() - started
    stop(daemon)
    return elapsed


def main() -> int:
    with cli_system() as system:
        print(f"services under the daemon: {', '.join(installed_services())}")
        for label, address in (
            ("system bus", None),
            ("own bus", f"unix:path={system.env.base}/own-bus/system_bus_socket"),
        ):
            times = [start_up(system, address) for _ in range(RUNS)]
            print(
                f"daemon start -> all up ({label}): median {statistics.median(times):.2f} s"
                f" (min {min(times):.2f}, max {max(times):.2f}, {RUNS} runs)"
            )

        daemon = system.start_daemon()
        owners = system.wait_up(installed_services())
        before = owners[DISK.name]
        killed = time.perf_counter()
        kill(before)
        wait_for(
            lambda: system.owner(DISK.name) not in (None, before), timeout=30, what="diskd back"
        )
        print(f"SIGKILL diskd -> new diskd on the bus: {time.perf_counter() - killed:.2f} s")

        owners = system.wait_up(installed_services())
        measured = {"supervisor": memory_mib(daemon.pid)}
        measured |= {name: memory_mib(pid) for name, pid in owners.items()}
        for name, (rss, pss) in measured.items():
            print(f"memory {name}: RSS {rss:.1f} MiB, PSS {pss:.1f} MiB")
        rss = sum(r for r, _ in measured.values())
        pss = sum(p for _, p in measured.values())
        print(f"all agent processes under the daemon: RSS {rss:.1f} MiB, PSS {pss:.1f} MiB")
        print(f"children of the daemon: {len(children_of(daemon.pid))}")

        for args in (("status",), ("status", "--json")):
            started = time.perf_counter()
            for _ in range(STATUS_CALLS):
                result = system.waagent(*args)
                assert result.returncode == 0, result.stderr
            per_call = (time.perf_counter() - started) / STATUS_CALLS
            print(f"waagent {' '.join(args)}: {per_call * 1000:.0f} ms per call")
        stop(daemon)
    return 0


if __name__ == "__main__":
    sys.exit(main())
