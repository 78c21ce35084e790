"""Provisioning.MonitorHostName while full wire is gone: a change of the hostname wakes it.

The kernel signals every sethostname(2) as POLLPRI|POLLERR on an open /proc/sys/kernel/hostname
(wire/hostname_watch.py says more). A daemon thread blocks in epoll on it, so the watch costs
no wake-up at idle; on a change it sets a flag and rings the poller's alarm. Wire, once woken,
hands the change to the provisioner at its start (its own watch checks the name then).
"""

from __future__ import annotations

import logging
import os
import select
import threading

log = logging.getLogger(__name__)

HOSTNAME_FILE = "/proc/sys/kernel/hostname"


class HostnameWatch:
    def __init__(self, alarm: threading.Event, path: str = HOSTNAME_FILE) -> None:
        self.alarm = alarm
        self.path = path
        self._changed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        os.read(fd, 256)  # the kernel counts changes from the open; read as poll(2) users do
        poller = select.epoll()
        poller.register(fd, select.EPOLLPRI | select.EPOLLERR)
        self._thread = threading.Thread(target=self._watch, args=(poller,), daemon=True)
        self._thread.start()
        log.info("watching the hostname (%s) while wire is gone", self.path)

    def _watch(self, poller: select.epoll) -> None:
        while True:
            if poller.poll():
                self._changed.set()
                self.alarm.set()

    def take(self) -> bool:
        """Was the hostname changed since the last call?"""
        changed = self._changed.is_set()
        self._changed.clear()
        return changed
