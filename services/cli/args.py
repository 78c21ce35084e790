"""The classic `waagent` command line: `-word` (also `--word`, `/word`), the last command wins.

Readable subcommands (`waagent status`) are accepted as well. An unrecognized argument makes the
command `help`, as the classic agent does, and says which argument it was. Classic commands that
waagent does not offer are recognized, so they get an explanation instead of the usage text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

COMMANDS = (
    "help",
    "version",
    "show-configuration",
    "deprovision",
    "deprovision+user",
    "daemon",
    "start",
    "status",
    "collect-logs",
    "setup-firewall",
    "serialconsole",
)
ALIASES = {"usage": "help", "?": "help", "h": "help", "showconfiguration": "show-configuration"}
FLAGS = ("force", "verbose", "full", "debug", "json")

# Classic commands (and the legacy 2.0 one) that waagent recognizes but does not offer: why not.
NOT_SUPPORTED = {
    "run-exthandlers": (
        "-run-exthandlers is not needed: extensions are handled by the org.waagent.Extensions1"
        " service"
    ),
    "register-service": (
        "-register-service is not needed: enable waagent.target with systemd, or run"
        " 'waagent -start' on a host without systemd"
    ),
}

_WORD = re.compile(r"^[-/]*(?P<word>.+)$")


@dataclass
class Invocation:
    command: str = "help"
    force: bool = False
    verbose: bool = False
    full: bool = False
    debug: bool = False
    json: bool = False
    config_path: str | None = None
    root: str | None = None
    endpoint: str = ""
    serial_console: str = ""  # "", "on" or "off"
    dry_run: bool = False
    unknown: list[str] = field(default_factory=list)


def _command_of(lowered: str) -> str | None:
    if lowered in COMMANDS or lowered in ALIASES:
        return ALIASES.get(lowered, lowered)
    if lowered in NOT_SUPPORTED:
        return lowered
    # -setup-firewall=<ip> carries its value after '='.
    for valued in ("setup-firewall", "serialconsole"):
        if lowered.startswith(valued + "="):
            return valued
    return None


def parse(argv: Sequence[str]) -> Invocation:
    inv = Invocation()
    seen_command = False
    for arg in argv:
        match = _WORD.match(arg)
        word = match.group("word") if match else arg
        lowered = word.lower()
        option, colon, value = word.partition(":")
        command = _command_of(lowered)
        if colon and option.lower() == "configuration-path":
            inv.config_path = value
        elif colon and option.lower() == "root":
            inv.root = value
        elif lowered in FLAGS:
            setattr(inv, lowered, True)
        elif lowered == "dry-run":
            inv.dry_run = True
        elif command is not None:
            inv.command = command
            value = word.partition("=")[2]
            inv.endpoint = value if command == "setup-firewall" else ""
            inv.serial_console = value.lower() if command == "serialconsole" else ""
            seen_command = True
        else:
            inv.unknown.append(arg)
    if inv.unknown or not seen_command:
        inv.command = "help"
    return inv


USAGE = """\
Usage: waagent [-verbose] [-force] [-help|-version|-show-configuration|-deprovision[+user]|
               -daemon|-start|-collect-logs [-full]|-setup-firewall=<ip>|status [--json]|
               -serialconsole[=off] [-dry-run]]
               [-configuration-path:<path>] [-root:<dir>]

  -help                 print this text
  -version              print the agent version and the protocol versions it speaks
  -show-configuration   print the effective configuration (Key = Value)
  -deprovision          prepare the VM for capture (asks for confirmation unless -force)
  -deprovision+user     the same, and delete the provisioned user and its home
  -daemon               run the services without systemd (supervisor mode), in the foreground
  -start                run -daemon in the background and print its pid
  -collect-logs [-full] build a log bundle and upload it to the fabric (-full: more files)
  -setup-firewall=<ip>  let only root and waagent-wire open connections to the WireServer at
                        <ip> (DNS excepted), replacing the classic agent's rules; as root
  -serialconsole[=off]  make ttyS0 the boot console (console=ttyS0 earlyprintk=ttyS0 on the
                        kernel command line, then the GRUB configuration regenerated); =off
                        takes out what it added; -dry-run prints the diff and changes nothing
  status [--json]       show every service: running or activatable, and its properties
  -configuration-path:<path>   use another configuration file (default <root>/etc/waagent.conf);
                        it must exist
  -root:<dir>           treat <dir> as / for -daemon, -start, -collect-logs,
                        -serialconsole and -show-configuration (image builders and tests)
  -verbose              debug messages
  -force                do not ask for confirmation

-run-exthandlers and -register-service are classic commands waagent does not offer; each says
why.
"""
