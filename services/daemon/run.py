"""`waagent -daemon` and `-start`: the services without systemd.

This is the start-up half: it reads the configuration, plans the bus and the start order, and
then execs the resident half (resident.py, the standard library only) with that plan; see
resident_plan.py for why.

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
from pathlib import Path
from typing import NoReturn

from ..common import logs
from ..common.config import AgentConfig
from ..common.names import SERVICES, WIRE_USER
from ..common.root import Root
from ..common.selfexec import module_command
from ..wire.files import STATE_DIR as WIRE_STATE_DIR
from . import activation, system_bus
from .firewall import setup_command
from .launch import (
    POLLER,
    START_ORDER,
    WIRE_PROGRAMS,
    DaemonSettings,
    identity,
    installed,
    on_demand,
    privileges,
    program_args,
    service_argv,
    wire_user,
)
from .log_collection import Schedule, collect_argv
from .pidfile import PidFile
from .resident_plan import Collection, Firewall, ResidentPlan, Service, Step, Wake, write_memfd

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


def steps(settings: DaemonSettings, plan: system_bus.BusPlan) -> list[Step]:
    """The start order as the resident half runs it (resident.programs)."""
    user = wire_user()
    found: list[Step] = []
    if plan.own:
        config = settings.root.resolve(BUS_CONFIG)
        argv = [*privileges(None), *system_bus.daemon_argv(config)]
        found.append(Step("dbus-daemon", "bus", argv=argv))
    for program in START_ORDER:
        if not installed(program):
            log.info("%s is not installed; not started", program)
            continue
        if program == POLLER:  # forked, not exec'd: no setpriv prefix (forked.py)
            if plan.own:  # it has no bus name: running is being ready
                args = program_args(program, settings, resident=False)
                who = identity(user) if user else None
                found.append(Step(program, "running", argv=args, forked=True, identity=who))
            continue
        prefix = privileges(user if program in WIRE_PROGRAMS else None)
        name = SERVICES[program].name
        if on_demand(program, plan):
            found.append(Step(name, "start", name=name))
            continue
        found.append(
            Step(name, "owner", name=name, argv=[*prefix, *service_argv(program, settings)])
        )
    return found


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


def daemon_firewall(settings: DaemonSettings) -> Firewall | None:
    if not installed("netd"):
        return None
    root = settings.root
    argv, env = setup_command(root.path, settings.config_path, verbose=settings.verbose)
    return Firewall(argv, env, str(root.resolve(settings.config.lib_dir)))


def periodic_collection(settings: DaemonSettings, plan: system_bus.BusPlan) -> Collection | None:
    """Logs.Collect=y: the log collector's schedule."""
    schedule = Schedule.of(settings.config)
    if schedule is None:
        return None
    argv = collect_argv(settings.root, settings.config_path)
    # On demand (the poller is the resident process), wire is activated by the upload.
    wire = "" if on_demand("wire", plan) else SERVICES["wire"].name
    return Collection(schedule.delay, schedule.period, argv, wait_for=wire)


def event_wake(settings: DaemonSettings, plan: system_bus.BusPlan) -> Wake | None:
    """With extd on demand: start it when an extension drops an event file (event_wake.py)."""
    if not (installed("extd") and on_demand("extd", plan)):
        return None
    log_dir = settings.root.resolve(settings.config.extension_log_dir)
    return Wake(str(log_dir), SERVICES["extd"].name)


def resident_plan(settings: DaemonSettings, pid_fd: int) -> ResidentPlan:
    """Plan the bus (and write its files when it is our own): what the resident half runs."""
    plan = asyncio.run(system_bus.plan(os.environ, settings.root))
    leftovers = write_bus_config(settings, plan) if plan.own else []
    if wire_user() is None:
        log.warning("user %s does not exist; wire runs as root", WIRE_USER)
    activated = [Service(a.name, list(a.argv), a.user) for a in activatable(settings, plan)]
    config = settings.config
    return ResidentPlan(
        pid_file=str(pid_file(settings).path),
        pid_fd=pid_fd,
        bus_address=plan.address,
        own_bus=plan.own,
        log_file=str(settings.root.resolve(config.logs_file)),
        verbose=settings.verbose or config.logs_verbose,
        steps=steps(settings, plan),
        activated=activated if plan.own else [],
        servicedir=str(settings.root.resolve(activation.SERVICE_DIR)) if plan.own else "",
        leftovers=[str(p) for p in leftovers],
        firewall=daemon_firewall(settings),
        collection=periodic_collection(settings, plan),
        wake=event_wake(settings, plan),
    )


def exec_resident(settings: DaemonSettings, plan: ResidentPlan) -> NoReturn:
    """Become the resident half (same pid, the pid file's lock kept): what this process
    imported to read the configuration is not kept for the machine's lifetime."""
    fd = write_memfd(plan)
    args = [f"--plan-fd={fd}", "--", *daemon_args(settings)]
    argv, env = module_command("waagent.daemon", *args)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, {**os.environ, **env})  # noqa: S606 (our interpreter, our module)


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
        exec_resident(settings, resident_plan(settings, pids.handed_over()))
    except BaseException:
        pids.release()
        raise


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
