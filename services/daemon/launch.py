"""How `waagent -daemon` starts each program: the order, who stays resident, as which user,
with which arguments (run.py starts them, activation.py writes the same commands for the bus)."""

from __future__ import annotations

import importlib.util
import os
import pwd
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..common.config import AgentConfig
from ..common.names import WIRE_USER
from ..common.root import Root
from . import system_bus
from .resident_plan import Identity

START_ORDER = ("diskd", "wire", "wirepoll", "provisioner", "extd")
# The one program resident on the daemon's own bus: the stdlib poller (as waagent-wire, as under
# systemd) does each period's duties and wakes wire, which is activated like the other services
# and runs `--with-poller` (it leaves when idle). On a bus that is not its own, wire stays
# resident and polls by itself, and the poller is not started.
RESIDENT = ("wirepoll",)
POLLER = "wirepoll"
# Who runs as waagent-wire (when that user exists); everything else runs as root.
WIRE_PROGRAMS = ("wire", POLLER)
# Options that point a service at the host's kernel interfaces, and where they are in a root.
KERNEL_PATHS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "diskd": (("--sysfs-root", "/sys"), ("--dev-root", "/dev")),
    "provisioner": (("--sysfs-root", "/sys"), ("--dev-root", "/dev")),
    "wire": (("--route-table", "/proc/net/route"),),
}


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


def privileges(user: pwd.struct_passwd | None, *, pdeathsig: bool = True) -> list[str]:
    """The setpriv prefix: a parent-death signal (not for a bus-activated service: its parent
    is dbus-daemon's babysitter process, which exits once the service is up; it leaves when the
    bus does); for a user, its identity, its own groups, and no capabilities (none inheritable,
    none in the bounding set)."""
    prefix = ["setpriv", "--pdeathsig=TERM"] if pdeathsig else ["setpriv"]
    if user is not None:
        prefix += [
            f"--reuid={user.pw_uid}",
            f"--regid={user.pw_gid}",
            "--init-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ]
    return [*prefix, "--"]


def on_demand(program: str, plan: system_bus.BusPlan) -> bool:
    return plan.own and program not in RESIDENT


def service_argv(program: str, settings: DaemonSettings, *, resident: bool = True) -> list[str]:
    return [sys.executable, "-m", f"waagent.{program}", *program_args(program, settings, resident)]


def identity(user: pwd.struct_passwd) -> Identity:
    """`user` as a forked child becomes it: what `setpriv --init-groups` would look up."""
    return Identity(user.pw_uid, user.pw_gid, os.getgrouplist(user.pw_name, user.pw_gid))


def program_args(program: str, settings: DaemonSettings, resident: bool = True) -> list[str]:
    """The program's own arguments (after `python -m waagent.<program>`)."""
    root = settings.root
    argv = ["--root", str(root.path), "--config", str(settings.config_path)]
    if resident:
        argv.append("--no-idle-exit")
    elif program == "wire":  # it may leave when idle only because the poller takes over
        argv.append("--with-poller")
    if settings.verbose:
        argv.append("--verbose")
    if not root.is_host:
        for option, inner in KERNEL_PATHS.get(program, ()):
            argv += [option, str(root.join(inner))]
    return argv
