"""The classic `waagent` command line: `-word` (also `--word`, `/word`), the last command wins.

Readable subcommands (`waagent status`) are accepted as well. An unrecognized argument makes the
command `help`, as the classic agent does, and says which argument it was.
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
)
ALIASES = {"usage": "help", "?": "help", "h": "help", "showconfiguration": "show-configuration"}
FLAGS = ("force", "verbose", "full", "debug")

_WORD = re.compile(r"^[-/]*(?P<word>.+)$")


@dataclass
class Invocation:
    command: str = "help"
    force: bool = False
    verbose: bool = False
    full: bool = False
    debug: bool = False
    config_path: str | None = None
    unknown: list[str] = field(default_factory=list)


def parse(argv: Sequence[str]) -> Invocation:
    inv = Invocation()
    seen_command = False
    for arg in argv:
        match = _WORD.match(arg)
        word = match.group("word") if match else arg
        lowered = word.lower()
        if lowered.startswith("configuration-path:"):
            inv.config_path = word.split(":", 1)[1]
        elif lowered in FLAGS:
            setattr(inv, lowered, True)
        elif lowered in COMMANDS or lowered in ALIASES:
            inv.command = ALIASES.get(lowered, lowered)
            seen_command = True
        else:
            inv.unknown.append(arg)
    if inv.unknown or not seen_command:
        inv.command = "help"
    return inv


USAGE = """\
Usage: waagent [-verbose] [-force] [-help|-version|-show-configuration|-deprovision[+user]|
               -daemon|-start|-collect-logs [-full]|status] [-configuration-path:<path>]

  -help                 print this text
  -version              print the agent version and the protocol versions it speaks
  -show-configuration   print the effective configuration (Key = Value)
  -deprovision          prepare the VM for capture (asks for confirmation unless -force)
  -deprovision+user     the same, and delete the provisioned user and its home
  -daemon               run the services without systemd (supervisor mode)
  -start                run -daemon in the background
  -collect-logs [-full] build a log bundle and upload it to the fabric
  status                show the state of every service
  -configuration-path:<path>   use another configuration file (default /etc/waagent.conf)
  -verbose              debug messages
  -force                do not ask for confirmation
"""
