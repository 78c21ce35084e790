"""`waagent -daemon` and `-start`: the services without systemd.

On a bus of its own (no system bus answers: the usual case without systemd) only `RESIDENT`, the
stdlib poller, runs resident under the supervisor, as under systemd; every service is started
on demand by the bus daemon's own activation and exits when idle (activation.py). The supervisor
still starts each of them once at boot, in the classic daemon's order: the resource disk, the
protocol (wire), which provisioning reports through, provisioning, then extensions. On a system
bus that is not its own it cannot add activation files, so there every service runs resident
(`--no-idle-exit`). The WireServer firewall is in place before any of them (firewall.py).

No service outlives the supervisor: what it runs has a parent-death signal (the bus daemon
too), and an activated service leaves when it loses its bus. wire and its poller run as
`waagent-wire` when that user exists (its own groups only, no capabilities at all); the others
run as root.

With a root other than `/`, everything a service would read from the host's kernel is looked
for inside the root as well (`<root>/sys`, `<root>/dev`, `<root>/proc/net/route`), so an image
builder's tree or a test's sandbox never sees the host's devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from dbus_fast.aio import MessageBus

from .. import __version__
from ..cli.busquery import owner_pid
from ..common import logs
from ..common.commands import Runner
from ..common.config import AgentConfig
from ..common.errors import WaagentError
from ..common.names import SERVICES, WIRE_USER
from ..common.root import Root
from ..wire.state import STATE_DIR as WIRE_STATE_DIR
from . import activation, system_bus
from .event_wake import EventWake
from .firewall import DaemonFirewall, setup_command
from .launch import (
    POLLER,
    START_ORDER,
    WIRE_PROGRAMS,
    DaemonSettings,
    installed,
    on_demand,
    privileges,
    service_argv,
    wire_user,
)
from .log_collection import PeriodicCollection, Schedule, collect_argv
from .pidfile import PidFile
from .supervisor import Program, Start, Supervisor

log = logging.getLogger(__name__)

BUS_CONFIG = "/run/waagent/system-bus.conf"
START_TIMEOUT = 30.0


def prepare_state(root: Root, config: AgentConfig, user: pwd.struct_passwd | None) -> None:
    """What systemd-tmpfiles would have made at boot: the state and log directories, wire's
    own directory, and a log file wire may append to."""
    root.makedirs(config.lib_dir, 0o700)
    root.makedirs(config.extension_log_dir, 0o755)
    wire_dir = root.makedirs(WIRE_STATE_DIR, 0o700)
    log_file = root.resolve(config.logs_file)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    if user is None:
        return
    os.chown(wire_dir, user.pw_uid, user.pw_gid)
    if not log_file.exists():
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        os.fchown(fd, 0, user.pw_gid)
        os.fchmod(fd, 0o664)
        os.close(fd)


async def owned_by(address: str, name: str, pid: int) -> bool:
    """Does process `pid` own `name` on the bus at `address`? A connection per question: they
    are asked only while the services start, and nothing is left to break when the bus stops."""
    try:
        bus = await MessageBus(bus_address=address).connect()
    except Exception:  # the bus is not there yet, or went away: not ready
        return False
    try:
        return await owner_pid(bus, name) == pid
    except WaagentError:
        return False
    finally:
        bus.disconnect()


def bus_env(plan: system_bus.BusPlan) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    env[system_bus.ENV_VAR] = plan.address
    return env


async def served(address: str, name: str) -> None:
    """Return once someone owns `name` on the bus at `address`."""
    while True:
        # Any failure means the bus is not there yet: ask again.
        with contextlib.suppress(Exception):
            bus = await MessageBus(bus_address=address).connect()
            try:
                if await owner_pid(bus, name) is not None:
                    return
            finally:
                bus.disconnect()
        await asyncio.sleep(1)


def programs(settings: DaemonSettings, plan: system_bus.BusPlan) -> list[Program | Start]:
    env = bus_env(plan)
    user = wire_user()
    found: list[Program | Start] = []
    if plan.own:
        config = settings.root.resolve(BUS_CONFIG)

        async def bus_ready(pid: int) -> bool:
            return await system_bus.accepts(plan.address)

        argv = [*privileges(None), *system_bus.daemon_argv(config)]
        servicedir = settings.root.resolve(activation.SERVICE_DIR)
        services = activatable(settings, plan)

        async def stop(grace: float) -> None:
            await activation.close(servicedir, plan.address)
            await activation.stop_activated(services, grace)

        found.append(Program("dbus-daemon", argv, bus_ready, env, before_stop=stop))
    for program in START_ORDER:
        if not installed(program):
            log.info("%s is not installed; not started", program)
            continue
        prefix = privileges(user if program in WIRE_PROGRAMS else None)
        if program == POLLER:
            if plan.own:  # it has no bus name: running is being ready
                argv = [*prefix, *service_argv(program, settings, resident=False)]
                found.append(Program(program, argv, _running, env))
            continue
        name = SERVICES[program].name
        if on_demand(program, plan):
            found.append(Start(name, partial(activation.start_service, plan.address, name)))
            continue

        async def ready(pid: int, name: str = name) -> bool:
            return await owned_by(plan.address, name, pid)

        found.append(Program(name, [*prefix, *service_argv(program, settings)], ready, env))
    return found


async def _running(pid: int) -> bool:
    return True


def activatable(settings: DaemonSettings, plan: system_bus.BusPlan) -> list[activation.Activatable]:
    """The activation files: each service started on demand, as its user, as the supervisor
    would start it."""
    user = wire_user()
    found = []
    for program in START_ORDER:
        if program == POLLER or not (installed(program) and on_demand(program, plan)):
            continue
        runs_as = user if program in WIRE_PROGRAMS else None
        prefix = privileges(runs_as, pdeathsig=False)
        argv = [*prefix, *service_argv(program, settings, resident=False)]
        name = SERVICES[program].name
        found.append(activation.Activatable(name, argv, runs_as.pw_name if runs_as else "root"))
    return found


def write_bus_config(settings: DaemonSettings, plan: system_bus.BusPlan) -> list[Path]:
    """The private bus's configuration and activation files; what to remove when it stops."""
    assert plan.socket is not None
    plan.socket.parent.mkdir(parents=True, exist_ok=True)
    config = settings.root.resolve(BUS_CONFIG)
    servicedir = settings.root.resolve(activation.SERVICE_DIR)
    services = activation.write_services(servicedir, activatable(settings, plan))
    text = system_bus.config_text(
        plan.socket,
        system_bus.policy_dirs(),
        root_owns_wire=wire_user() is None,
        activation=activation.servicedir_config(servicedir),
    )
    system_bus.write_config(config, text)
    return [config, plan.socket, *services]


def daemon_firewall(settings: DaemonSettings) -> DaemonFirewall | None:
    if not installed("netd"):
        return None
    root = settings.root
    argv, env = setup_command(root.path, settings.config_path, verbose=settings.verbose)
    return DaemonFirewall(argv, env, root.resolve(settings.config.lib_dir), Runner())


def periodic_collection(
    settings: DaemonSettings, plan: system_bus.BusPlan
) -> asyncio.Task[None] | None:
    """Logs.Collect=y: the log collector's schedule, as a task beside the services."""
    schedule = Schedule.of(settings.config)
    if schedule is None:
        return None
    argv = collect_argv(settings.root, settings.config_path)
    wire = SERVICES["wire"].name

    async def ready() -> None:
        # On demand (the poller is the resident process), wire is activated by the upload.
        if not on_demand("wire", plan):
            await served(plan.address, wire)

    collection = PeriodicCollection(schedule, argv, bus_env(plan), ready=ready)
    return asyncio.ensure_future(collection.run())


def event_wake(settings: DaemonSettings, plan: system_bus.BusPlan) -> asyncio.Task[None] | None:
    """With extd on demand: start it when an extension drops an event file (event_wake.py)."""
    if not (installed("extd") and on_demand("extd", plan)):
        return None
    log_dir = settings.root.resolve(settings.config.extension_log_dir)
    name = SERVICES["extd"].name
    wake = EventWake(log_dir, partial(activation.start_service, plan.address, name))
    return asyncio.ensure_future(wake.run())


async def supervise(settings: DaemonSettings) -> int:
    firewall = daemon_firewall(settings)
    if firewall is not None:
        # Before wire's first request, as the boot unit runs before the network.
        await firewall.setup()
    with contextlib.ExitStack() as watching:
        if firewall is not None:
            watching.enter_context(firewall.watch())
        return await _supervise(settings)


async def _supervise(settings: DaemonSettings) -> int:
    plan = await system_bus.plan(os.environ, settings.root)
    leftovers = write_bus_config(settings, plan) if plan.own else []
    where = "a bus of its own" if plan.own else "the system bus"
    log.info("waagent %s daemon: running the services on %s (%s)", __version__, where, plan.address)
    if wire_user() is None:
        log.warning("user %s does not exist; wire runs as root", WIRE_USER)
    tasks = [periodic_collection(settings, plan), event_wake(settings, plan)]
    try:
        return await Supervisor(programs(settings, plan)).run()
    finally:
        for task in tasks:
            if task is None:
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        system_bus.remove(leftovers)
        log.info("waagent daemon stopped")


def pid_file(settings: DaemonSettings) -> PidFile:
    return PidFile(settings.root.resolve(settings.config.pid_file))


def cannot_supervise() -> str | None:
    """Why this process cannot run the services, if it cannot."""
    if os.geteuid() != 0:
        return "-daemon and -start must run as root (the services run as root and waagent-wire)"
    if shutil.which("setpriv") is None:
        return "-daemon needs setpriv (util-linux)"
    return None


def already_running(owner: int) -> int:
    sys.stdout.write(f"waagent -daemon is already running (pid {owner})\n")
    return 0  # classic: not an error


def run_daemon(settings: DaemonSettings) -> int:
    pids = pid_file(settings)
    owner = pids.acquire()
    if owner is not None:
        return already_running(owner)
    try:
        prepare_state(settings.root, settings.config, wire_user())
        logs.setup(
            "waagent",
            verbose=settings.verbose or settings.config.logs_verbose,
            log_file=settings.root.resolve(settings.config.logs_file),
        )
        return asyncio.run(supervise(settings))
    finally:
        pids.release()


def daemon_args(settings: DaemonSettings) -> list[str]:
    args = ["-daemon", f"-configuration-path:{settings.config_path}"]
    if not settings.root.is_host:
        args.append(f"-root:{settings.root.path}")
    if settings.verbose:
        args.append("-verbose")
    return args


def start_detached(settings: DaemonSettings) -> int:
    """`-start`: `-daemon` in a new session with stdio on /dev/null; print its pid once it
    holds the pid file (or say why it did not start)."""
    pids = pid_file(settings)
    owner = pids.owner()
    if owner is not None:
        return already_running(owner)
    proc = subprocess.Popen(
        [sys.executable, "-m", "waagent.cli", *daemon_args(settings)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if pids.owner() == proc.pid:
            sys.stdout.write(f"{proc.pid}\n")
            return 0
        returncode = proc.poll()
        if returncode == 0:  # another daemon got there first
            return already_running(pids.owner() or 0)
        if returncode is not None:
            log_file = settings.root.resolve(settings.config.logs_file)
            sys.stderr.write(
                f"waagent: the daemon exited at once with status {returncode}; see {log_file}\n"
            )
            return 1
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    sys.stderr.write(f"waagent: the daemon did not start within {START_TIMEOUT:g} s\n")
    return 1
