"""`waagent status [--json]`: every service, whether it runs or can be activated, its properties.

Properties are read with `GetAll`, as `busctl get-property` would: reading them from a service
that is activatable but not running starts it (it exits again when idle). Nothing here needs
authorization, so any user may run it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from dbus_fast import Variant
from dbus_fast.aio import MessageBus

from ..common.bus.client import get_all
from ..common.errors import WaagentError
from ..common.names import SERVICES, BusName
from ..daemon.launch import START_ORDER
from .busquery import activatable_names, connect, owner_pid

RUNNING = "running"
ACTIVATABLE = "activatable"
ABSENT = "not on the bus"


@dataclass
class ServiceStatus:
    service: BusName
    state: str
    pid: int | None = None
    properties: dict[str, Variant] = field(default_factory=dict)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.service.name,
            "program": self.service.program,
            "state": self.state,
            "pid": self.pid,
            "properties": {key: plain(value) for key, value in sorted(self.properties.items())},
            "error": self.error,
        }


def plain(value: Any) -> Any:
    """A D-Bus value as JSON data (the shape `busctl --json` gives)."""
    if isinstance(value, Variant):
        return plain(value.value)
    if isinstance(value, bytes):
        return list(value)
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    return value


async def collect(bus: MessageBus) -> list[ServiceStatus]:
    activatable = await activatable_names(bus)
    found = []
    # The daemon's services in its order (not the poller: no bus name), then those only ever
    # bus-activated (netd).
    in_order = [p for p in START_ORDER if p in SERVICES]
    for program in (*in_order, *(p for p in SERVICES if p not in START_ORDER)):
        service = SERVICES[program]
        pid = await owner_pid(bus, service.name)
        if pid is not None:
            status = ServiceStatus(service, RUNNING, pid)
        elif service.name in activatable:
            status = ServiceStatus(service, ACTIVATABLE)
        else:
            found.append(ServiceStatus(service, ABSENT))
            continue
        try:
            status.properties = await get_all(bus, service)
        except WaagentError as exc:
            status.error = exc.message
        found.append(status)
    return found


def _shown(name: str, value: Variant) -> str:
    """One value for people: yes/no, lists joined, microsecond timestamps as dates."""
    data = value.value
    if value.signature == "b":
        return "yes" if data else "no"
    if value.signature == "t" and name.startswith("Last"):
        if not data:
            return "never"
        return datetime.fromtimestamp(data / 1_000_000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(data, list):
        return ", ".join(str(plain(item)) for item in data) or "-"
    text = str(plain(data))
    return text if text else "-"


def table(statuses: list[ServiceStatus]) -> str:
    lines = []
    for status in statuses:
        state = status.state + (f" (pid {status.pid})" if status.pid else "")
        lines.append(f"{status.service.name}: {state}")
        if status.error:
            lines.append(f"    error: {status.error}")
        width = max((len(key) for key in status.properties), default=0)
        for key in sorted(status.properties):
            lines.append(f"    {key:<{width}}  {_shown(key, status.properties[key])}")
    return "\n".join(lines) + "\n"


async def _gather() -> list[ServiceStatus]:
    bus = await connect()
    try:
        return await collect(bus)
    finally:
        bus.disconnect()


def run(as_json: bool, *, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    try:
        statuses = asyncio.run(_gather())
    except WaagentError as exc:
        stderr.write(f"waagent: {exc.message}\n")
        return 1
    if as_json:
        document = {"services": [status.to_json() for status in statuses]}
        stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        stdout.write(table(statuses))
    return 0
