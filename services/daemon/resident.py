"""The resident `waagent -daemon`: the supervisor, with the standard library only.

run.py reads the configuration and plans (resident_plan.py), then execs this module in its own
process. From here on: the WireServer firewall set up once and again on a new endpoint, the bus
daemon and the poller kept running, the on-demand services started once in the classic order,
log collection on its schedule, extd started for extension events; at SIGTERM everything stopped
in reverse, the bus last, and the files of the bus removed. A test checks that this process
maps neither pydantic nor dbus-fast (tests/daemon/test_own_bus.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path

from .. import __version__
from ..common import logs, minibus
from ..common.commands import Runner
from ..common.lean import without_ssl
from . import activation, forked, system_bus
from .event_wake import EventWake
from .firewall import DaemonFirewall
from .log_collection import PeriodicCollection, Schedule
from .pidfile import PidFile
from .resident_plan import PlanError, ResidentPlan, Step, read_fd
from .supervisor import Program, Running, Start, Supervisor

log = logging.getLogger(__name__)

OWNER_POLL = 1.0


def bus_env(address: str) -> dict[str, str]:
    """The children's environment: ours, with the bus as the system bus."""
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    env[system_bus.ENV_VAR] = address
    return env


async def owned_by(address: str, name: str, pid: int) -> bool:
    """Does process `pid` own `name`? A connection per question: asked only while services
    start, and nothing is left to break when the bus stops."""
    try:
        return await minibus.owner_pid(address, name) == pid
    except minibus.NO_ANSWER:
        return False  # the bus is not there yet, or went away: not ready


async def served(address: str, name: str) -> None:
    """Return once someone owns `name` on the bus at `address`."""
    while True:
        with contextlib.suppress(*minibus.NO_ANSWER):
            if await minibus.owner_pid(address, name) is not None:
                return
        await asyncio.sleep(OWNER_POLL)


async def _running(pid: int) -> bool:
    return True


def _ready(step: Step, address: str) -> Callable[[int], Awaitable[bool]]:
    if step.ready == "bus":

        async def bus_ready(pid: int) -> bool:
            return await system_bus.accepts(address)

        return bus_ready
    if step.ready == "owner":
        return partial(owned_by, address, step.name)
    return _running


def programs(plan: ResidentPlan) -> list[Program | Start]:
    env = bus_env(plan.bus_address)
    services = [activation.Activatable(s.name, s.argv, s.user) for s in plan.activated]
    servicedir = Path(plan.servicedir)

    async def stop_activated(grace: float) -> None:
        await activation.close(servicedir, plan.bus_address)
        await activation.stop_activated(services, grace)

    found: list[Program | Start] = []
    for step in plan.steps:
        if step.ready == "start":
            start = partial(activation.start_service, plan.bus_address, step.name)
            found.append(Start(step.label, start))
            continue
        # The bus daemon, before it stops: what it activated (on its own bus).
        before_stop = stop_activated if step.ready == "bus" and plan.own_bus else None
        ready = _ready(step, plan.bus_address)
        fork = forked_poller(step, env) if step.forked else None
        found.append(Program(step.label, step.argv, ready, env, before_stop, fork))
    return found


def forked_poller(step: Step, env: dict[str, str]) -> Callable[[], Running]:
    """The poller, forked from this process (forked.py). Its modules are imported here, before
    any fork, so every child shares them, and without TLS, as its own entry point imports it."""
    with without_ssl():
        from ..wirepoll.poller import parse_args, run

    # Parsed here, once: a bad argument fails the start-up, not each forked child.
    target = partial(run, parse_args(step.argv))
    name = f"waagent-{step.label}"
    return partial(forked.spawn, target, name=name, env=env, identity=step.identity)


def periodic_collection(plan: ResidentPlan) -> asyncio.Task[None] | None:
    """Logs.Collect=y: the log collector's schedule, as a task beside the services."""
    collection = plan.collection
    if collection is None:
        return None
    wait_for = collection.wait_for

    async def ready() -> None:
        # On demand (the poller is the resident process), wire is activated by the upload.
        if wait_for:
            await served(plan.bus_address, wait_for)

    schedule = Schedule(collection.delay, collection.period)
    periodic = PeriodicCollection(schedule, collection.argv, bus_env(plan.bus_address), ready=ready)
    return asyncio.ensure_future(periodic.run())


def event_wake(plan: ResidentPlan) -> asyncio.Task[None] | None:
    """With extd on demand: start it when an extension drops an event file (event_wake.py)."""
    if plan.wake is None:
        return None
    start = partial(activation.start_service, plan.bus_address, plan.wake.name)
    return asyncio.ensure_future(EventWake(Path(plan.wake.log_dir), start).run())


async def supervise(plan: ResidentPlan) -> int:
    firewall = None
    if plan.firewall is not None:
        spec = plan.firewall
        firewall = DaemonFirewall(spec.argv, spec.env, Path(spec.lib_dir), Runner())
        # Before wire's first request, as the boot unit runs before the network.
        await firewall.setup()
    with contextlib.ExitStack() as watching:
        if firewall is not None:
            watching.enter_context(firewall.watch())
        return await _supervise(plan)


async def _supervise(plan: ResidentPlan) -> int:
    where = "a bus of its own" if plan.own_bus else "the system bus"
    log.info(
        "waagent %s daemon: running the services on %s (%s)", __version__, where, plan.bus_address
    )
    tasks = [periodic_collection(plan), event_wake(plan)]
    try:
        return await Supervisor(programs(plan)).run()
    finally:
        for task in tasks:
            if task is None:
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        system_bus.remove(Path(p) for p in plan.leftovers)
        log.info("waagent daemon stopped")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="waagent -daemon",
        description="the resident half of `waagent -daemon` (started by it, not by hand)",
    )
    parser.add_argument("--plan-fd", type=int, required=True)
    # After `--`: the `waagent -daemon` command line this process continues, for ps to show.
    parser.add_argument("continues", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        plan = read_fd(args.plan_fd)
    except (OSError, PlanError) as exc:
        sys.stderr.write(f"waagent -daemon: cannot read the start-up plan: {exc}\n")
        return 1
    pids = PidFile.adopt(Path(plan.pid_file), plan.pid_fd)
    try:
        logs.setup(
            "waagent", verbose=plan.verbose, log_file=Path(plan.log_file) if plan.log_file else None
        )
        return asyncio.run(supervise(plan))
    finally:
        pids.release()
