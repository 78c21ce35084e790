"""Typed descriptions of the units waagent hands to systemd, and their bus properties.

The logic says what it wants (a command as a service, a mount, a swap area, limits of a slice)
in plain values; only this module knows systemd's property names and D-Bus types, so no caller
builds a `Variant`. A field left at None is not sent: systemd keeps its default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dbus_fast import Variant

USEC = 1_000_000
INFINITY = 2**64 - 1  # systemd's "infinity" for unsigned properties

Properties = dict[str, Variant]


@dataclass(frozen=True)
class ServiceUnit:
    """A transient `.service` running one command (what `systemd-run --property=...` sets)."""

    argv: tuple[str, ...]
    description: str | None = None
    type: str | None = None
    working_directory: str | None = None
    user: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    slice: str | None = None
    # Seconds; systemd stops the unit after it (RuntimeMaxSec=).
    runtime_max: float | None = None
    remain_after_exit: bool | None = None
    kill_mode: str | None = None
    kill_signal: int | None = None
    standard_input: str | None = None
    # File descriptors of the caller, passed along with the call.
    stdout_fd: int | None = None
    stderr_fd: int | None = None
    ignore_sigpipe: bool | None = None
    tasks_max: int | None = None  # INFINITY: no limit


@dataclass(frozen=True)
class MountUnit:
    """A transient `.mount` (with `fstype`) or `.swap` unit of `what`."""

    what: str
    fstype: str | None = None
    options: str | None = None


@dataclass(frozen=True)
class Limits:
    """Resource limits of a slice; None is no limit."""

    cpu_quota_percent: int | None = None
    memory_max_mb: int | None = None


def _optional(properties: Properties, name: str, signature: str, value: object) -> None:
    if value is not None:
        properties[name] = Variant(signature, value)


def service_properties(unit: ServiceUnit) -> tuple[Properties, list[int]]:
    """The unit's properties and the file descriptors their `h` values index."""
    fds: list[int] = []
    props: Properties = {}
    _optional(props, "Description", "s", unit.description)
    _optional(props, "Type", "s", unit.type)
    _optional(props, "RemainAfterExit", "b", unit.remain_after_exit)
    _optional(props, "KillMode", "s", unit.kill_mode)
    _optional(props, "KillSignal", "i", unit.kill_signal)
    if unit.runtime_max is not None:
        props["RuntimeMaxUSec"] = Variant("t", max(1, int(unit.runtime_max * USEC)))
    props["ExecStart"] = Variant("a(sasb)", [(unit.argv[0], list(unit.argv), False)])
    _optional(props, "WorkingDirectory", "s", unit.working_directory)
    _optional(props, "User", "s", unit.user)
    if unit.environment:
        # systemd refuses an assignment with a newline; such a variable is left out.
        assignments = [f"{k}={v}" for k, v in unit.environment.items() if "\n" not in k + v]
        props["Environment"] = Variant("as", assignments)
    _optional(props, "StandardInput", "s", unit.standard_input)
    for name, fd in (("Output", unit.stdout_fd), ("Error", unit.stderr_fd)):
        if fd is not None:
            props[f"Standard{name}FileDescriptor"] = Variant("h", len(fds))
            fds.append(fd)
    _optional(props, "IgnoreSIGPIPE", "b", unit.ignore_sigpipe)
    _optional(props, "TasksMax", "t", unit.tasks_max)
    _optional(props, "Slice", "s", unit.slice)
    return props, fds


def mount_properties(unit: MountUnit) -> Properties:
    props = {"What": Variant("s", unit.what)}
    _optional(props, "Type", "s", unit.fstype)
    if unit.options:
        props["Options"] = Variant("s", unit.options)
    return props


def limit_properties(limits: Limits) -> Properties:
    cpu, memory = limits.cpu_quota_percent, limits.memory_max_mb
    return {
        "CPUAccounting": Variant("b", True),
        "MemoryAccounting": Variant("b", True),
        # A percent of one CPU is 10 ms of CPU time per second.
        "CPUQuotaPerSecUSec": Variant("t", cpu * 10_000 if cpu else INFINITY),
        "MemoryMax": Variant("t", memory << 20 if memory else INFINITY),
    }
