"""What the bus daemon knows about names: who owns one (by pid), which can be activated."""

from __future__ import annotations

from dbus_fast.aio import MessageBus

from ..common.bus.client import ServiceUnavailable, call, connect_system_bus
from ..common.errors import Failed
from ..common.names import BusName

BUS_DAEMON = BusName("org.freedesktop.DBus")
QUERY_TIMEOUT = 5.0


async def owner_pid(bus: MessageBus, name: str) -> int | None:
    """The pid of the process owning `name`, None when nobody owns it."""
    try:
        reply = await call(
            bus, BUS_DAEMON, "GetConnectionUnixProcessID", "s", [name], timeout=QUERY_TIMEOUT
        )
    except ServiceUnavailable:  # NameHasNoOwner
        return None
    return int(reply.body[0])


async def activatable_names(bus: MessageBus) -> set[str]:
    reply = await call(bus, BUS_DAEMON, "ListActivatableNames", timeout=QUERY_TIMEOUT)
    return {str(name) for name in reply.body[0]}


async def connect() -> MessageBus:
    """The system bus, or one line saying why it cannot be reached."""
    try:
        return await connect_system_bus()
    except OSError as exc:
        raise Failed(f"cannot reach the system bus: {exc.strerror or exc}") from None
