"""The client of systemd's manager on the bus: transient units and waiting for their jobs, and
the unit calls the provisioner makes (restart sshd, stop the agent, is cloud-init enabled).

When systemd is PID 1, work that must outlive or escape a service's sandbox is handed to it:
diskd's mounts and swap (a mount made inside a sandboxed unit's namespace would not reach the
host), extd's extension commands (each in its own unit and slice). `available()` answers "is
systemd on this bus?", so services pick the backend by capability. Units are described with
the typed values of `systemd_units`; the properties are built there, not by the callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from ..bus.client import (
    DEFAULT_TIMEOUT,
    UNAVAILABLE_ERRORS,
    ServiceUnavailable,
    add_match,
    error_from_reply,
    remove_match,
    to_bus_daemon,
)
from ..errors import Failed, WaagentError
from ..names import SYSTEMD, SYSTEMD_MANAGER, SYSTEMD_PATH
from .systemd_units import (
    Limits,
    MountUnit,
    ServiceUnit,
    limit_properties,
    mount_properties,
    service_properties,
)

log = logging.getLogger(__name__)

NAME = SYSTEMD.name
PATH = SYSTEMD_PATH
MANAGER = SYSTEMD_MANAGER
UNIT = "org.freedesktop.systemd1.Unit"
SERVICE = "org.freedesktop.systemd1.Service"
PROPERTIES = "org.freedesktop.DBus.Properties"
NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit"
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


def unit_object_path(unit: str) -> str:
    """The unit's object path (sd-bus label escaping: every byte but [A-Za-z0-9] as _xx)."""
    label = "".join(
        chr(byte) if chr(byte).isascii() and chr(byte).isalnum() else f"_{byte:02x}"
        for byte in unit.encode()
    )
    return f"{PATH}/unit/{label or '_'}"


class Units(Protocol):
    """What the provisioner asks of systemd; every method says when systemd is not on the bus
    (False, or None), so the logic can fall back."""

    async def try_restart(self, candidates: Sequence[str]) -> str | bool:
        """Try-reload-or-restart the first of `candidates` that exists; its name, "" when none
        could be, False without systemd."""
        ...

    async def queue_stop(self, unit: str) -> bool:
        """Ask systemd to stop the unit, without waiting for the job; False without systemd."""
        ...

    async def enabled(self, unit: str) -> bool | None:
        """Whether the unit is enabled; None when systemd is not on the bus."""
        ...


class SystemdError(Failed):
    """systemd answered a call with an error (`name` is the D-Bus error name)."""

    def __init__(self, message: str, name: str | None) -> None:
        super().__init__(message)
        self.name = name


async def _call(
    bus: MessageBus,
    member: str,
    signature: str = "",
    body: Sequence[Any] = (),
    *,
    path: str = PATH,
    interface: str = MANAGER,
    unix_fds: Sequence[int] = (),
) -> Message:
    message = Message(
        destination=NAME,
        path=path,
        interface=interface,
        member=member,
        signature=signature,
        body=list(body),
        unix_fds=list(unix_fds),
    )
    try:
        async with asyncio.timeout(DEFAULT_TIMEOUT):
            reply = await bus.call(message)
    except TimeoutError:
        raise Failed(f"systemd did not answer {member} within {DEFAULT_TIMEOUT:g} s") from None
    assert reply is not None
    if reply.message_type == MessageType.ERROR:
        if reply.error_name in UNAVAILABLE_ERRORS:
            raise error_from_reply(reply)
        detail = reply.body[0] if reply.body else reply.error_name
        raise SystemdError(f"systemd {member}: {detail}", reply.error_name)
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
        self._watchers: dict[str, list[Callable[[], None]]] = {}
        bus.add_message_handler(self._on_message)

    def _on_message(self, msg: Message) -> bool:
        if msg.message_type != MessageType.SIGNAL:
            return False
        if msg.interface == PROPERTIES and msg.member == "PropertiesChanged":
            for callback in self._watchers.get(msg.path or "", []):
                callback()
            return False
        if msg.interface == MANAGER and msg.member == "JobRemoved":
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

    async def _run_job(
        self,
        unit: str,
        member: str,
        signature: str,
        body: Sequence[Any],
        unix_fds: Sequence[int] = (),
    ) -> None:
        await self._subscribe()
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        reply = await _call(self.bus, member, signature, body, unix_fds=unix_fds)
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
        self, name: str, unit: ServiceUnit | MountUnit, *, mode: str = "fail"
    ) -> None:
        """StartTransientUnit, returning once the unit is started (or failed)."""
        if isinstance(unit, ServiceUnit):
            properties, fds = service_properties(unit)
        else:
            properties, fds = mount_properties(unit), []
        body = [name, mode, list(properties.items()), []]
        await self._run_job(name, "StartTransientUnit", "ssa(sv)a(sa(sv))", body, fds)
        log.info("systemd started %s", name)

    async def loaded(self, unit: str) -> bool:
        """The unit is loaded (GetUnit, which unlike a property read does not load it)."""
        try:
            await _call(self.bus, "GetUnit", "s", [unit])
        except SystemdError as exc:
            if exc.name == NO_SUCH_UNIT:
                return False
            raise
        return True

    async def properties(self, unit: str, interface: str) -> dict[str, Any]:
        """Every property of one of the unit's interfaces, as plain values."""
        reply = await _call(
            self.bus,
            "GetAll",
            "s",
            [interface],
            path=unit_object_path(unit),
            interface=PROPERTIES,
        )
        return {name: value.value for name, value in reply.body[0].items()}

    async def kill(self, unit: str, signal: int, who: str = "all") -> None:
        """KillUnit: systemd signals the unit's processes (we need no CAP_KILL for it)."""
        await _call(self.bus, "KillUnit", "ssi", [unit, who, signal])

    async def reset_failed(self, unit: str) -> None:
        await _call(self.bus, "ResetFailedUnit", "s", [unit])

    @contextlib.asynccontextmanager
    async def watching(self, unit: str, changed: Callable[[], None]) -> AsyncIterator[None]:
        """Call `changed` at every PropertiesChanged of the unit while the block runs (the
        match is in place before the block starts, so no change is missed)."""
        await self._subscribe()
        path = unit_object_path(unit)
        rule = f"type='signal',sender='{NAME}',path='{path}',interface='{PROPERTIES}'"
        await add_match(self.bus, rule)
        self._watchers.setdefault(path, []).append(changed)
        try:
            yield
        finally:
            callbacks = self._watchers.get(path, [])
            callbacks.remove(changed)
            if not callbacks:
                self._watchers.pop(path, None)
            if self.bus.connected:
                with contextlib.suppress(Exception):
                    await remove_match(self.bus, rule)

    async def set_limits(self, unit: str, limits: Limits) -> None:
        """Resource limits of a unit (a slice), until the next reboot."""
        properties = list(limit_properties(limits).items())
        await _call(self.bus, "SetUnitProperties", "sba(sv)", [unit, True, properties])

    async def stop(self, unit: str) -> None:
        await self._run_job(unit, "StopUnit", "ss", [unit, "fail"])
        log.info("systemd stopped %s", unit)

    async def start(self, unit: str) -> None:
        """StartUnit of a unit file (an instance of a template), returning once it started."""
        await self._run_job(unit, "StartUnit", "ss", [unit, "replace"])
        log.info("systemd started %s", unit)

    async def active_units(self, pattern: str) -> list[str]:
        """The loaded units matching the glob `pattern` that are active (or activating)."""
        reply = await _call(
            self.bus, "ListUnitsByPatterns", "asas", [["active", "activating"], [pattern]]
        )
        return [str(unit[0]) for unit in reply.body[0]]

    # ---- Units: calls that do not wait for their job ----

    async def _answer(
        self, member: str, signature: str, body: Sequence[Any]
    ) -> Message | WaagentError | None:
        """The reply, the error systemd answered with, or None when systemd is not on the bus."""
        try:
            return await _call(self.bus, member, signature, body)
        except ServiceUnavailable:
            return None
        except WaagentError as exc:
            return exc

    async def try_restart(self, candidates: Sequence[str]) -> str | bool:
        for unit in candidates:
            answer = await self._answer(
                "TryReloadOrRestartUnit", "ss", [unit, "ignore-dependencies"]
            )
            if answer is None:
                return False
            if isinstance(answer, WaagentError):
                log.debug("%s: %s", unit, answer.message)
                continue
            log.info("asked systemd to reload or restart %s", unit)
            return unit
        log.warning("none of %s could be restarted", ", ".join(candidates))
        return ""

    async def queue_stop(self, unit: str) -> bool:
        answer = await self._answer("StopUnit", "ss", [unit, "replace"])
        if isinstance(answer, WaagentError):
            log.info("not stopping %s: %s", unit, answer.message)
        return answer is not None

    async def enabled(self, unit: str) -> bool | None:
        answer = await self._answer("GetUnitFileState", "s", [unit])
        if answer is None:
            return None
        return not isinstance(answer, WaagentError) and answer.body[0] == "enabled"
