"""Running one of our modules as a child process, with our interpreter and import path.

Installed by `make install`, waagent lives with its dependencies in a private directory
(`/usr/lib/waagent/python`) that launchers put on `sys.path`; a child started as
`python3 -m waagent.x` must be told where that is. In a virtualenv nothing needs telling.
"""

from __future__ import annotations

import sys
from pathlib import Path


def import_root() -> str | None:
    """The directory holding the `waagent` package when it is a plain directory install."""
    package = Path(__file__).resolve().parents[1]
    return str(package.parent) if package.name == "waagent" else None


def module_command(module: str, *args: str) -> tuple[list[str], dict[str, str]]:
    """argv and the environment additions to run `python -m <module> <args>` like ourselves."""
    root = import_root()
    env = {"PYTHONPATH": root} if root is not None else {}
    # Without the site module when we run without it (the installed launchers' -S): nothing
    # comes from dist-packages, and the start is sooner. -I is not passed on: it would ignore
    # the PYTHONPATH that finds us.
    flags = ["-S"] if sys.flags.no_site else []
    return [sys.executable, *flags, "-m", module, *args], env
