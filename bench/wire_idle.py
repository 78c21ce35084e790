"""Idle cost of every agent process with wire's lean resident path (issue 17, items 1-2).

The real services on a private bus against `waagent-fabric serve` in its own process, with the
defaults (6 s goal-state poll, status refreshed every 60 s, heartbeats every minute): the poller
(`waagent-wirepoll`, stdlib only) starts, wakes full wire once (`wire --with-poller`, which
exits when idle), then everything idles for the window. Printed:

- PSS and RSS of every agent process alive at the end (/proc/<pid>/smaps_rollup);
- CPU of every agent process and its children over the window (/proc/<pid>/task/*/schedstat,
  sampled every 2 s so a woken wire counts too), scaled to an hour, beside a bare `python3`
  sleeping on the same 6 s period (this machine's wake-up floor), and net of it;
- the requests the fabric received per idle minute, by kind;
- beside the classic agent's figures measured on the reference harness (issue 17).

Run as root: .venv/bin/python bench/wire_idle.py [--quick] [--seconds N]
(default 300 s idle, about 6 minutes in all; --quick: 60 s, a smoke run, not a measurement).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from wire_poll import BARE_WAKER, CLASSIC_PER_MINUTE, DUTIES, PERIOD, cpu_of

from tests.harness.environment import Environment
from tests.harness.fabric import fabric_process
from tests.harness.users import as_user
from tests.harness.wait import wait_for
from waagent.common.names import WIRE, WIRE_USER

# The classic agent 2.15 on the reference harness (issue 17's table), and the budgets.
CLASSIC = {"pss": 42.8, "rss": 56.2, "cpu": 2.82, "requests": 26}
BEFORE = {"pss": 40.9, "rss": 44.7, "cpu": 1.21}  # wire resident alone (issue 17)
BUDGET = {"pss": 21.0, "rss": 28.0, "cpu": 0.56}
KINDS = {**DUTIES, "hgap-vmsettings": "vmSettings", "telemetry": "telemetry"}
SAMPLE = 2.0


def agent_pids(marker: str) -> dict[int, str]:
    """Processes of this private system running an agent program (python -m waagent.X)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() not in b" ".join(argv):
            continue
        programs = [a.decode() for a in argv if a.startswith(b"waagent.")]
        if programs:
            found[int(entry.name)] = programs[0].removeprefix("waagent.")
    return found


def memory(pid: int) -> tuple[float, float]:
    """(PSS, RSS) in MiB."""
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    values = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:]}
    return values["Pss"] / 1024, values["Rss"] / 1024


def children_cpu(pid: int) -> float:
    """CPU of reaped children (dbus-send): cutime + cstime from /proc/<pid>/stat, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Summed run time of every agent process seen, including those that come and go."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.names: dict[int, str] = {}

    def sample(self) -> None:
        for pid, name in agent_pids(self.marker).items():
            try:
                used = cpu_of(pid) + children_cpu(pid)
            except (OSError, ValueError, IndexError):
                continue
            # A process born in the window counts from 0: its start is idle-time cost too.
            self.first.setdefault(pid, 0.0)
            self.last[pid] = used
            self.names[pid] = name

    def start(self) -> None:
        for pid, name in agent_pids(self.marker).items():
            self.first[pid] = cpu_of(pid) + children_cpu(pid)
            self.last[pid] = self.first[pid]
            self.names[pid] = name

    def used(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a 60 s window: a smoke run")
    parser.add_argument("--seconds", type=float, default=None, help="the idle window")
    args = parser.parse_args()
    window = args.seconds or (60.0 if args.quick else 300.0)
    print(f"== every agent process idle, wire's lean resident path ({window:g} s, {PERIOD} s poll)")
    with (
        subprocess.Popen([sys.executable, "-c", BARE_WAKER]) as bare,
        tempfile.TemporaryDirectory() as tmp,
        fabric_process(Path(tmp) / "fabric") as fabric,
        Environment(endpoint=fabric.address) as env,
    ):
        env.make_activatable(WIRE, "--with-poller")
        state = env.sandbox.path("/var/lib/waagent-wire/poll_state.json")
        poller = subprocess.Popen(
            [*as_user(WIRE_USER), *env.service_argv("wirepoll")],
            env={"DBUS_SYSTEM_BUS_ADDRESS": env.address, "PATH": "/usr/bin:/bin"},
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(state.exists, timeout=180, what="wire to hand the polling to the poller")
            wait_for(
                lambda: set(agent_pids(str(env.base)).values()) == {"wirepoll"},
                timeout=180,
                what="the poller alone",
            )
            time.sleep(PERIOD)
            mark = fabric.client.requests()[-1].seq
            meter = CpuMeter(str(env.base))
            meter.start()
            bare_before = cpu_of(bare.pid)
            deadline = time.monotonic() + window
            while time.monotonic() < deadline:
                time.sleep(min(SAMPLE, max(0.0, deadline - time.monotonic())))
                meter.sample()
            bare_used = cpu_of(bare.pid) - bare_before
            alive = agent_pids(str(env.base))
            figures = {pid: memory(pid) for pid in alive}
            requests = [r for r in fabric.client.requests() if r.seq > mark]
        finally:
            poller.terminate()
            poller.wait(timeout=10)
            bare.terminate()
    report(window, alive, figures, meter, bare_used, requests)
    return 0


def report(
    window: float,
    alive: dict[int, str],
    figures: dict[int, tuple[float, float]],
    meter: CpuMeter,
    bare_used: float,
    requests: list,  # type: ignore[type-arg]
) -> None:
    hour = 3600 / window
    pss, rss = sum(f[0] for f in figures.values()), sum(f[1] for f in figures.values())
    cpu, floor = meter.used() * hour, bare_used * hour
    seen = Counter(meter.names.values())
    print(f"  processes at the end: {', '.join(sorted(alive.values())) or 'none'}")
    print(f"  agent processes seen in the window: {dict(seen)}")
    print(f"  {'':<34} {'waagent':>9} {'budget':>9} {'before':>9} {'classic':>9}")
    print(
        f"  {'idle PSS, all agent processes MiB':<34} {pss:9.1f} {BUDGET['pss']:9.1f}"
        f" {BEFORE['pss']:9.1f} {CLASSIC['pss']:9.1f}"
    )
    print(
        f"  {'idle RSS, all agent processes MiB':<34} {rss:9.1f} {BUDGET['rss']:9.1f}"
        f" {BEFORE['rss']:9.1f} {CLASSIC['rss']:9.1f}"
    )
    print(f"  {'idle CPU s/h (with heartbeats)':<34} {cpu:9.2f} {'':>9} {BEFORE['cpu']:9.2f}")
    print(f"  {'  bare python3, same period (floor)':<34} {floor:9.2f}")
    print(
        f"  {'  net of the floor':<34} {cpu - floor:9.2f} {BUDGET['cpu']:9.2f} {'':>9}"
        f" {CLASSIC['cpu']:9.2f}"
    )
    minutes = window / 60
    counts = Counter(KINDS.get(r.endpoint or "", r.endpoint or r.path) for r in requests)
    print(f"  requests per idle minute, by kind ({minutes:g} min)")
    for kind, classic in CLASSIC_PER_MINUTE.items():
        print(f"    {kind:<32} {counts.pop(kind, 0) / minutes:9.2f} {classic:>29}")
    for other, count in sorted(counts.items()):
        print(f"    {other:<32} {count / minutes:9.2f} {'-':>29}")
    print(f"    {'total':<32} {len(requests) / minutes:9.2f} {CLASSIC['requests']:>29}")
    print("  (classic: measured on the reference harness, issue 17; before: wire resident alone)")


if __name__ == "__main__":
    sys.exit(main())
