"""`waagent -daemon` on a host without systemd: start-up, restart, memory, `waagent status`.

1. Daemon start to every service on the bus, on a private system bus and on a bus of its own
   (the dbus-daemon it starts), median of a few runs.
2. SIGKILL to diskd until a new diskd owns its name (the first backoff delay is 1 s).
3. Idle memory (RSS and PSS, /proc/<pid>/smaps_rollup) of every process of the daemon, each
   and the sum: on a system bus that is not its own every service stays resident (as every
   -daemon did before issue 17); on its own bus only the resident service, the bus daemon and
   the supervisor remain once the on-demand services left when idle (issue 17): once with
   the polls an hour apart (the services' figure), once after the poller polled every 6 s for
   a minute (five without --quick), which is what a VM sees.
4. The first call to an idle on-demand service (bus activation of diskd), wall time.
5. `waagent status` and `waagent status --json`, wall time per call.

Run as root: .venv/bin/python bench/cli_daemon.py [--quick]   (--quick: one run of each)
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cli.system import (
    NO_FIREWALL,
    NO_PROVISIONING,
    QUIET,
    CliSystem,
    children_of,
    cli_system,
    installed_services,
    kill,
)
from tests.harness.procs import alive, pids_with_marker
from tests.harness.wait import wait_for
from waagent.common.names import DISK, SERVICES, WIRE
from waagent.daemon.launch import RESIDENT

QUICK = "--quick" in sys.argv[1:]
RUNS = 1 if QUICK else 5
STATUS_CALLS = 2 if QUICK else 10
IDLE_TIMEOUT = 2  # Services.IdleTimeout for the on-demand figure: the default 30 s is a wait
POLLING = 60.0 if QUICK else 300.0  # seconds of polling before the second idle figure
BUDGET = {"pss": 21.0, "rss": 28.0}  # issue 17: all agent processes at idle


def memory_mib(pid: int) -> tuple[float, float]:
    """(RSS, PSS): PSS shares the interpreter's pages among the processes that map them."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            values[key] = int(rest.split()[0]) / 1024
    return values["Rss"], values["Pss"]


def agent_memory(system: CliSystem, labels: dict[int, str]) -> tuple[float, float]:
    """Each process of this daemon (the sandbox is in every command line), then the sum."""
    pids = sorted(pid for pid in pids_with_marker(str(system.root)) if alive(pid))
    total_rss = total_pss = 0.0
    for pid in pids:
        rss, pss = memory_mib(pid)
        total_rss += rss
        total_pss += pss
        print(f"  {labels.get(pid, f'pid {pid}'):<26} RSS {rss:5.1f} MiB, PSS {pss:5.1f} MiB")
    return total_rss, total_pss


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


def resident_everywhere(system: CliSystem) -> None:
    """On the private system bus (not the daemon's own): every service resident."""
    daemon = system.start_daemon()
    owners = system.wait_up(installed_services())
    before = owners[DISK.name]
    killed = time.perf_counter()
    kill(before)
    wait_for(lambda: system.owner(DISK.name) not in (None, before), timeout=30, what="diskd back")
    print(f"SIGKILL diskd -> new diskd on the bus: {time.perf_counter() - killed:.2f} s")

    owners = system.wait_up(installed_services())
    print("idle memory, a system bus not its own (every service resident, as before issue 17):")
    labels = {daemon.pid: "supervisor"} | {pid: name for name, pid in owners.items()}
    rss, pss = agent_memory(system, labels)
    print(
        f"idle memory, all -daemon processes, every service resident: RSS {rss:.1f} MiB,"
        f" PSS {pss:.1f} MiB"
    )
    print(f"children of the daemon: {len(children_of(daemon.pid))}")

    for args in (("status",), ("status", "--json")):
        started = time.perf_counter()
        for _ in range(STATUS_CALLS):
            result = system.waagent(*args)
            assert result.returncode == 0, result.stderr
        per_call = (time.perf_counter() - started) / STATUS_CALLS
        print(f"waagent {' '.join(args)}: {per_call * 1000:.0f} ms per call")
    stop(daemon)


def settle(system: CliSystem, expected: int) -> float:
    """Wait until only the `expected` resident processes run; the seconds it took."""
    started = time.perf_counter()
    wait_for(
        lambda: len([p for p in pids_with_marker(str(system.root)) if alive(p)]) == expected,
        timeout=120,
        what="only the resident processes",
    )
    return time.perf_counter() - started


def on_demand(system: CliSystem, address: str, *, polling: float = 0.0) -> None:
    """On its own bus: once the services started at boot left when idle. With `polling`, the
    poller runs on the default periods (a goal-state poll every 6 s) for that long first: the
    pages the forked poller shares with the supervisor are copied as either writes to them."""
    config = {**NO_PROVISIONING, **NO_FIREWALL} | ({} if polling else QUIET)
    system.env.sandbox.write_config(config | {"Services.IdleTimeout": str(IDLE_TIMEOUT)})
    daemon = system.start_daemon(address=address)
    owners = system.wait_up(["org.freedesktop.DBus", WIRE.name], address=address)
    resident = {SERVICES[p].name for p in RESIDENT if p in SERVICES}
    activated = [name for name in installed_services() if name not in resident]
    wait_for(
        lambda: all(f"{n} is up (started on demand)" in system.log_text() for n in activated),
        timeout=60,
        what="the on-demand services started at boot",
    )
    wait_for(
        lambda: all(system.owner(n, address) is None for n in activated),
        timeout=60,
        what="the on-demand services to exit when idle",
    )
    expected = 1 + len(owners)  # the supervisor, the bus daemon, the resident service
    settle(system, expected)
    time.sleep(IDLE_TIMEOUT + polling)
    if polling:
        # What the poller woke in the meantime (wire for a log upload, say) leaves when idle.
        waited = settle(system, expected)
        print(f"  (after {polling:g} s: {waited:.1f} s until the on-demand services had left)")
    how = f", polling for {polling:g} s" if polling else ""
    print(f"idle memory, its own bus, on demand{how} (resident: {', '.join(RESIDENT)}):")
    labels = {daemon.pid: "supervisor", owners["org.freedesktop.DBus"]: "dbus-daemon"}
    labels |= {pid: name for name, pid in owners.items() if name != "org.freedesktop.DBus"}
    poller = system.poller()
    if poller is not None:
        labels[poller] = "waagent-wirepoll"
    rss, pss = agent_memory(system, labels)
    print(
        f"idle memory, all -daemon processes, on demand{how}: RSS {rss:.1f} MiB,"
        f" PSS {pss:.1f} MiB (issue 17 budget: RSS {BUDGET['rss']:g}, PSS {BUDGET['pss']:g})"
    )
    if polling:
        stop(daemon)
        return
    started = time.perf_counter()
    reply = subprocess.run(
        ["busctl", f"--address={address}", "get-property", DISK.name, DISK.path,
         DISK.interface, "Mounted"],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    assert reply.returncode == 0
    print(f"first call to idle diskd (bus activation): {time.perf_counter() - started:.2f} s")
    stop(daemon)


def main() -> int:
    with cli_system() as system:
        own_bus = f"unix:path={system.env.base}/own-bus/system_bus_socket"
        print(f"services under the daemon: {', '.join(installed_services())}")
        for label, address in (("system bus", None), ("own bus", own_bus)):
            times = [start_up(system, address) for _ in range(RUNS)]
            print(
                f"daemon start -> all up ({label}): median {statistics.median(times):.2f} s"
                f" (min {min(times):.2f}, max {max(times):.2f}, {RUNS} runs)"
            )
        resident_everywhere(system)
        on_demand(system, own_bus)
        on_demand(system, own_bus, polling=POLLING)
    return 0


if __name__ == "__main__":
    sys.exit(main())
