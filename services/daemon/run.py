"""`waagent -daemon` and `-start`: the services without systemd, kept running by the supervisor.

The services run resident (`--no-idle-exit`: nothing would bus-activate them again), each in
its own session and with a parent-death signal, so they never outlive the supervisor. wire runs
as `waagent-wire` when that user exists (its own groups only, no capabilities at all); the others
run as root. The order is the classic daemon's: the resource disk, the protocol (wire), which
provisioning reports through, provisioning, then extensions; the WireServer firewall is in place
before any of them (firewall.py).

With a root other than `/`, everything a service would read from the host's kernel is looked
for inside the root as well (`<root>/sys`, `<root>/dev`, `<root>/proc/net/route`), so an image
builder's tree or a test's sandbox never sees the host's devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import pwd
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
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
from . import system_bus
from .firewall import DaemonFirewall, setup_command
from .log_collection import PeriodicCollection, Schedule, collect_argv
from .pidfile import PidFile
from .supervisor import Program, Supervisor

log = logging.getLogger(__name__)

START_ORDER = ("diskd", "wire", "provisioner", "extd")
# Options that point a service at the host's kernel interfaces, and where they are in a root.
KERNEL_PATHS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "diskd": (("--sysfs-root", "/sys"), ("--dev-root", "/dev")),
    "provisioner": (("--sysfs-root", "/sys"), ("--dev-root", "/dev")),
    "wire": (("--route-table", "/proc/net/route"),),
}
BUS_CONFIG = "/run/waagent/system-bus.conf"
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class DaemonSettings:
    root: Root
    config_path: Path
    config: AgentConfig
    verbose: bool = False


def installed(program: str) -> bool:
    """Services arrive as their issues land; a missing one is said once, not restarted."""
    return importlib.util.find_spec(f"waagent.{program}.__main__") is not None


def wire_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(WIRE_USER)
    except KeyError:
        return None


def privileges(user: pwd.struct_passwd | None) -> list[str]:
    """The setpriv prefix: a parent-death signal always; for a user, its identity, its own
    groups, and no capabilities (none inheritable, none in the bounding set)."""
    prefix = ["setpriv", "--pdeathsig=TERM"]
    if user is not None:
        prefix += [
            f"--reuid={user.pw_uid}",
            f"--regid={user.pw_gid}",
            "--init-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ]
    return [*prefix, "--"]


def service_argv(program: str, settings: DaemonSettings) -> list[str]:
    root = settings.root
    argv = [sys.executable, "-m", f"waagent.{program}", "--root", str(root.path)]
    argv += ["--config", str(settings.config_path), "--no-idle-exit"]
    if settings.verbose:
        argv.append("--verbose")
    if not root.is_host:
        for option, inner in KERNEL_PATHS.get(program, ()):
            argv += [option, str(root.join(inner))]
    return argv


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


def programs(settings: DaemonSettings, plan: system_bus.BusPlan) -> list[Program]:
    env = bus_env(plan)
    user = wire_user()
    found: list[Program] = []
    if plan.own:
        config = settings.root.resolve(BUS_CONFIG)

        async def bus_ready(pid: int) -> bool:
            return await system_bus.accepts(plan.address)

        argv = [*privileges(None), *system_bus.daemon_argv(config)]
        found.append(Program("dbus-daemon", argv, bus_ready, env))
    for program in START_ORDER:
        if not installed(program):
            log.info("%s is not installed; not started", program)
            continue
        name = SERVICES[program].name

        async def ready(pid: int, name: str = name) -> bool:
            return await owned_by(plan.address, name, pid)

        prefix = privileges(user if program == "wire" else None)
        found.append(Program(name, [*prefix, *service_argv(program, settings)], ready, env))
    return found


def write_bus_config(settings: DaemonSettings, plan: system_bus.BusPlan) -> list[Path]:
    """The private bus's configuration; the files to remove when the daemon stops."""
    assert plan.socket is not None
    plan.socket.parent.mkdir(parents=True, exist_ok=True)
    config = settings.root.resolve(BUS_CONFIG)
    text = system_bus.config_text(
        plan.socket,
        system_bus.policy_dirs(),
        root_owns_wire=wire_user() is None,
        user=system_bus.bus_user(),
    )
    system_bus.write_config(config, text)
    return [config, plan.socket]


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
    collection = PeriodicCollection(
        schedule, argv, bus_env(plan), ready=lambda: served(plan.address, wire)
    )
    return asyncio.ensure_future(collection.run())


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
    collection = periodic_collection(settings, plan)
    try:
        return await Supervisor(programs(settings, plan)).run()
    finally:
        if collection is not None:
            collection.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collection
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
