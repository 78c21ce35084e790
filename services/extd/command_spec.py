"""What a handler command is (operation, command line, directory, environment, timeout, error
code, slice) and what it gave; the environment it runs with is the classic one (reference §9.9)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Variables systemd (or the bus daemon) sets for extd itself: meaningless, or misleading, in a
# command's environment, which otherwise inherits extd's (classic: the agent's environment).
PER_PROCESS_VARIABLES = frozenset(
    {
        "INVOCATION_ID",
        "JOURNAL_STREAM",
        "NOTIFY_SOCKET",
        "LISTEN_PID",
        "LISTEN_FDS",
        "LISTEN_FDNAMES",
        "WATCHDOG_PID",
        "WATCHDOG_USEC",
        "SYSTEMD_EXEC_PID",
        "MAINPID",
        "MANAGERPID",
        "RUNTIME_DIRECTORY",
        "STATE_DIRECTORY",
        "CACHE_DIRECTORY",
        "LOGS_DIRECTORY",
        "CONFIGURATION_DIRECTORY",
        "CREDENTIALS_DIRECTORY",
        "DBUS_STARTER_ADDRESS",
        "DBUS_STARTER_BUS_TYPE",
    }
)


@dataclass(frozen=True)
class SliceLimits:
    cpu_quota_percent: int | None = None
    memory_max_mb: int | None = None


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    output: str
    duration: float


@dataclass(frozen=True)
class CommandSpec:
    """What to run and how the classic agent reports it."""

    operation: str  # Install, Enable, ...
    command: str  # as written in HandlerManifest.json
    cwd: Path
    env: Mapping[str, str]
    timeout: float
    error_code: int
    log_file: Path
    slice_name: str | None = None
    limits: SliceLimits = SliceLimits()
    handler: str = ""  # Publisher.Type[ version], for names and descriptions

    @property
    def path(self) -> str:
        return str(self.cwd / self.command.lstrip("/"))

    @property
    def key(self) -> str:
        """Identifies the same operation across an extd restart (to adopt, not rerun, it)."""
        return "\0".join(
            (
                self.operation,
                self.path,
                self.env.get("ConfigSequenceNumber", ""),
                self.env.get("ConfigExtensionName", ""),
            )
        )

    def environment(self) -> dict[str, str]:
        """The classic environment: extd's own (less per-process variables), then ours."""
        inherited = {k: v for k, v in os.environ.items() if k not in PER_PROCESS_VARIABLES}
        return {"PATH": DEFAULT_PATH, **inherited, **self.env}


def slice_name(handler: str, extension: str | None = None) -> str:
    """`azure-vmextensions-<Handler[.Ext]>.slice`; dashes would nest slices, so they become `_`."""
    name = f"{handler}.{extension}" if extension else handler
    safe = "".join(c if c.isalnum() or c in "._:" else "_" for c in name)
    return f"azure-vmextensions-{safe}.slice"
