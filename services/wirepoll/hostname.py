"""Provisioning.MonitorHostName while full wire is gone: a change of the hostname wakes it.

The kernel signals every sethostname(2) as POLLPRI|POLLERR on an open /proc/sys/kernel/hostname
(wire/hostname_watch.py says more). A daemon thread blocks in epoll on it, so the watch costs
no wake-up at idle; on a change it sets a flag and rings the poller's alarm. Wire, once woken,
hands the change to the provisioner at its start (its own watch checks the name then). The watch
starts at the poller's first round after wire left, so it also compares the name with the one
wire left in the poll state: a change in between is not lost.
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

    def start(self, known: str = "") -> None:
        """Watch from now on; `known` is the name wire last saw: one changed since (between
        wire's exit and this start) counts as a change at once."""
        if self._thread is not None:
            return
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        # The kernel counts changes from the open; read as poll(2) users do.
        current = os.read(fd, 256).decode(errors="replace").strip()
        if known and current != known:
            log.info("the hostname changed while nobody watched: %s -> %s", known, current)
            self._changed.set()
            self.alarm.set()
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
