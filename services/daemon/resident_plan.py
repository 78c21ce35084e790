"""What the resident `waagent -daemon` is told by the start-up half that read the configuration.

`waagent -daemon` starts in the CLI, which parses the command line and `waagent.conf` with
pydantic, plans the bus, writes the bus configuration and activation files, and then replaces
itself (exec, same pid, the pid file's lock held across) with `resident.py`, a process that
imports only the standard library: pydantic and dbus-fast would otherwise stay resident for the
machine's lifetime (some 25 MiB) for a supervisor that only waits for signals and children.

The plan crosses the exec as JSON in an inherited memfd. It is read strictly (every field with
its type, nothing unknown), as every boundary is, though both halves are ours.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, get_args, get_type_hints

VERSION = 2  # 2: forked steps
Ready = Literal["bus", "running", "owner", "start"]


class PlanError(ValueError):
    """The plan is not one this resident half reads."""


@dataclass(frozen=True)
class Identity:
    """Who a forked child becomes (the resident half reads no user database)."""

    uid: int
    gid: int
    groups: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """One step of the start order. `ready` says how it is known to serve: "bus" (a bus answers
    at the plan's address), "running" (started is ready), "owner" (the process owns `name`), or
    "start": not a child at all, the bus daemon is asked to activate `name`.

    A `forked` step is the poller: not exec'd but forked from the resident process (forked.py),
    `argv` being its own arguments, as `identity` (none: as root)."""

    label: str
    ready: Ready
    name: str = ""
    argv: list[str] = field(default_factory=list)
    forked: bool = False
    identity: Identity | None = None


@dataclass(frozen=True)
class Service:
    """An activation file's service, to find and stop what the bus started (activation.py)."""

    name: str
    argv: list[str]
    user: str = "root"


@dataclass(frozen=True)
class Firewall:
    argv: list[str]
    env: dict[str, str]
    lib_dir: str


@dataclass(frozen=True)
class Collection:
    delay: float
    period: float
    argv: list[str]
    wait_for: str = ""  # a bus name to wait for before the first delay ("" when activated)


@dataclass(frozen=True)
class Wake:
    log_dir: str
    name: str


@dataclass(frozen=True)
class ResidentPlan:
    pid_file: str
    pid_fd: int
    bus_address: str
    own_bus: bool
    log_file: str = ""
    verbose: bool = False
    steps: list[Step] = field(default_factory=list)
    activated: list[Service] = field(default_factory=list)
    servicedir: str = ""
    leftovers: list[str] = field(default_factory=list)
    firewall: Firewall | None = None
    collection: Collection | None = None
    wake: Wake | None = None
    version: int = VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> ResidentPlan:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise PlanError(f"the plan is not JSON: {exc}") from None
        plan: ResidentPlan = _build(cls, data, "plan")
        if plan.version != VERSION:
            raise PlanError(f"plan version {plan.version}, this resident reads {VERSION}")
        return plan


def _check(value: Any, kind: Any, where: str) -> Any:  # noqa: PLR0911 (one return per type)
    """`value` checked against a field's type (str, int, float, bool, list[...],
    dict[str, str], one of the dataclasses above, or `X | None`)."""
    args = get_args(kind)
    if type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return None if value is None else _check(value, inner, where)
    origin = getattr(kind, "__origin__", None)
    if origin is Literal:
        if value not in args:
            raise PlanError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise PlanError(f"{where}: a list expected")
        return [_check(item, args[0], f"{where}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise PlanError(f"{where}: a mapping of strings expected")
        return dict(value)
    if isinstance(kind, type) and hasattr(kind, "__dataclass_fields__"):
        return _build(kind, value, where)
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind in (str, int, bool) and type(value) is kind:
        return value
    raise PlanError(f"{where}: {type(value).__name__} where {getattr(kind, '__name__', kind)}")


def _build(cls: Any, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise PlanError(f"{where}: an object expected")
    known = {f.name for f in fields(cls)}
    types = get_type_hints(cls)
    unknown = set(data) - set(known)
    if unknown:
        raise PlanError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    values = {}
    for name in known:
        if name in data:
            values[name] = _check(data[name], types[name], f"{where}.{name}")
    try:
        return cls(**values)
    except TypeError as exc:  # a field without a default is missing
        raise PlanError(f"{where}: {exc}") from None


def write_memfd(plan: ResidentPlan) -> int:
    """The plan in an anonymous file, rewound and inheritable: its fd crosses the exec."""
    fd = os.memfd_create("waagent-daemon-plan", 0)
    os.write(fd, plan.to_json().encode())
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    return fd


def read_fd(fd: int) -> ResidentPlan:
    with os.fdopen(fd, "rb") as f:
        return ResidentPlan.from_json(f.read())
