"""One change of the firewall at a time across processes, and word of each change to netd.

The rules are changed by three kinds of process: the boot unit (also run again by
nftables.service's reload, ReloadPropagatedFrom), the refresh unit (a new endpoint), and netd
on the bus. Each change holds an exclusive flock on `/run/waagent/firewall.lock` (within the
root) from its first look at the rules to its last write, so two never interleave their
check-then-change (iptables-restore deleting a classic rule the other already deleted fails).
As each change checks first, the second one finds the rules in place and does nothing.

After a change the process writes `/run/waagent/firewall.changed`; a running netd watches that
file (inotify) and reads the rules again, so its bus properties never show a state a boot or
refresh run has since replaced. The DHCP routes unit announces its changes the same way (netd
then reads its record again).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path, PurePosixPath

from ..common.errors import Busy
from ..common.inotify import IN_ATTRIB, IN_CLOSE_WRITE, Watch
from ..common.root import Root

log = logging.getLogger(__name__)

RUN_DIR = PurePosixPath("/run/waagent")
LOCK_FILE = RUN_DIR / "firewall.lock"
CHANGED_FILE = RUN_DIR / "firewall.changed"
# Each holder runs a few commands of COMMAND_TIMEOUT (30 s) at most.
LOCK_TIMEOUT = 300.0
LOCK_POLL = 0.02


class FirewallChanges:
    def __init__(self, root: Root) -> None:
        self.root = root

    def _path(self, inner: PurePosixPath) -> Path:
        self.root.makedirs(RUN_DIR, 0o755)
        return self.root.resolve(inner)

    @contextlib.asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        """Hold the firewall lock (waiting for another process's change to end)."""
        fd = os.open(self._path(LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            await self._acquire(fd)
            yield
        finally:
            os.close(fd)  # releases the lock

    async def _acquire(self, fd: int) -> None:
        # Polled rather than a blocking flock in a thread: a cancelled wait leaves no thread
        # behind that would take the lock later and hold it forever.
        deadline = time.monotonic() + LOCK_TIMEOUT
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not said:
                    log.info("waiting for another change of the WireServer firewall to end")
                    said = True
            else:
                return
            if time.monotonic() >= deadline:
                raise Busy(f"the WireServer firewall is being changed by another process "
                           f"({LOCK_FILE} held for {LOCK_TIMEOUT:g} s)")  # fmt: skip
            await asyncio.sleep(LOCK_POLL)

    def announce(self) -> None:
        """Tell a running netd that the rules may have changed (a failure only costs that)."""
        try:
            fd = os.open(self._path(CHANGED_FILE), os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                         | os.O_CLOEXEC, 0o644)  # fmt: skip
            try:
                os.write(fd, f"{os.getpid()}\n".encode())
            finally:
                os.close(fd)
        except OSError as exc:
            log.debug("cannot write %s: %s", CHANGED_FILE, exc)

    def watch(self, callback: Callable[[], None]) -> Watch:
        """Call `callback` (on the running loop) after each change another process announces."""
        path = self._path(CHANGED_FILE)
        path.touch(0o644, exist_ok=True)
        watch = Watch(callback)
        watch.add(path, IN_CLOSE_WRITE | IN_ATTRIB)
        return watch
