"""`waagent`: the classic command line, as a client of the services on the system bus."""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import AGENT_NAME, AGENT_VERSION, __version__
from ..common import config, logs
from ..common.errors import ConfigError
from ..common.root import Root
from ..daemon.launch import DaemonSettings
from ..daemon.run import cannot_supervise, run_daemon, start_detached
from . import args as cli_args
from . import collect_logs, deprovision, firewall, serial_console, status

WIRE_PROTOCOL_VERSION = "2012-11-30"
HOSTGAPLUGIN_API_VERSION = "2015-09-01"
EXTENSION_HANDLER_PROTOCOL = "1.0"


def _os_release() -> tuple[str, str]:
    """The distribution id and version, as the classic `-version` line names them."""
    try:
        info = platform.freedesktop_os_release()
    except OSError:
        return platform.system().lower(), platform.release()
    return info.get("ID", "linux"), info.get("VERSION_ID", "")


def version_text() -> str:
    # The first line keeps the classic shape (support scripts parse it); the goal state agent
    # is this same code, since waagent does not update itself.
    distro, distro_version = _os_release()
    return (
        f"{AGENT_NAME}-{AGENT_VERSION} running on {distro} {distro_version}\n"
        f"Python: {platform.python_version()}\n"
        f"Goal state agent: {AGENT_VERSION}\n"
        f"waagent {__version__}\n"
        f"Protocols: WireServer {WIRE_PROTOCOL_VERSION}, "
        f"HostGAPlugin {HOSTGAPLUGIN_API_VERSION}, "
        f"extension handler protocol {EXTENSION_HANDLER_PROTOCOL}\n"
    )


def config_path(inv: cli_args.Invocation, root: Root) -> Path:
    if inv.config_path:
        return Path(inv.config_path).absolute()
    return root.join(str(config.DEFAULT_PATH))


def load(inv: cli_args.Invocation) -> tuple[Root, Path, config.LoadedConfig] | None:
    """Root, configuration file and its validated content; None after saying what is wrong."""
    root = Root(inv.root or "/")
    path = config_path(inv, root)
    try:
        return root, path, config.load(path)
    except ConfigError as exc:
        for problem in exc.problems:
            sys.stderr.write(f"waagent: {problem}\n")
        return None


def usage_error(message: str) -> int:
    sys.stderr.write(f"waagent: {message}\n")
    sys.stderr.write(cli_args.USAGE)
    return 1


def missing(path: str, check: Callable[[Path], bool]) -> str | None:
    try:
        return None if check(Path(path)) else "does not exist"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"


def usage_problem(inv: cli_args.Invocation) -> str | None:
    # Classic: a configuration file that was named must exist, else the usage and status 1.
    if inv.config_path is not None and (why := missing(inv.config_path, Path.is_file)):
        return f"configuration file {inv.config_path} {why}"
    if inv.root is not None and (why := missing(inv.root, Path.is_dir)):
        return f"root directory {inv.root} {why}"
    return None


def show_help(inv: cli_args.Invocation) -> int:
    for arg in inv.unknown:
        sys.stderr.write(f"waagent: unknown argument {arg!r}\n")
    sys.stdout.write(cli_args.USAGE)
    return 1 if inv.unknown else 0


def show_version(inv: cli_args.Invocation) -> int:
    sys.stdout.write(version_text())
    return 0


def not_supported(inv: cli_args.Invocation) -> int:
    sys.stderr.write(f"waagent: {cli_args.NOT_SUPPORTED[inv.command]}\n")
    return 1


def run_serial_console(inv: cli_args.Invocation) -> int:
    """Needs only Lib.Dir (where the undo record is): the defaults when there is no file."""
    root = Root(inv.root or "/")
    agent_config = config.AgentConfig()
    if inv.config_path is not None or config_path(inv, root).exists():
        found = load(inv)
        if found is None:
            return 1
        agent_config = found[2].config
    enable = serial_console.VALUES[inv.serial_console]
    local = root if inv.root is not None else None
    return serial_console.run(enable, inv.dry_run, local, agent_config)


# Commands that need no configuration file (the bus clients ask the services, which have one).
WITHOUT_CONFIG: dict[str, Callable[[cli_args.Invocation], int]] = {
    "deprovision": lambda inv: deprovision.run(False, inv.force),
    "deprovision+user": lambda inv: deprovision.run(True, inv.force),
    "status": lambda inv: status.run(inv.json),
    "serialconsole": run_serial_console,
}


def without_config(inv: cli_args.Invocation) -> int | None:
    """The commands that need no configuration, and the argument checks; None to go on."""
    if inv.command == "help":
        return show_help(inv)
    if inv.command == "version":
        return show_version(inv)
    if inv.command in cli_args.NOT_SUPPORTED:
        return not_supported(inv)
    problem = usage_problem(inv)
    if inv.command == "setup-firewall" and not inv.endpoint:
        problem = "-setup-firewall needs the WireServer address: -setup-firewall=<ip>"
    if inv.command == "serialconsole" and inv.serial_console not in serial_console.VALUES:
        problem = f"-serialconsole={inv.serial_console}: expected -serialconsole or =off"
    if problem is not None:
        return usage_error(problem)
    command = WITHOUT_CONFIG.get(inv.command)
    return command(inv) if command is not None else None


def with_config(inv: cli_args.Invocation) -> int:
    found = load(inv)
    if found is None:
        return 1
    root, path, loaded = found
    settings = DaemonSettings(root, path, loaded.config, verbose=inv.verbose)
    if inv.command == "show-configuration":
        sys.stdout.write("\n".join(config.show(loaded)) + "\n")
        return 0
    if inv.command == "setup-firewall":
        return firewall.run(inv.endpoint, root, loaded.config)

    if inv.command in ("daemon", "start"):
        problem = cannot_supervise()
        if problem is not None:
            sys.stderr.write(f"waagent: {problem}\n")
            return 1
        return run_daemon(settings) if inv.command == "daemon" else start_detached(settings)
    assert inv.command == "collect-logs", inv.command
    return collect_logs.run(settings.root, settings.config, inv.full)


def main(argv: Sequence[str] | None = None) -> int:
    inv = cli_args.parse(sys.argv[1:] if argv is None else argv)
    logs.setup("waagent", verbose=inv.verbose)
    done = without_config(inv)
    return done if done is not None else with_config(inv)


if __name__ == "__main__":
    sys.exit(main())
