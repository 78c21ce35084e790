"""The message handler every service installs: it sees each call to our methods first.

dbus-fast's `@dbus_method` handlers never see the sender or the message flags, which polkit
needs. The library's public `add_message_handler` hook lets this dispatcher claim calls to the
members declared with `@bus_method`, and run for each the same steps: unpack, validate,
authorize, call, map errors, reply. Introspection, properties and the standard interfaces stay
with the library.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from dataclasses import dataclass, replace
from typing import Any

from dbus_fast import DBusError, Message, MessageFlag, MessageType, SignatureTree
from dbus_fast.aio import MessageBus

from ..errors import Failed, WaagentError, from_os_error
from .activity import Activity
from .interface import Interface, MethodSpec
from .polkit import CURRENT_CALLER, Authorizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    interface: Interface
    spec: MethodSpec
    in_fd_positions: tuple[int, ...]
    out_types: int
    out_fd_positions: tuple[int, ...]


def _fd_positions(signature: str) -> tuple[int, ...]:
    types = SignatureTree(signature).types
    return tuple(i for i, t in enumerate(types) if t.token == "h")  # noqa: S105


def _expects_reply(msg: Message) -> bool:
    return not msg.flags & MessageFlag.NO_REPLY_EXPECTED


class Dispatcher:
    def __init__(self, bus: MessageBus, authorizer: Authorizer, activity: Activity) -> None:
        self.bus = bus
        self.authorizer = authorizer
        self.activity = activity
        self._routes: dict[str, dict[str, dict[str, Route]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def register(self, path: str, interface: Interface) -> None:
        methods = {m.name: m for m in interface.introspect().methods}
        table: dict[str, Route] = {}
        for member, declared in type(interface).method_specs().items():
            intro = methods[member]
            in_sig = "".join(str(a.signature) for a in intro.in_args)
            out_sig = "".join(str(a.signature) for a in intro.out_args)
            table[member] = Route(
                interface,
                replace(declared, in_signature=in_sig, out_signature=out_sig),
                _fd_positions(in_sig),
                len(SignatureTree(out_sig).types),
                _fd_positions(out_sig),
            )
        self._routes.setdefault(path, {})[interface.NAME] = table

    def unregister(self, path: str, interface: Interface | None = None) -> None:
        if interface is None:
            self._routes.pop(path, None)
        else:
            self._routes.get(path, {}).pop(interface.NAME, None)

    def _find(self, msg: Message) -> Route | None:
        by_interface = self._routes.get(msg.path or "")
        if not by_interface or not msg.member:
            return None
        if msg.interface is not None:
            return by_interface.get(msg.interface, {}).get(msg.member)
        # A call without an interface header: any interface at the path with that member.
        for table in by_interface.values():
            if msg.member in table:
                return table[msg.member]
        return None

    def handle(self, msg: Message) -> bool:
        """The message handler: True claims the call (the reply is sent by the task)."""
        if msg.message_type is not MessageType.METHOD_CALL:
            return False
        self.activity.touch()
        route = self._find(msg)
        if route is None or msg.signature != route.spec.in_signature:
            return False  # the library answers (properties, introspection, unknown method)
        task = asyncio.get_running_loop().create_task(self._dispatch(msg, route))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _dispatch(self, msg: Message, route: Route) -> None:
        spec = route.spec
        what = f"{route.interface.NAME}.{spec.member}"
        received = list(msg.unix_fds)
        sent: list[int] = []
        with self.activity.working():
            try:
                args = self._unpack(msg, route)
                values = spec.validate(route.interface, *args) if spec.validate else None
                caller = await self.authorizer.authorize(msg, spec.auth.for_call(args), what)
                CURRENT_CALLER.set(caller)
                log.debug("%s calls %s", caller, what)
                result = spec.fn(route.interface, *(args if values is None else values))
                if inspect.isawaitable(result):
                    result = await result
                reply, sent = self._reply(msg, route, result)
            except WaagentError as exc:
                log.info("%s: %s", what, exc.message)
                reply = Message.new_error(msg, exc.dbus_name, exc.message)
            except DBusError as exc:
                reply = Message.new_error(msg, exc.type, exc.text)
            except OSError as exc:
                mapped = from_os_error(exc)
                log.warning("%s: %s", what, mapped.message)
                reply = Message.new_error(msg, mapped.dbus_name, mapped.message)
            except Exception:
                # The traceback is for the operator's log, never for the caller.
                log.exception("%s failed unexpectedly", what)
                error = Failed(f"{what} failed unexpectedly; the service log has details")
                reply = Message.new_error(msg, error.dbus_name, error.message)
            finally:
                for fd in received:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            try:
                if _expects_reply(msg):
                    await self.bus.send(reply)
            finally:
                for fd in sent:
                    with contextlib.suppress(OSError):
                        os.close(fd)

    @staticmethod
    def _unpack(msg: Message, route: Route) -> list[Any]:
        args = list(msg.body)
        for position in route.in_fd_positions:
            index = args[position]
            if not isinstance(index, int) or not 0 <= index < len(msg.unix_fds):
                raise Failed("a file descriptor argument is missing")
            args[position] = msg.unix_fds[index]
        return args

    @staticmethod
    def _reply(msg: Message, route: Route, result: Any) -> tuple[Message, list[int]]:
        if route.out_types == 0:
            body: list[Any] = []
        elif route.out_types == 1:
            body = [result]
        else:
            body = list(result)
        fds: list[int] = []
        for position in route.out_fd_positions:
            fds.append(body[position])
            body[position] = len(fds) - 1
        return (
            Message.new_method_return(msg, route.spec.out_signature, body, unix_fds=fds),
            fds,
        )
