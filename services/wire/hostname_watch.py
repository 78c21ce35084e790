"""Provisioning.MonitorHostName: notice a change of the hostname as it happens, by any means.

The kernel signals every change of a UTS name (sethostname(2): `hostname x`, hostnamed, a write
to /proc/sys/kernel/hostname) as POLLPRI|POLLERR on an open /proc/sys/kernel/hostname. One fd
in wire's event loop, which is resident anyway; no timer. The fd sits in an epoll of its own
that asks for POLLPRI only (the file is always readable, so asyncio's add_reader on it would spin).

The notification is one counter for all UTS namespaces, so wire sees the host's changes
although its unit gives it a private UTS namespace (ProtectHostname=yes): it never reads the
name itself. It tells the provisioner (KeepHostname), which compares the host's name with the
one last published and publishes when they differ; a change in another namespace (a
container's) costs one such call that finds nothing to do. Calls never overlap: changes that
come during one are folded into one more call after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
from collections.abc import Awaitable, Callable

from ..common.errors import WaagentError

log = logging.getLogger(__name__)

HOSTNAME_FILE = "/proc/sys/kernel/hostname"


class HostnameWatch:
    def __init__(self, changed: Callable[[], Awaitable[None]], path: str = HOSTNAME_FILE) -> None:
        self.changed = changed
        self.path = path
        self._fd = -1
        self._epoll: select.epoll | None = None
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def start(self, *, check_now: bool = True) -> None:
        """Watch (and, with check_now, publish a change made while wire was not running)."""
        self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        os.read(self._fd, 256)  # the kernel counts changes from the open; read as poll(2) users do
        self._epoll = select.epoll()
        self._epoll.register(self._fd, select.EPOLLPRI | select.EPOLLERR)
        asyncio.get_running_loop().add_reader(self._epoll.fileno(), self._woke)
        log.info("watching the hostname (%s)", self.path)
        if check_now:
            self._notify()

    def _woke(self) -> None:
        assert self._epoll is not None
        self._epoll.poll(0)  # consume the event (or find it consumed by the outer check)
        self._notify()

    def _notify(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="hostname changed")

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await self.changed()
            except WaagentError as exc:
                log.warning("hostname change not handed to the provisioner: %s", exc.message)
            if not self._again:
                return

    async def close(self) -> None:
        if self._epoll is not None:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
