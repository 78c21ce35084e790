"""Authorization: who is calling, and may they?

The caller is the message's unique bus name; the bus daemon tells us its uid. Root is allowed
without asking anyone (polkit would say yes anyway). Named service accounts are allowed by name.
Everyone else is asked about through polkit's CheckAuthorization with the caller as a
`system-bus-name` subject, talking to polkitd directly over D-Bus as NetworkManager does.

When polkitd is not on the bus (minimal images), only root is allowed, and the error says why:
this one rule is the whole "polkit absent" policy (fwupd makes the same choice).
"""

from __future__ import annotations

import asyncio
import logging
import pwd
from contextvars import ContextVar
from dataclasses import dataclass

from dbus_fast import Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus

from .. import names
from ..errors import Failed, InteractiveAuthorizationRequired, NotAuthorized
from .client import to_bus_daemon
from .interface import Auth

log = logging.getLogger(__name__)

# polkit CheckAuthorization flag bit.
ALLOW_USER_INTERACTION = 0x1
# Errors meaning "there is no polkitd to ask".
POLKIT_ABSENT_ERRORS = frozenset(
    {
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
        "org.freedesktop.DBus.Error.Spawn.ServiceNotFound",
        "org.freedesktop.DBus.Error.Spawn.ChildExited",
        "org.freedesktop.DBus.Error.Spawn.ExecFailed",
    }
)
CHECK_TIMEOUT = 25.0
INTERACTIVE_TIMEOUT = 300.0  # a person may be typing a password


# The caller of the method call being served (each call runs in its own task and context).
CURRENT_CALLER: ContextVar[Caller | None] = ContextVar("waagent_current_caller", default=None)


def current_caller() -> Caller | None:
    """Who is calling: for methods whose answer depends on it (root sees secrets, others not)."""
    return CURRENT_CALLER.get()


@dataclass(frozen=True)
class Caller:
    bus_name: str
    uid: int
    interactive: bool

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    @property
    def user(self) -> str | None:
        return _user_name(self.uid)

    def __str__(self) -> str:
        return f"uid {self.uid} ({self.bus_name})"


def _user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


class Authorizer:
    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    async def _call_bus(self, msg: Message, timeout: float) -> Message:
        async with asyncio.timeout(timeout):
            return await self.bus.call(msg)

    async def caller(self, msg: Message) -> Caller:
        """Who sent this message, from the bus daemon's own records (not from the message)."""
        if not msg.sender:
            raise NotAuthorized("the caller has no bus name")
        reply = await self._call_bus(
            to_bus_daemon("GetConnectionUnixUser", "s", [msg.sender]),
            CHECK_TIMEOUT,
        )
        if reply.message_type == MessageType.ERROR:
            raise NotAuthorized(f"cannot identify the caller {msg.sender}")
        interactive = bool(msg.flags & MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION)
        return Caller(msg.sender, int(reply.body[0]), interactive)

    async def authorize(self, msg: Message, auth: Auth, what: str) -> Caller:
        """Raise NotAuthorized (or InteractiveAuthorizationRequired) unless the caller may."""
        caller = await self.caller(msg)
        if auth.public or caller.is_root:
            return caller
        user = _user_name(caller.uid)
        if user is not None and user in auth.users:
            return caller
        if auth.action is None:
            log.info("%s refused %s: root only", caller, what)
            raise NotAuthorized(f"only root may call {what}")
        await self._check_polkit(caller, auth.action, what)
        return caller

    async def _check_polkit(self, caller: Caller, action: str, what: str) -> None:
        flags = ALLOW_USER_INTERACTION if caller.interactive else 0
        subject = ("system-bus-name", {"name": Variant("s", caller.bus_name)})
        request = Message(
            destination=names.POLKIT.name,
            path=names.POLKIT_PATH,
            interface=names.POLKIT_INTERFACE,
            member="CheckAuthorization",
            signature="(sa{sv})sa{ss}us",
            body=[subject, action, {}, flags, ""],
        )
        timeout = INTERACTIVE_TIMEOUT if caller.interactive else CHECK_TIMEOUT
        try:
            reply = await self._call_bus(request, timeout)
        except TimeoutError:
            raise Failed(f"polkit did not answer within {timeout:g} s") from None
        if reply.message_type == MessageType.ERROR:
            if reply.error_name in POLKIT_ABSENT_ERRORS:
                log.info("%s refused %s: polkit is not running", caller, what)
                raise NotAuthorized(
                    f"polkit is not available on this system, so only root may call {what}"
                )
            detail = reply.body[0] if reply.body else reply.error_name
            raise NotAuthorized(f"polkit could not check {action}: {detail}")
        authorized, challenge, _details = reply.body[0]
        if authorized:
            log.info("%s authorized by polkit for %s", caller, action)
            return
        log.info("%s refused %s by polkit (%s)", caller, what, action)
        if challenge and not caller.interactive:
            raise InteractiveAuthorizationRequired(
                f"{what} needs authentication ({action}); call it with interactive "
                "authorization allowed"
            )
        raise NotAuthorized(f"not authorized for {action}")
