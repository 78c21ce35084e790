"""A small client of systemd's manager on the bus: transient units, and waiting for their jobs.

When systemd is PID 1, work that must outlive or escape a service's sandbox is handed to it:
diskd's mounts and swap (a mount made inside a sandboxed unit's namespace would not reach the
host), extd's extension commands (each in its own unit and slice). `available()` answers "is
systemd on this bus?", so services pick the backend by capability.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from .bus.client import add_match, to_bus_daemon
from .errors import Failed
from .names import SYSTEMD, SYSTEMD_MANAGER, SYSTEMD_PATH

log = logging.getLogger(__name__)

NAME = SYSTEMD.name
PATH = SYSTEMD_PATH
MANAGER = SYSTEMD_MANAGER
JOB_TIMEOUT = 120.0

_SAFE = re.compile(r"[A-Za-z0-9:_.]")


def escape_path(path: str) -> str:
    """`systemd-escape --path`: the unit name part for a file system path."""
    trimmed = path.strip("/")
    if not trimmed:
        return "-"
    out = []
    for i, char in enumerate(trimmed):
        if char == "/":
            out.append("-")
        elif _SAFE.fullmatch(char) and not (i == 0 and char == "."):
            out.append(char)
        else:
            out.extend(f"\\x{byte:02x}" for byte in char.encode())
    return "".join(out)


def unit_for_path(path: str, suffix: str) -> str:
    return f"{escape_path(path)}.{suffix}"


async def _call(
    bus: MessageBus, member: str, signature: str = "", body: Sequence[Any] = ()
) -> Message:
    reply = await bus.call(
        Message(
            destination=NAME,
            path=PATH,
            interface=MANAGER,
            member=member,
            signature=signature,
            body=list(body),
        )
    )
    assert reply is not None
    if reply.message_type == MessageType.ERROR:
        detail = reply.body[0] if reply.body else reply.error_name
        raise Failed(f"systemd {member}: {detail}")
    return reply


def booted(marker: Path = Path("/run/systemd/system")) -> bool:
    """systemd is PID 1 (sd_booted's test)."""
    return marker.is_dir()


async def running(bus: MessageBus, is_booted: bool | None = None) -> bool:
    """systemd is PID 1 and on this bus (a private test bus may have neither)."""
    if not (booted() if is_booted is None else is_booted):
        return False
    return await available(bus)


async def available(bus: MessageBus) -> bool:
    reply = await bus.call(to_bus_daemon("NameHasOwner", "s", [NAME]))
    return bool(reply is not None and reply.message_type != MessageType.ERROR and reply.body[0])


class Systemd:
    """Start and stop units, returning when their job is done (or saying how it failed)."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self._waiting: dict[str, asyncio.Future[str]] = {}
        # Jobs that ended before their waiter was registered (the signal can be read in the
        # same batch as the method reply, before the caller resumes).
        self._ended: dict[str, str] = {}
        self._subscribed = False
        bus.add_message_handler(self._on_message)

    def _on_message(self, msg: Message) -> bool:
        if (
            msg.message_type == MessageType.SIGNAL
            and msg.interface == MANAGER
            and msg.member == "JobRemoved"
        ):
            _job_id, job_path, _unit, result = msg.body
            future = self._waiting.pop(job_path, None)
            if future is not None and not future.done():
                future.set_result(result)
            elif future is None:
                self._ended[job_path] = result
                while len(self._ended) > 64:
                    self._ended.pop(next(iter(self._ended)))
        return False

    async def _subscribe(self) -> None:
        if self._subscribed:
            return
        await add_match(
            self.bus, f"type='signal',sender='{NAME}',interface='{MANAGER}',member='JobRemoved'"
        )
        await _call(self.bus, "Subscribe")
        self._subscribed = True

    async def _run_job(self, unit: str, member: str, signature: str, body: Sequence[Any]) -> None:
        await self._subscribe()
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        reply = await _call(self.bus, member, signature, body)
        job = str(reply.body[0])
        if job in self._ended:
            future.set_result(self._ended.pop(job))
        else:
            self._waiting[job] = future
        try:
            async with asyncio.timeout(JOB_TIMEOUT):
                result = await future
        except TimeoutError:
            raise Failed(
                f"systemd did not finish {member} of {unit} in {JOB_TIMEOUT:g} s"
            ) from None
        finally:
            self._waiting.pop(job, None)
        if result != "done":
            raise Failed(f"systemd's {member} of {unit} ended in {result!r}")

    async def start_transient(
        self, unit: str, properties: dict[str, Variant], *, mode: str = "fail"
    ) -> None:
        """StartTransientUnit, returning once the unit is started (or failed)."""
        props = list(properties.items())
        await self._run_job(unit, "StartTransientUnit", "ssa(sv)a(sa(sv))", [unit, mode, props, []])
        log.info("systemd started %s", unit)

    async def set_unit_properties(
        self, unit: str, properties: dict[str, Variant], *, runtime: bool = True
    ) -> None:
        await _call(
            self.bus, "SetUnitProperties", "sba(sv)", [unit, runtime, list(properties.items())]
        )

    async def stop(self, unit: str) -> None:
        await self._run_job(unit, "StopUnit", "ss", [unit, "fail"])
        log.info("systemd stopped %s", unit)
