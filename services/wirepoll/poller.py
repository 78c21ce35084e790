"""waagent-wirepoll: the only agent process resident at idle (docs/wire.md, "The resident poller").

It does what must happen every period with the stdlib alone, from the `poll_state.json` full wire
left, and wakes full wire (`Wire1.Poll`, bus-activated) when there is work. Without a state of
this boot, or with one naming no endpoint, wire has not run yet: it is woken to start.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from ..common import logs
from ..wire.files import STATE_DIR
from . import state as state_mod
from .duties import Duties
from .hostname import HOSTNAME_FILE, HostnameWatch
from .http import Http
from .wake import wake

log = logging.getLogger(__name__)

RETRY = 60.0  # seconds between wakes while wire leaves no usable state (it failed to start)
WIRE_BUSY = 2.0  # seconds between looks at the lock while full wire holds it, period unknown
LOG_FILE = "/var/log/waagent.log"


class Poller:
    def __init__(
        self,
        directory: Path,
        *,
        dbus_send: str = "dbus-send",
        hostname_file: str = HOSTNAME_FILE,
    ) -> None:
        self.directory = directory
        self.dbus_send = dbus_send
        self.boot = state_mod.boot_id()
        self.http = Http()
        self.duties: Duties | None = None
        self._mtime = -1
        self.stopping = threading.Event()
        # Rung to end a sleep early: by a stop, or by a change of the hostname.
        self.alarm = threading.Event()
        self.hostname = HostnameWatch(self.alarm, hostname_file)

    def _reload(self) -> None:
        """Take wire's newer state (it rewrote the file), keeping our open connections."""
        mtime = state_mod.mtime(self.directory)
        if mtime == self._mtime and self.duties is not None:
            return
        self._mtime = mtime
        loaded = state_mod.load(self.directory)
        usable = loaded is not None and loaded.boot_id == self.boot and loaded.endpoint
        self.duties = Duties(loaded, self.http) if usable and loaded else None

    def round(self) -> float:
        """One round under the lock; how long to sleep before the next."""
        reason: str | None = None
        with state_mod.try_lock(self.directory) as mine:
            if not mine:  # full wire polls (and watches the hostname); look again in a period
                self.hostname.take()
                return self.duties.state.goal_state_period if self.duties else WIRE_BUSY
            self._reload()
            if self.duties is None:
                reason = "no poll state of this boot"
            else:
                if self.duties.state.monitor_hostname:
                    self.hostname.start(self.duties.state.hostname)
                changed = self.hostname.take()
                reason = "the hostname changed" if changed else self.duties.run_due()
                # Saved when a timer or counter moved (about once a minute), or before a wake:
                # not at every goal-state poll, whose flush would cost more CPU than the poll.
                if self.duties.changed or reason is not None:
                    self.duties.state.io_errors = dict(self.duties.http.io_errors)
                    state_mod.save(self.directory, self.duties.state)
                    self._mtime = state_mod.mtime(self.directory)
        if reason is not None:  # outside the lock: wire takes it as it starts
            self.http.close()
            if wake(reason, dbus_send=self.dbus_send):
                self.duties = None  # wire leaves a new state when it goes idle
                return 1.0
            return RETRY
        assert self.duties is not None
        return max(0.0, self.duties.next_at() - time.monotonic())

    def run(self) -> None:
        while not self.stopping.is_set():
            delay = self.round()
            self.alarm.wait(delay)
            self.alarm.clear()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="waagent-wirepoll")
    parser.add_argument("--root", default="/", help="directory treated as / (default: /)")
    parser.add_argument("--state-dir", default=str(STATE_DIR), help="wire's state directory")
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    # Accepted as every agent program's, unused: wire's configuration reaches the poller through
    # poll_state.json, so the poller never parses waagent.conf.
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--dbus-send", default="dbus-send", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    """The poller from parsed arguments: `waagent -daemon` parses them before it forks the
    poller, so the child never runs argparse and copies fewer of the pages it shares with the
    supervisor (0.2-0.3 MiB of PSS: bench/README.md, cli_daemon.py)."""
    root = Path(args.root)
    logs.setup("wirepoll", verbose=args.verbose, log_file=root / LOG_FILE.lstrip("/"))
    directory = root / args.state_dir.lstrip("/")
    poller = Poller(directory, dbus_send=args.dbus_send)

    def stop(signum: int, frame: FrameType | None) -> None:
        poller.stopping.set()
        poller.alarm.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("polling for wire from %s", directory)
    poller.run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_args(argv))
