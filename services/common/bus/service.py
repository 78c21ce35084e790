"""Running a service: argv, configuration, logging, the bus connection, the name, idle exit.

Each service's `__main__` hands `service_main` its interface classes and a `setup` coroutine that
builds the logic and exports the objects. The order on the bus is: connect, install the
authorizing dispatcher, export, then request the name (so a call that activated us finds the
objects). On idle, SIGTERM or bus loss: release the name, let calls already queued finish, leave.
`--no-idle-exit` keeps any service resident: `waagent -daemon` runs them without bus activation,
so a service that left when idle would not come back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from dbus_fast import BusType, Message, NameFlag, RequestNameReply
from dbus_fast.aio import MessageBus
from dbus_fast.introspection import Node

from .. import config as config_mod
from .. import config_unused, logs, sd_notify
from ..config import AgentConfig, LoadedConfig
from ..errors import ConfigError
from ..names import BusName
from ..root import Root
from .activity import Activity
from .dispatch import Dispatcher
from .interface import Interface
from .polkit import Authorizer

log = logging.getLogger(__name__)

DOCTYPE = (
    '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n'
    ' "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n'
)
EX_CONFIG = 78  # sysexits: configuration error (systemd shows it as such)
# A start that takes longer still tells systemd it is done: what waits for it (sshd, say)
# must not wait for ever on, say, a provisioning DVD that never comes.
READY_DEADLINE = 60.0


@dataclass
class ServiceContext:
    """What a service's setup gets: its root, configuration and bus, and the tools around them."""

    service: BusName
    root: Root
    loaded: LoadedConfig
    bus: MessageBus
    activity: Activity
    dispatcher: Dispatcher
    args: argparse.Namespace = field(default_factory=argparse.Namespace)
    resident: bool = False
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    ready_gate: Callable[[], Awaitable[Any]] | None = None

    def ready_when(self, gate: Callable[[], Awaitable[Any]]) -> None:
        """For a unit of Type=notify: READY=1 once the name is owned and `gate` returned, so the
        units ordered after this one wait for what it does at start (or READY_DEADLINE)."""
        self.ready_gate = gate

    @property
    def config(self) -> AgentConfig:
        return self.loaded.config

    def export(self, path: str, interface: Interface) -> None:
        self.dispatcher.register(path, interface)
        self.bus.export(path, interface)

    def unexport(self, path: str, interface: Interface) -> None:
        self.bus.unexport(path, interface)
        self.dispatcher.unregister(path, interface)

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """Start a background task that lives as long as the service; it is cancelled at exit."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s died", task.get_name(), exc_info=task.exception())

    def on_exit(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        self._cleanups.append(cleanup)

    async def close(self) -> None:
        for cleanup in reversed(self._cleanups):
            try:
                await cleanup()
            except Exception:
                log.exception("cleanup failed")
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


Setup = Callable[[ServiceContext], Awaitable[None]]


def introspection_xml(interfaces: Sequence[type[Interface]]) -> str:
    """The interfaces as introspection XML (what `--bus-introspect` prints)."""
    element = Node(None, [cls.describe() for cls in interfaces]).to_xml()
    ET.indent(element, "  ")
    return DOCTYPE + ET.tostring(element, encoding="unicode")


def argument_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument(
        "--root", default="/", help="directory treated as / for every change (default: /)"
    )
    parser.add_argument("--config", help="configuration file (default: <root>/etc/waagent.conf)")
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    parser.add_argument(
        "--bus-introspect", action="store_true", help="print the D-Bus interface XML and exit"
    )
    parser.add_argument(
        "--no-idle-exit",
        action="store_true",
        help="stay resident instead of exiting when idle (for a supervisor without bus activation)",
    )
    return parser


def load_config(root: Root, path: str | None) -> LoadedConfig:
    return config_mod.load(Path(path) if path else root.join(str(config_mod.DEFAULT_PATH)))


def configured(program: str, root: Root, args: argparse.Namespace) -> LoadedConfig | None:
    """The start of every agent program, bus service or one-shot: read the configuration (the
    problems logged, None when it is refused: exit with EX_CONFIG), then log to the classic
    file at the configured verbosity. Needs `args.config` and `args.verbose`."""
    logs.setup(program, verbose=args.verbose)  # stderr only, until the config is read
    try:
        loaded = load_config(root, args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("refusing to start: %s", problem)
        return None
    logs.setup(
        program,
        verbose=args.verbose or loaded.config.logs_verbose,
        log_file=root.join(loaded.config.logs_file),
    )
    config_unused.warn(loaded, program)
    return loaded


async def _barrier(bus: MessageBus) -> None:
    """A round trip to the bus daemon: every message it sent us before is now read.

    GetId, not Peer.Ping: the system bus policy lets anyone call the daemon's own interface but
    not Peer, and a refused Ping is logged by dbus-daemon as a warning at every idle exit."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5):
            await bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="GetId",
                )
            )


async def _notify_ready(gate: Callable[[], Awaitable[Any]]) -> None:
    try:
        async with asyncio.timeout(READY_DEADLINE):
            await gate()
    except TimeoutError:
        log.warning(
            "still busy after %g s: telling systemd the start is done anyway, so that the "
            "units ordered after this one are not held longer",
            READY_DEADLINE,
        )
    sd_notify.notify("READY=1")


async def run(
    service: BusName,
    root: Root,
    loaded: LoadedConfig,
    setup: Setup,
    *,
    resident: bool = False,
    args: argparse.Namespace | None = None,
) -> int:
    bus = await MessageBus(bus_type=BusType.SYSTEM, negotiate_unix_fd=True).connect()
    activity = Activity()
    dispatcher = Dispatcher(bus, Authorizer(bus), activity)
    bus.add_message_handler(dispatcher.handle)
    ctx = ServiceContext(
        service, root, loaded, bus, activity, dispatcher, args or argparse.Namespace(), resident
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    await setup(ctx)
    reply = await bus.request_name(service.name, NameFlag.DO_NOT_QUEUE)
    if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
        log.error("%s is already owned by another process; exiting", service.name)
        await ctx.close()
        bus.disconnect()
        return 1
    log.info("%s ready on the system bus", service.name)
    if ctx.ready_gate is not None:
        ctx.spawn(_notify_ready(ctx.ready_gate), "ready notification")

    waiters: dict[str, asyncio.Future[Any]] = {
        "stop": asyncio.ensure_future(stop.wait()),
        "bus": asyncio.ensure_future(bus.wait_for_disconnect()),  # type: ignore[no-untyped-call]
    }
    timeout = loaded.config.services_idle_timeout
    if timeout and not resident:
        waiters["idle"] = asyncio.ensure_future(activity.wait_idle(timeout))
    done, pending = await asyncio.wait(waiters.values(), return_when=asyncio.FIRST_COMPLETED)
    for future in pending:
        future.cancel()
    reason = next(key for key, future in waiters.items() if future in done)
    if reason == "bus":
        lost = waiters["bus"]
        # Retrieved here, so asyncio never reports it as an exception nobody looked at.
        cause = None if lost.cancelled() else lost.exception()
        log.error("lost the connection to the system bus (%r); exiting", cause)
        await ctx.close()
        return 1
    log.info("%s: releasing %s", "idle" if reason == "idle" else "stopping", service.name)
    with contextlib.suppress(Exception):
        await bus.release_name(service.name)
    await _barrier(bus)
    await activity.drained()
    await ctx.close()
    bus.disconnect()
    return 0


def service_main(
    service: BusName,
    interfaces: Sequence[type[Interface]],
    setup: Setup,
    argv: Sequence[str] | None = None,
    *,
    resident: bool = False,
    prog: str | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """The whole `__main__` of a service, apart from building its logic.

    `add_arguments` adds the service's own options (diskd's sysfs and /dev roots, say); the
    parsed namespace reaches `setup` as `ctx.args`.
    """
    parser = argument_parser(prog or f"waagent-{service.program}")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if args.bus_introspect:
        sys.stdout.write(introspection_xml(interfaces) + "\n")
        return 0
    root = Root(args.root)
    loaded = configured(service.program, root, args)
    if loaded is None:
        return EX_CONFIG
    resident = resident or args.no_idle_exit
    return asyncio.run(run(service, root, loaded, setup, resident=resident, args=args))
