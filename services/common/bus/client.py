"""Calling another service (or polkit, hostnamed, systemd) and getting our errors back.

Error replies become the matching `WaagentError` subclass (`from_dbus_name`), so a client such as
the cli or extd handles `NotAuthorized` from wire exactly as wire raised it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from dbus_fast import BusType, Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus

from ..errors import Failed, WaagentError, from_dbus_name
from ..names import BusName

DEFAULT_TIMEOUT = 25.0

# The target service is not installed, or failed to start on activation.
UNAVAILABLE_ERRORS = frozenset(
    {
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
        "org.freedesktop.DBus.Error.Spawn.ServiceNotFound",
        "org.freedesktop.DBus.Error.Spawn.ChildExited",
        "org.freedesktop.DBus.Error.Spawn.ExecFailed",
        "org.freedesktop.DBus.Error.Spawn.FailedToSetup",
    }
)


# Of those: the service is not installed at all (not worth asking again).
NOT_INSTALLED_ERRORS = frozenset(
    {
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.Spawn.ServiceNotFound",
    }
)


class ServiceUnavailable(Failed):
    """The service is not on the bus and could not be activated."""

    def __init__(self, name: str, detail: str, error_name: str | None = None) -> None:
        self.service = name
        self.not_installed = error_name in NOT_INSTALLED_ERRORS
        super().__init__(f"{name} is not available: {detail}")


def error_from_reply(reply: Message) -> WaagentError:
    text = str(reply.body[0]) if reply.body else (reply.error_name or "error")
    if reply.error_name in UNAVAILABLE_ERRORS:
        return ServiceUnavailable(reply.destination or "service", text, reply.error_name)
    return from_dbus_name(reply.error_name, text)


async def connect_system_bus() -> MessageBus:
    return await MessageBus(bus_type=BusType.SYSTEM, negotiate_unix_fd=True).connect()


async def call(
    bus: MessageBus,
    service: BusName,
    member: str,
    signature: str = "",
    body: Sequence[Any] = (),
    *,
    path: str | None = None,
    interface: str | None = None,
    interactive: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    unix_fds: Sequence[int] = (),
) -> Message:
    """Call a method and return the reply; an error reply raises the matching WaagentError."""
    flags = MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION if interactive else MessageFlag.NONE
    msg = Message(
        destination=service.name,
        path=path or service.path,
        interface=interface or service.interface,
        member=member,
        signature=signature,
        body=list(body),
        flags=flags,
        unix_fds=list(unix_fds),
    )
    try:
        async with asyncio.timeout(timeout):
            reply = await bus.call(msg)
    except TimeoutError:
        raise Failed(f"{service.name}.{member} did not answer within {timeout:g} s") from None
    assert reply is not None
    if reply.message_type == MessageType.ERROR:
        raise error_from_reply(reply)
    return reply


def to_bus_daemon(member: str, signature: str = "", body: Sequence[Any] = ()) -> Message:
    """A method call to the bus daemon itself (org.freedesktop.DBus)."""
    return Message(
        destination="org.freedesktop.DBus",
        path="/org/freedesktop/DBus",
        interface="org.freedesktop.DBus",
        member=member,
        signature=signature,
        body=list(body),
    )


async def start_service(bus: MessageBus, name: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Have the bus daemon activate `name` (StartServiceByName); returns once it is owned."""
    try:
        async with asyncio.timeout(timeout):
            reply = await bus.call(to_bus_daemon("StartServiceByName", "su", [name, 0]))
    except TimeoutError:
        raise Failed(f"{name} was not started within {timeout:g} s") from None
    if reply is None:
        raise Failed(f"{name} was not started: no reply")
    if reply.message_type == MessageType.ERROR:
        raise error_from_reply(reply)


async def reload_config(bus: MessageBus) -> None:
    """Have the bus daemon read its configuration and activation files again."""
    reply = await bus.call(to_bus_daemon("ReloadConfig"))
    if reply is not None and reply.message_type == MessageType.ERROR:
        raise error_from_reply(reply)


async def add_match(bus: MessageBus, rule: str) -> None:
    """Ask the bus daemon to deliver the signals matching `rule` to this connection."""
    reply = await bus.call(to_bus_daemon("AddMatch", "s", [rule]))
    if reply is not None and reply.message_type == MessageType.ERROR:
        raise error_from_reply(reply)


async def remove_match(bus: MessageBus, rule: str) -> None:
    """Undo `add_match` (a connection that closes drops its matches anyway)."""
    reply = await bus.call(to_bus_daemon("RemoveMatch", "s", [rule]))
    if reply is not None and reply.message_type == MessageType.ERROR:
        raise error_from_reply(reply)


async def get_all(bus: MessageBus, service: BusName, path: str | None = None) -> dict[str, Variant]:
    """All properties of the service's main interface, as variants (values with their types)."""
    reply = await call(
        bus,
        service,
        "GetAll",
        "s",
        [service.interface],
        path=path,
        interface="org.freedesktop.DBus.Properties",
    )
    return dict(reply.body[0])
