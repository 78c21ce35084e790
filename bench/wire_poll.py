"""wire's idle cost: goal-state polls, status uploads, resident memory, CPU per idle hour.

1. In process, against `waagent-fabric serve` in its own process (so only wire's CPU is
   counted): 1000 polls with an unchanged incarnation, kept-alive connections vs the classic
   `Connection: close`; then 1000 full loop iterations (poll, and the status upload when due).
2. The real service on a private bus, idle against the fabric with its defaults (6-second poll,
   status refreshed every 60 s, heartbeats every minute): the requests the fabric received per
   idle minute by endpoint, beside the classic agent's; resident memory (RSS and PSS) and the
   CPU it spends in five minutes, scaled to an hour.
   Beside it, the same figure for a bare Python process waking on the same 6-second timer:
   on some virtual machines a wake-up after seconds idle costs milliseconds of (cold-cache)
   CPU, and that floor belongs to the machine, not to wire.

Run as root: .venv/bin/python bench/wire_poll.py
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness.environment import Environment
from tests.harness.fabric import fabric_process
from tests.harness.wait import wait_for
from waagent.common.commands import Runner
from waagent.common.config import AgentConfig
from waagent.common.names import WIRE
from waagent.common.root import Root
from waagent.fabric.recorder import RequestRecord
from waagent.wire.__main__ import HEADERS, StorageClients
from waagent.wire.agent import Clients, Wire
from waagent.wire.http import FabricHttp

POLLS = 1000
IDLE_SECONDS = 300
PERIOD = 6
BARE_WAKER = (
    "import asyncio\n"
    "async def main():\n"
    "    while True:\n"
    f"        await asyncio.sleep({PERIOD})\n"
    "asyncio.run(main())\n"
)
CLASSIC = {"rss_mib": 56.2, "cpu_s_per_hour": 2.8}
# Requests per idle minute of the classic agent, by duty (26 in all), and the fabric's endpoint
# names for each duty.
CLASSIC_PER_MINUTE = {
    "goal state": 11,
    "status PUT": 10,
    "HealthService": 3,
    "HostGAPlugin health": 1,
    "IMDS": 1,
}
DUTIES = {
    "goalstate": "goal state",
    "hgap-status": "status PUT",
    "storage-status": "status PUT",
    "healthservice": "HealthService",
    "hgap-health": "HostGAPlugin health",
    "imds": "IMDS",
}
BUDGET = {"rss_mib": 28.0, "cpu_s_per_hour": 0.55}


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def polls(root: Path, endpoint: str, *, close: bool, iterations: bool) -> tuple[float, float]:
    headers = {**HEADERS, **({"Connection": "close"} if close else {})}
    client = httpx.AsyncClient(trust_env=False, headers=headers)
    wire = Wire(Root(root), AgentConfig(), Clients(FabricHttp(client), StorageClients()), Runner())
    await wire.start()
    await wire.refresh(force=True)
    started_cpu, started = cpu(), time.perf_counter()
    for _ in range(POLLS):
        if iterations:
            await wire.poll_once()
        else:
            await wire.refresh()
    elapsed_cpu, elapsed = cpu() - started_cpu, time.perf_counter() - started
    await client.aclose()
    return elapsed_cpu, elapsed


def process_figures(pid: int) -> dict[str, float]:
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    values = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:]}
    return {"rss_mib": values["Rss"] / 1024, "pss_mib": values["Pss"] / 1024, "cpu_s": cpu_of(pid)}


def cpu_of(pid: int) -> float:
    """Scheduler run time in seconds: nanosecond-exact, where stat's ticks are 10 ms samples."""
    return (
        sum(
            int(Path(task, "schedstat").read_text().split()[0])
            for task in Path(f"/proc/{pid}/task").iterdir()
        )
        / 1e9
    )


def print_requests(requests: list[RequestRecord]) -> None:
    minutes = IDLE_SECONDS / 60
    counts = Counter(DUTIES.get(r.endpoint or "", r.endpoint or r.path) for r in requests)
    print(f"  requests per idle minute, by duty ({minutes:g} min idle)")
    print(f"  {'':<28} {'waagent':>10} {'classic':>10}")
    for duty, classic in CLASSIC_PER_MINUTE.items():
        print(f"  {duty:<28} {counts.pop(duty, 0) / minutes:10.2f} {classic:10d}")
    for other, count in sorted(counts.items()):
        print(f"  {other:<28} {count / minutes:10.2f} {'-':>10}")
    print(f"  {'total':<28} {len(requests) / minutes:10.2f} {sum(CLASSIC_PER_MINUTE.values()):10d}")


def in_process() -> None:
    print(f"== {POLLS} goal-state polls, unchanged incarnation (wire's CPU only)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        for inner in ("var/lib/waagent-wire", "etc", "var/lib/dhcp"):
            (root / inner).mkdir(parents=True)
        with fabric_process(Path(tmp) / "fabric", root) as fabric:
            for label, close, iterations in (
                ("polls, kept-alive connection", False, False),
                ("polls, Connection: close (classic)", True, False),
                ("full iterations (status every 60 s), kept-alive", False, True),
                ("full iterations, Connection: close", True, True),
            ):
                used, wall = asyncio.run(
                    polls(root, fabric.address, close=close, iterations=iterations)
                )
                print(
                    f"  {label:<50} CPU {used:6.3f} s ({used / POLLS * 1000:.2f} ms each)"
                    f"   wall {wall:6.3f} s"
                )


def service() -> None:
    print(f"\n== the wire service idle on a private bus ({IDLE_SECONDS} s, {PERIOD} s period)")
    with (
        subprocess.Popen([sys.executable, "-c", BARE_WAKER]) as bare,
        tempfile.TemporaryDirectory() as tmp,
        fabric_process(Path(tmp) / "fabric") as fabric,
        Environment(endpoint=fabric.address) as env,
    ):
        env.busctl.call(WIRE.name, WIRE.path, WIRE.interface, "Ping")
        wait_for(
            lambda: (
                env.busctl.get_property(WIRE.name, WIRE.path, WIRE.interface, "State") == "Ready"
            ),
            timeout=60,
            what="wire Ready",
        )
        pid = env.busctl.owner_pid(WIRE.name)
        time.sleep(PERIOD)
        mark = fabric.client.requests()[-1].seq
        before, bare_before = process_figures(pid), cpu_of(bare.pid)
        time.sleep(IDLE_SECONDS)
        after, bare_after = process_figures(pid), cpu_of(bare.pid)
        requests = [r for r in fabric.client.requests() if r.seq > mark]
        bare.terminate()
    print_requests(requests)
    per_hour = (after["cpu_s"] - before["cpu_s"]) * 3600 / IDLE_SECONDS
    bare_per_hour = (bare_after - bare_before) * 3600 / IDLE_SECONDS
    print(f"  {'':<28} {'waagent':>10} {'budget':>10} {'classic':>10}")
    print(
        f"  {'resident memory (RSS MiB)':<28} {after['rss_mib']:10.1f} {BUDGET['rss_mib']:10.1f}"
        f" {CLASSIC['rss_mib']:10.1f}"
    )
    print(f"  {'proportional (PSS MiB)':<28} {after['pss_mib']:10.1f}")
    print(
        f"  {'CPU s per idle hour':<28} {per_hour:10.2f} {BUDGET['cpu_s_per_hour']:10.2f}"
        f" {CLASSIC['cpu_s_per_hour']:10.2f}"
    )
    print(
        f"  {'  bare Python, same timer':<28} {bare_per_hour:10.2f}"
        "   (this machine's wake-up floor)"
    )


if __name__ == "__main__":
    in_process()
    service()
